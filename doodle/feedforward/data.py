"""Training examples made on the spot, with nothing to download.

A doodle generator learns from doodles cut from the style's own map: random crops at random
scales, flips, small rotations and smooth warps, applied to the painting and its map together (so
each such doodle comes with the painting it should look like), and layouts recombined from two such
crops along a random smooth border (labels in places the painting never had them, so the network
learns labels rather than one layout). A content generator learns from photographs: a folder of
the user's, or the colour photographs that scikit-image ships, cropped, scaled, flipped and
colour-jittered.

Stability training (ReReVST's compound regularisation, Wang et al. 2020) perturbs a batch the way
consecutive video frames differ: `random_flow` moves it by a random smooth flow (a global shift and
a gentle smooth deformation), `warp_batch` applies that flow (nearest sampling for label channels
and noise, so labels stay labels and noise stays white), and `perturb_photos` adds the small
brightness change and pixel noise a camera adds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..images import image_to_tensor, read_image, resize_image

# Crops see the source at 1/ZOOM to ZOOM of its own scale: near the painting's own brush size,
# which is the scale the style bank holds.
ZOOM = 1.3
MAX_ROTATION = 12.0  # degrees
# Smooth warps move pixels by about this share of the source's half-side (the grid's units are the
# source's normalised coordinates), over a 4x4 grid of control points.
WARP = 0.04
WARP_POINTS = 4
RECOMBINED_SHARE = 0.4  # of doodle examples: layouts recombined from two crops
# Photos are kept at most this long side: a folder of camera pictures would fill memory otherwise,
# and crops of ZOOM at most the training size need no more.
PHOTO_SIDE = 1024
# scikit-image's colour photographs (each a function of skimage.data), used when no folder is given.
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina")
# Stability perturbations, as shares of the crop's side so that they scale with --size: a global
# shift of up to 3% (about 8 px at 256 px, the motion between two frames of a steady pan) plus a
# smooth deformation of about 1% (control points a third of the side apart: zooms, parallax).
STABILITY_SHIFT = 0.03
STABILITY_WARP = 0.01
STABILITY_WARP_POINTS = 4
STABILITY_NOISE = 0.002  # sigma of the pixel noise added to photos (ReReVST: 0.001-0.002)
STABILITY_BRIGHTNESS = 0.03  # photos brighten or darken by up to 3% (exposure flicker)


@dataclass(frozen=True)
class Example:
    """One training example: what the generator is given, and the painting it should look like
    (None for recombined layouts, which no painting shows)."""

    labels: torch.Tensor | None  # (1, K, H, W) one-hot map, None for content examples without maps
    pixels: torch.Tensor | None  # (1, 3, H, W) in [0, 1]: the painting under `labels`, or the photo

    def to(self, device: torch.device) -> "Example":
        """The example on `device` (examples are made on the CPU)."""
        return Example(None if self.labels is None else self.labels.to(device),
                       None if self.pixels is None else self.pixels.to(device))


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def random_view(source_hw: tuple[int, int], out_hw: tuple[int, int], generator: torch.Generator,
                zoom: float = ZOOM, rotation: float = MAX_ROTATION, warp: float = WARP) -> torch.Tensor:
    """A sampling grid (1, h, w, 2) for `F.grid_sample`: a crop of `out_hw` pixels of a source of
    `source_hw`, at a random scale within 1/zoom..zoom, turned by up to `rotation` degrees, maybe
    mirrored, and warped smoothly (up to `warp` of its side)."""
    (height, width), (out_h, out_w) = source_hw, out_hw
    scale = math.exp(_uniform(generator, -math.log(zoom), math.log(zoom)))
    angle = math.radians(_uniform(generator, -rotation, rotation))
    mirror = -1.0 if torch.rand((), generator=generator).item() < 0.5 else 1.0
    half_w, half_h = out_w / 2 / scale, out_h / 2 / scale  # the crop's half sides, in source pixels
    centre_x = _uniform(generator, -1, 1) * max(0.0, width / 2 - half_w)
    centre_y = _uniform(generator, -1, 1) * max(0.0, height / 2 - half_h)
    cos, sin = math.cos(angle), math.sin(angle)
    # output (u, v) in [-1, 1] -> source pixels from the centre -> the source's [-1, 1]
    theta = torch.tensor([[mirror * half_w * cos / (width / 2), -half_h * sin / (width / 2), centre_x / (width / 2)],
                          [mirror * half_w * sin / (height / 2), half_h * cos / (height / 2), centre_y / (height / 2)]])
    grid = F.affine_grid(theta[None], [1, 1, out_h, out_w], align_corners=False)
    if warp > 0:
        shift = torch.randn((1, 2, WARP_POINTS, WARP_POINTS), generator=generator) * warp * 2 / 3
        grid = grid + F.interpolate(shift, size=out_hw, mode="bicubic", align_corners=False).permute(0, 2, 3, 1)
    return grid


def sample_with(grid: torch.Tensor, image: torch.Tensor, labels: bool = False) -> torch.Tensor:
    """`image` (1, C, H, W) seen through `grid`: bilinear for pixels, nearest for label channels so
    that no mixed labels appear. Reflection fills what lies outside the source."""
    return F.grid_sample(image, grid, mode="nearest" if labels else "bilinear", padding_mode="reflection",
                         align_corners=False)


def smooth_mask(out_hw: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """(1, 1, h, w) booleans: a random blob-shaped region covering 25-75% of the picture."""
    noise = torch.randn((1, 1, 5, 5), generator=generator)
    field = F.interpolate(noise, size=out_hw, mode="bicubic", align_corners=False)
    return field > field.flatten().quantile(_uniform(generator, 0.25, 0.75))


class DoodleExamples:
    """Endless doodles cut from a painting and its map (labels (H, W) in [0, K))."""

    def __init__(self, painting: np.ndarray, labels: np.ndarray, count: int, size: tuple[int, int], seed: int = 0):
        self.painting = image_to_tensor(painting)
        self.channels = F.one_hot(torch.from_numpy(labels).long(), count).permute(2, 0, 1)[None].float()
        self.size = size
        self.generator = torch.Generator().manual_seed(seed)

    def crop(self) -> Example:
        grid = random_view(tuple(self.painting.shape[-2:]), self.size, self.generator)
        return Example(sample_with(grid, self.channels, labels=True), sample_with(grid, self.painting))

    def __next__(self) -> Example:
        first = self.crop()
        if torch.rand((), generator=self.generator).item() >= RECOMBINED_SHARE:
            return first
        second = self.crop()
        mask = smooth_mask(self.size, self.generator)
        return Example(torch.where(mask, first.labels, second.labels), None)

    def __iter__(self) -> "DoodleExamples":
        return self


def skimage_photos() -> list[np.ndarray]:
    """scikit-image's colour photographs, as float RGB in [0, 1]."""
    import skimage.data

    photos = []
    for name in SKIMAGE_PHOTOS:
        image = np.asarray(getattr(skimage.data, name)())
        photos.append(image[..., :3].astype(np.float32) / 255.0)
    return photos


