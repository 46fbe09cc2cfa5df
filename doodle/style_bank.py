"""Style copies: every style image at its working size, plus the rotated and rescaled copies whose
patches join the bank (as CNNMRF augments its bank), with their label channels.

`copy_sizes` gives the sizes of those copies from numbers alone, so memory can be planned before
any of them is made.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

from .images import image_to_tensor, resize_image
from .inputs import Notes, PaintInputs
from .semantic import one_hot, resize_channels


@dataclass
class StyleCopy:
    """One style image, or a rotated or rescaled copy of one, at its full working size."""

    image: torch.Tensor  # (1, 3, H, W)
    channels: torch.Tensor | None  # (1, K, H, W) label channels, None without maps
    valid: torch.Tensor | None  # (1, 1, H, W): 1 where the copy has pixels; None when all of it does
    weight: float  # the style's --style-blend weight, normalised to sum to 1 over the styles
    share: float  # fraction of its patches in the pooled bank: weight / the largest weight
    base: bool  # the style itself (Gram targets and colours come from these only)


@dataclass
class StyleBank:
    """The copies of every style, and the label channels of the painting (None without maps)."""

    copies: list[StyleCopy]
    target_channels: torch.Tensor | None  # (1, K, H, W) at the painting's full size

    @property
    def bases(self) -> list[StyleCopy]:
        return [copy for copy in self.copies if copy.base]


def copy_transforms(rotations: Sequence[float], scales: Sequence[float]) -> list[tuple[float, float]]:
    """(scale, angle) of every copy besides the style itself, in the order they are made."""
    return [(scale, angle) for scale in dict.fromkeys((1.0, *scales)) for angle in dict.fromkeys((0.0, *rotations))
            if not (scale == 1.0 and angle % 360 == 0)]


def scaled_size(hw: tuple[int, int], scale: float) -> tuple[int, int]:
    return max(1, round(hw[0] * scale)), max(1, round(hw[1] * scale))


def turned_size(hw: tuple[int, int], angle: float) -> tuple[int, int]:
    """(height, width) of an image turned by `angle` degrees and grown to hold all of it, computed
    as torchvision's rotate(expand=True) does: corners turned about the centre in float32, moved
    back by half the old size, then rounded outwards after truncation to 1e-4."""
    if angle % 360 == 0:
        return hw
    height, width = hw
    if angle % 90 == 0:  # torchvision turns these by transposing, exactly
        return (width, height) if angle % 180 else (height, width)
    half = np.array([width / 2, height / 2], np.float32)
    corners = np.array([[-1, -1], [-1, 1], [1, 1], [1, -1]], np.float32) * half
    turn = math.radians(angle)
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]], np.float32)
    moved = corners @ rotation.T + half
    top = np.ceil(np.trunc(moved.max(0) * np.float32(1e4)) * np.float32(1e-4))
    bottom = np.floor(np.trunc(moved.min(0) * np.float32(1e4)) * np.float32(1e-4))
    new_width, new_height = (top - bottom).astype(int)
    return int(new_height), int(new_width)


def copy_sizes(hw: tuple[int, int], rotations: Sequence[float], scales: Sequence[float]) -> list[tuple[int, int]]:
    """Sizes of a style at `hw` and of each of its copies (see `style_copies`)."""
    return [hw] + [turned_size(scaled_size(hw, scale), angle) for scale, angle in copy_transforms(rotations, scales)]


def style_copies(image: torch.Tensor, channels: torch.Tensor | None, weight: float, share: float,
                 rotations: Sequence[float], scales: Sequence[float]) -> list[StyleCopy]:
    """The style itself, then copies at every other scale and angle. Rotated copies grow to hold the
    whole turned image; `valid` marks its empty corners."""
    copies = [StyleCopy(image, channels, None, weight, share, True)]
    scaled: dict[float, tuple[torch.Tensor, torch.Tensor | None]] = {}
    for scale, angle in copy_transforms(rotations, scales):
        if scale not in scaled:
            hw = scaled_size(tuple(image.shape[-2:]), scale)
            scaled[scale] = (resize_image(image, hw), resize_channels(channels, hw) if channels is not None else None)
        pixels, labels = scaled[scale]
        if angle % 360 == 0:
            copies.append(StyleCopy(pixels, labels, None, weight, share, False))
            continue
        turn = dict(angle=angle, expand=True)
        valid = TF.rotate(torch.ones_like(pixels[:, :1]), interpolation=TF.InterpolationMode.BILINEAR, **turn)
        copies.append(StyleCopy(
            TF.rotate(pixels, interpolation=TF.InterpolationMode.BILINEAR, **turn),
            TF.rotate(labels, interpolation=TF.InterpolationMode.NEAREST, **turn) if labels is not None else None,
            valid, weight, share, False))
    return copies


def build_style_bank(inputs: PaintInputs, augment: bool, rotations: Sequence[float], scales: Sequence[float],
                     device: torch.device, note: Notes) -> StyleBank:
    """Every style at its working size on `device`, with its copies when `augment`, and the label
    channels of styles and painting."""
    style_channels, target_channels = None, None
    if inputs.labelling is not None:
        count = inputs.labelling.count
        style_channels = [one_hot(found, count).to(device) for found in inputs.labelling.labels[:-1]]
        target_channels = one_hot(inputs.labelling.labels[-1], count).to(device)
    if not augment and (rotations or scales):
        note(["--style-rotations and --style-scales add copies to the patch bank; with --style-loss gram "
              "alone there is none, so they are not used"])
    copies: list[StyleCopy] = []
    for index, (image, weight) in enumerate(zip(inputs.styles, inputs.weights)):
        tensor = resize_image(image_to_tensor(image, device), inputs.style_hws[index])
        channels = resize_channels(style_channels[index], inputs.style_hws[index]) if style_channels else None
        copies += style_copies(tensor, channels, weight, weight / max(inputs.weights),
                               rotations if augment else (), scales if augment else ())
    if len(copies) > len(inputs.styles):
        note([f"the patch bank holds {len(copies)} style images: {len(inputs.styles)} style(s) and "
              f"{len(copies) - len(inputs.styles)} rotated or rescaled copies"])
    return StyleBank(copies, target_channels)
