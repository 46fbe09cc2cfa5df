"""From painted maps to label channels.

Maps are read together so that one colour means one label in all of them. Hand-drawn maps carry
hundreds of anti-aliased edge colours; a colour only becomes a label when it paints a blob (it has
pixels whose whole 3x3 neighbourhood is that colour), which thin edge ramps never do. Every pixel
then snaps to its nearest label colour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# A colour is a label when its blob interior covers at least this share of some map (or a few
# pixels): small enough for eyes and lips in a portrait map, far above the stray edge colours.
MIN_INTERIOR_SHARE = 1e-4
MIN_INTERIOR_PIXELS = 4
# Colours closer than this (RGB, 0-255) are one label drawn with a slightly different brush.
MERGE_DISTANCE = 24.0


@dataclass(frozen=True)
class Labelling:
    """Label images for a set of maps that share one palette."""

    palette: np.ndarray  # (K, 3) uint8, label colours
    labels: list[np.ndarray]  # one (H, W) int array per map, values in [0, K)
    notes: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.palette)


def colour_name(colour: np.ndarray) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in colour))


def colour_codes(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 colours -> (H, W) int32 codes 0xRRGGBB."""
    return (image[..., 0].astype(np.int32) << 16) | (image[..., 1].astype(np.int32) << 8) | image[..., 2]


def _interior_counts(image: np.ndarray) -> dict[tuple[int, int, int], int]:
    """For each colour, the number of pixels whose 3x3 neighbourhood has only that colour."""
    codes = colour_codes(image)
    centre = codes[1:-1, 1:-1]
    interior = np.ones_like(centre, dtype=bool)
    height, width = codes.shape
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            interior &= codes[1 + dy: height - 1 + dy, 1 + dx: width - 1 + dx] == centre
    values, counts = np.unique(centre[interior], return_counts=True)
    return {((v >> 16) & 255, (v >> 8) & 255, v & 255): int(c) for v, c in zip(values, counts)}


def find_palette(maps: list[np.ndarray]) -> np.ndarray:
    """The label colours of several maps together, most prominent first."""
    return _palette(maps, [_interior_counts(image) for image in maps])


def _palette(maps: list[np.ndarray], interiors: list[dict[tuple[int, int, int], int]]) -> np.ndarray:
    scores: dict[tuple[int, int, int], float] = {}
    for image, interior in zip(maps, interiors):
        pixels = image.shape[0] * image.shape[1]
        threshold = max(MIN_INTERIOR_PIXELS, MIN_INTERIOR_SHARE * pixels)
        for colour, count in interior.items():
            if count >= threshold:
                # Rank by share so a small map's labels count as much as a large one's.
                scores[colour] = max(scores.get(colour, 0.0), count / pixels)
    if not scores:
        # A map without any solid area (e.g. tiny or pure noise): fall back to its commonest colour.
        stacked = np.concatenate([m.reshape(-1, 3) for m in maps])
        colours, counts = np.unique(stacked, axis=0, return_counts=True)
        return colours[np.argmax(counts)][None].astype(np.uint8)
    palette: list[np.ndarray] = []
    for colour in sorted(scores, key=scores.get, reverse=True):
        candidate = np.array(colour, dtype=np.float32)
        if all(np.linalg.norm(candidate - kept) >= MERGE_DISTANCE for kept in palette):
            palette.append(candidate)
    return np.array(palette, dtype=np.uint8)


def snap_to_palette(image: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Label of the nearest palette colour for every pixel (anti-aliased edges included)."""
    # Snap each distinct colour once: maps hold thousands of colours but millions of pixels. Colours
    # packed into one integer sort in the same order as RGB rows, and several times faster.
    codes, inverse = np.unique(colour_codes(image).ravel(), return_inverse=True)
    colours = np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], axis=1)
    distances = ((colours[:, None, :].astype(np.float32) - palette[None].astype(np.float32)) ** 2).sum(-1)
    return distances.argmin(1)[inverse.ravel()].reshape(image.shape[:2])


def label_maps(style_maps: list[np.ndarray], target_map: np.ndarray | None = None) -> Labelling:
    """Label the style map(s) and the target map with one palette.

    A target label that no style map has cannot be painted; it borrows the style label of the
    nearest colour, and a note says so.
    """
    maps = list(style_maps) + ([target_map] if target_map is not None else [])
    interiors = [_interior_counts(image) for image in maps]  # once: the palette and presence both need them
    palette = _palette(maps, interiors)
    style_labels = [snap_to_palette(m, palette) for m in style_maps]
    notes: list[str] = []
    if target_map is None:
        return Labelling(palette, style_labels, notes)
    target_labels = snap_to_palette(target_map, palette)
    present = np.zeros(len(palette), dtype=bool)
    for interior in interiors[: len(style_maps)]:
        # A label is in the style only where it paints solid pixels: a doodle colour that the style
        # has merely on anti-aliased edges would copy nothing but edge patches.
        solid = [colour for colour, count in interior.items() if count >= MIN_INTERIOR_PIXELS]
        if solid:
            present[np.unique(snap_to_palette(np.array(solid, np.uint8)[None], palette))] = True
    if not present.any():  # a style map with no solid area at all: trust the snapped pixels
        present[np.unique(np.concatenate([labels.ravel() for labels in style_labels]))] = True
    for label in np.unique(target_labels):
        if present[label]:
            continue
        candidates = np.flatnonzero(present)
        distances = np.linalg.norm(palette[candidates].astype(np.float32) - palette[label].astype(np.float32), axis=1)
        borrowed = candidates[np.argmin(distances)]
        notes.append(
            f"target map colour {colour_name(palette[label])} is not in the style map; "
            f"it borrows the style label {colour_name(palette[borrowed])}"
        )
        target_labels = np.where(target_labels == label, borrowed, target_labels)
    return Labelling(palette, style_labels + [target_labels], notes)


def one_hot(labels: np.ndarray, count: int) -> torch.Tensor:
    """(H, W) labels -> (1, K, H, W) float channels."""
    # torch is imported here, not at the top: the request layer (and so the CLI) imports this
    # module through `inputs` and must start without torch.
    import torch
    import torch.nn.functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(labels)).long()
    return F.one_hot(tensor, count).permute(2, 0, 1)[None].float()


def resize_channels(channels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Downsample label channels to a feature map's (H, W): area averaging keeps them summing to 1,
    so boundary cells become honest mixtures rather than aliased picks."""
    import torch.nn.functional as F

    if tuple(channels.shape[-2:]) == tuple(size):
        return channels
    if size[0] <= channels.shape[-2] and size[1] <= channels.shape[-1]:
        return F.interpolate(channels, size=size, mode="area")
    return F.interpolate(channels, size=size, mode="bilinear", align_corners=False)
