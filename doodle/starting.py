"""The starting image of a run: noise drawn from the style(s), grey noise, the content, or an image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .config import PaintConfig
from .images import image_to_tensor, resize_image
from .semantic import resize_channels
from .temporal import TemporalGuide, guided_start

# Pixel range of uniform noise: the original tool's 16..240, away from clipped extremes.
NOISE_RANGE = (16 / 255, 240 / 255)


def style_noise(styles: Sequence[torch.Tensor], style_channels: Sequence[torch.Tensor] | None,
                target_channels: torch.Tensor | None, out_hw: tuple[int, int], generator: torch.Generator,
                weights: Sequence[float] | None = None) -> torch.Tensor:
    """Noise whose pixels are drawn at random from the style images (1, 3, H, W), label by label
    when there are maps (`style_channels`, one (1, K, H, W) per style, and `target_channels`).

    Starting from the right palette in every region matters: patch matching refines texture well
    but barely moves a region's overall colour, so grey noise leaves regions washed out. Each style
    gives pixels in proportion to its weight (default equal), whatever its pixel count."""
    weights = list(weights) if weights is not None else [1.0] * len(styles)
    device = styles[0].device
    pixels = torch.cat([style[0].flatten(1) for style in styles], 1).cpu()
    owner = torch.cat([torch.full((style.shape[-2] * style.shape[-1],), i) for i, style in enumerate(styles)])
    if style_channels is not None and target_channels is not None:
        style_labels = torch.cat([resize_channels(channels, tuple(style.shape[-2:])).argmax(1).flatten().cpu()
                                  for style, channels in zip(styles, style_channels)])
        target_labels = resize_channels(target_channels, out_hw).argmax(1).flatten().cpu()
    else:
        style_labels = torch.zeros(pixels.shape[1], dtype=torch.long)
        target_labels = torch.zeros(out_hw[0] * out_hw[1], dtype=torch.long)
    noise = torch.empty(3, target_labels.numel())
    for label in target_labels.unique():
        where = (target_labels == label).nonzero().squeeze(1)
        source = (style_labels == label).nonzero().squeeze(1)
        if source.numel() == 0:  # label too thin to survive resizing: fall back to any style pixel
            source = torch.arange(pixels.shape[1])
        if len(styles) == 1:  # no style to choose: the generator's draws go to pixels alone
            pick = torch.randint(source.numel(), (where.numel(),), generator=generator)
            noise[:, where] = pixels[:, source[pick]]
            continue
        # Pick a style by its blend weight for every pixel, then a pixel of that style and label:
        # each style weighs its weight however many pixels it has (and multinomial never sees more
        # categories than styles, where it is limited to 2^24).
        by_style = [source[owner[source] == i] for i in range(len(styles))]
        available = torch.tensor([w if len(pool) else 0.0 for w, pool in zip(weights, by_style)])
        chosen = torch.multinomial(available, where.numel(), replacement=True, generator=generator)
        for i, pool in enumerate(by_style):
            targets = where[chosen == i]
            if len(targets):
                noise[:, targets] = pixels[:, pool[torch.randint(len(pool), (len(targets),), generator=generator)]]
    return noise.view(1, 3, *out_hw).to(device)


def initial_image(config: PaintConfig, out_hw: tuple[int, int], styles: list[torch.Tensor],
                  style_channels: list[torch.Tensor] | None, weights: list[float],
                  target_channels: torch.Tensor | None, content: torch.Tensor | None,
                  init_image: np.ndarray | None, generator: torch.Generator, device: torch.device,
                  guide: TemporalGuide | None = None) -> torch.Tensor:
    """The image the first phase starts from, at `out_hw`, as `config.init` and `config.init_noise` ask;
    with a temporal `guide` (a video frame), the warped previous painting wherever its mask trusts it."""
    start = configured_start(config, out_hw, styles, style_channels, weights, target_channels, content, init_image,
                             generator, device)
    return start if guide is None else guided_start(start, guide)


def configured_start(config: PaintConfig, out_hw: tuple[int, int], styles: list[torch.Tensor],
                     style_channels: list[torch.Tensor] | None, weights: list[float],
                     target_channels: torch.Tensor | None, content: torch.Tensor | None,
                     init_image: np.ndarray | None, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """The start `config.init` and `config.init_noise` ask for."""
    def noise() -> torch.Tensor:
        return style_noise(styles, style_channels, target_channels, out_hw, generator, weights)

    if config.init == "noise":
        return noise()
    if config.init == "uniform":
        low, high = NOISE_RANGE
        uniform = torch.rand((1, 3, *out_hw), generator=generator)
        return (low + (high - low) * uniform).to(device)
    start = resize_image(content if config.init == "content" else image_to_tensor(init_image, device), out_hw)
    if config.init_noise > 0:
        # Some noise lets the style replace the photo's fine detail rather than only tint it.
        start = (1 - config.init_noise) * start + config.init_noise * noise()
    return start