def shrunk(photo: torch.Tensor, side: int = PHOTO_SIDE) -> torch.Tensor:
    """`photo` (1, 3, H, W) with its long side at most `side`, antialiased."""
    scale = side / max(photo.shape[-2:])
    if scale >= 1:
        return photo
    return resize_image(photo, (max(1, round(photo.shape[-2] * scale)), max(1, round(photo.shape[-1] * scale))))


class PhotoExamples:
    """Endless photo crops: scaled, turned a little, mirrored and colour-jittered."""

    def __init__(self, photos: list[np.ndarray] | list[Path], size: tuple[int, int], seed: int = 0):
        self.photos = [shrunk(image_to_tensor(read_image(photo) if isinstance(photo, Path) else photo))
                       for photo in photos]
        self.size = size
        self.generator = torch.Generator().manual_seed(seed)

    def __next__(self) -> Example:
        photo = self.photos[torch.randint(len(self.photos), (), generator=self.generator).item()]
        # a photo smaller than the crop is seen at a larger scale, never stretched past it
        fit = max(self.size[0] / photo.shape[-2], self.size[1] / photo.shape[-1], 1.0)
        grid = random_view(tuple(photo.shape[-2:]), self.size, self.generator, zoom=ZOOM, warp=0.0) / fit
        pixels = sample_with(grid, photo)
        # colour jitter: brightness, contrast and saturation by up to 20%
        grey = pixels.mean(1, keepdim=True)
        pixels = grey + (pixels - grey) * _uniform(self.generator, 0.8, 1.2)
        pixels = (pixels - pixels.mean()) * _uniform(self.generator, 0.8, 1.2) + pixels.mean()
        pixels = (pixels * _uniform(self.generator, 0.8, 1.2)).clamp(0, 1)
        return Example(None, pixels)

    def __iter__(self) -> "PhotoExamples":
        return self


