"""Generator networks: small, fully convolutional, for CPUs.

Both kinds follow what the feed-forward style transfer papers found: instance normalisation rather
than batch normalisation (Ulyanov et al., "Instance Normalization"), upsampling by interpolation
followed by a convolution rather than transposed convolutions (no checkerboard), reflection padding
(no lines along the borders) and a bounded output (a sigmoid, so pixels are in [0, 1]). Every
upsampling goes to the exact size of the finer level, so any input size works, odd ones included.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

# Noise channels fed at every level of a doodle generator: the texture's source of variety.
NOISE_CHANNELS = 8
# Two halvings must leave the content generator at least 2x2 cells for instance norm.
MIN_CONTENT_SIDE = 8


class ConvNormAct(nn.Module):
    """Reflection pad, convolution, instance norm, LeakyReLU: (B, I, H, W) -> (B, O, H/s, W/s)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride)
        self.norm = nn.InstanceNorm2d(out_channels, affine=True)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Reflection needs the pad smaller than the side; tiny maps fall back to replication.
        pad = self.pad if min(x.shape[-2:]) > self.pad.padding[0] else nn.ReplicationPad2d(self.pad.padding)
        return self.act(self.norm(self.conv(pad(x))))


class ResidualBlock(nn.Module):
    """Two 3x3 ConvNormAct with a skip: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvNormAct(channels, channels), ConvNormAct(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def upsample_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour upsampling to an exact (H, W): the convolution after it smooths the blocks."""
    return F.interpolate(x, size=size, mode="nearest")


def to_pixels(x: torch.Tensor, head: nn.Conv2d) -> torch.Tensor:
    return torch.sigmoid(head(x))


class DoodleGenerator(nn.Module):
    """Paints a semantic map: (B, K, H, W) label channels -> (B, 3, H, W) pixels in [0, 1].

    A multi-scale generator in the manner of Ulyanov et al.'s texture networks and their doodle
    variant: `levels` branches see the map (area-downsampled) and fresh noise at 1, 1/2, 1/4...
    of the size; from the coarsest up, each result is upsampled and joined with the next finer
    branch. The coarse levels place each label's colours and large strokes, the fine ones the
    texture; noise gives the texture something to vary (without it the network learns one
    texture per label, multiplied by the mask)."""

    def __init__(self, labels: int, width: int = 16, levels: int = 5, noise_channels: int = NOISE_CHANNELS) -> None:
        super().__init__()
        self.labels, self.width, self.levels, self.noise_channels = labels, width, levels, noise_channels
        # The full-size level holds most of the pixels and only needs to add fine texture: half
        # the width there halves the cost of the whole network.
        widths = [max(4, width // 2)] + [width] * (levels - 1)
        branch_in = labels + noise_channels
        self.branches = nn.ModuleList(
            nn.Sequential(ConvNormAct(branch_in, widths[level]), *([ConvNormAct(widths[level], widths[level])]
                                                                  if level else []))
            for level in range(levels))
        # joins[i] merges the upsampled coarser result with branch i
        self.joins = nn.ModuleList(ConvNormAct(widths[level + 1] + widths[level], widths[level])
                                   for level in range(levels - 1))
        self.head = nn.Conv2d(widths[0], 3, 1)

    def level_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """The (H, W) of each level a picture of height x width uses, finest first."""
        sizes = [(max(1, round(height / 2**level)), max(1, round(width / 2**level))) for level in range(self.levels)]
        # Levels narrower than 2 pixels would give instance norm nothing to normalise: a small
        # picture starts at a finer level.
        return sizes[:max(1, sum(1 for size in sizes if min(size) >= 2))]

    def draw_noise(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """The noise a pass over `labels` draws from `generator`, one (B, noise, h, w) per level,
        finest first (drawn coarsest first, as `forward` does): to hand to `forward`, moved or not."""
        sizes = self.level_sizes(*labels.shape[-2:])
        noise = [torch.empty(0)] * len(sizes)
        for level, size in reversed(list(enumerate(sizes))):
            noise[level] = torch.randn((labels.shape[0], self.noise_channels, *size), generator=generator,
                                       device=labels.device if generator is None else generator.device).to(labels)
        return noise

    def forward(self, labels: torch.Tensor, generator: torch.Generator | None = None,
                noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        """`noise` (from `draw_noise`, for these labels' size) replaces the noise drawn from `generator`:
        stability training and video move it with the content."""
        noise = self.draw_noise(labels, generator) if noise is None else noise
        x = None
        for level in reversed(range(len(noise))):
            size = tuple(noise[level].shape[-2:])
            guide = labels if level == 0 else F.interpolate(labels, size=size, mode="area")
            branch = self.branches[level](torch.cat([guide, noise[level].to(labels)], 1))
            x = branch if x is None else self.joins[level](torch.cat([upsample_to(x, size), branch], 1))
        return to_pixels(x, self.head)


class ContentGenerator(nn.Module):
    """Repaints a photo: (B, 3 + K, H, W) pixels in [0, 1] (plus K label channels when the style
    has a map) -> (B, 3, H, W) pixels in [0, 1]; each side at least MIN_CONTENT_SIDE.

    Johnson et al.'s transformer, slimmed for CPUs: a 5x5 convolution, two stride-2 convolutions,
    `blocks` residual blocks at a quarter of the size, two upsample-and-convolve steps back up and a
    5x5 convolution to pixels."""

    def __init__(self, labels: int = 0, width: int = 16, blocks: int = 3) -> None:
        super().__init__()
        self.labels, self.width, self.blocks = labels, width, blocks
        self.down = nn.ModuleList([ConvNormAct(3 + labels, width, 5), ConvNormAct(width, 2 * width, 3, 2),
                                   ConvNormAct(2 * width, 4 * width, 3, 2)])
        self.residual = nn.Sequential(*(ResidualBlock(4 * width) for _ in range(blocks)))
        self.up = nn.ModuleList([ConvNormAct(4 * width, 2 * width), ConvNormAct(2 * width, width)])
        self.pad = nn.ReflectionPad2d(2)
        self.head = nn.Conv2d(width, 3, 5)

    def forward(self, photo: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        sizes = []
        x = photo
        for layer in self.down:
            sizes.append(tuple(x.shape[-2:]))
            x = layer(x)
        x = self.residual(x)
        for layer, size in zip(self.up, reversed(sizes[1:])):
            x = layer(upsample_to(x, size))
        return to_pixels(self.pad(x), self.head)