def random_flow(batch: int, hw: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """(B, H, W, 2) flows in pixels, (dx, dy) as `doodle.video.flow` has them: for each pixel of the
    moved picture, where it was in the original. A global shift up to STABILITY_SHIFT of the side
    plus a smooth deformation of about STABILITY_WARP of it (bicubic over a few control points)."""
    height, width = hw
    side = torch.tensor([width, height], dtype=torch.float32)
    shift = (torch.rand((batch, 1, 1, 2), generator=generator) * 2 - 1) * STABILITY_SHIFT * side
    points = torch.randn((batch, 2, STABILITY_WARP_POINTS, STABILITY_WARP_POINTS), generator=generator)
    smooth = F.interpolate(points, size=hw, mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
    return shift + smooth * STABILITY_WARP * side


def flow_grid(flow: torch.Tensor) -> torch.Tensor:
    """The `F.grid_sample` grid (align_corners=False) that reads pixel (x + dx, y + dy) for (x, y)."""
    height, width = flow.shape[1:3]
    rows, columns = torch.meshgrid(torch.arange(height, dtype=flow.dtype, device=flow.device),
                                   torch.arange(width, dtype=flow.dtype, device=flow.device), indexing="ij")
    x = (2 * (columns + flow[..., 0]) + 1) / width - 1
    y = (2 * (rows + flow[..., 1]) + 1) / height - 1
    return torch.stack([x, y], -1)


def warp_batch(images: torch.Tensor, flow: torch.Tensor, labels: bool = False) -> torch.Tensor:
    """`images` (B, C, H, W) warped by `flow` (B, H, W, 2): out[y, x] = image[y + dy, x + dx],
    bilinear (nearest for label channels and noise), border pixels replicated outside."""
    return F.grid_sample(images, flow_grid(flow), mode="nearest" if labels else "bilinear", padding_mode="border",
                         align_corners=False)


def resized_flow(flow: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """`flow` (B, H, W, 2) for a picture of `hw` (a coarser level of the same picture): averaged
    over each coarse pixel and scaled to its pixels."""
    height, width = flow.shape[1:3]
    coarse = F.interpolate(flow.permute(0, 3, 1, 2), size=hw, mode="area").permute(0, 2, 3, 1)
    return coarse * torch.tensor([hw[1] / width, hw[0] / height], dtype=flow.dtype, device=flow.device)


def inside(flow: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) 1 where the pixel a flow reads lies inside the picture (warped pixels there are
    real; elsewhere they are replicated borders), else 0."""
    height, width = flow.shape[1:3]
    rows, columns = torch.meshgrid(torch.arange(height, dtype=flow.dtype, device=flow.device),
                                   torch.arange(width, dtype=flow.dtype, device=flow.device), indexing="ij")
    x, y = columns + flow[..., 0], rows + flow[..., 1]
    return ((x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)).to(flow.dtype)[:, None]


def perturb_photos(pixels: torch.Tensor, flow: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Photos (B, 3, H, W) as the next frame of a video might show them: warped by `flow`, each
    brightened or darkened by up to STABILITY_BRIGHTNESS, plus Gaussian noise of STABILITY_NOISE."""
    batch = pixels.shape[0]
    brightness = 1 + (torch.rand((batch, 1, 1, 1), generator=generator) * 2 - 1) * STABILITY_BRIGHTNESS
    noise = torch.randn(pixels.shape, generator=generator) * STABILITY_NOISE
    return (warp_batch(pixels, flow) * brightness.to(pixels) + noise.to(pixels)).clamp(0, 1)


def move_noise(noise: list[torch.Tensor], flow: torch.Tensor, mask: torch.Tensor,
               fresh: list[torch.Tensor]) -> list[torch.Tensor]:
    """A doodle generator's noise (one (B, C, h, w) per level, see `DoodleGenerator.draw_noise`)
    carried along `flow` (B, H, W, 2) to the next frame, and `fresh` noise where `mask` (B, 1, H, W)
    says the pixel was not visible before (uncovered, or come into the frame): the texture then
    moves with the map, as stability training taught it (see training.stability_term)."""
    moved = []
    for level, new in zip(noise, fresh):
        size = tuple(level.shape[-2:])
        carried = warp_batch(level, resized_flow(flow, size), labels=True)
        seen = F.interpolate(mask.to(level), size=size, mode="area") > 0.5
        moved.append(torch.where(seen, carried, new))
    return moved
