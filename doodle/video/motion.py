"""Clips with known motion, made on the spot, and the warping error that scores a painting of one.

Two kinds of clip, each returned with the exact flow between consecutive frames and where that flow
holds, so that the temporal stability of a painting of the clip is measured without any flow
estimator:

- `photo_pan`: a camera panning and zooming across a photograph (a scikit-image one by default);
- `animated_doodle`: discs and rectangles of a map's own colours moving over that map, bouncing off
  its borders (an animated doodle, to paint with a doodle model or the optimisation path).

Flows follow `doodle.video.flow`: `flows[i]` is HxWx2 (dx, dy) on frame i+1's grid and says where
each of its pixels was in frame i, so `warp(frames[i], flows[i])` ~ `frames[i + 1]`; `masks[i]` is
1 where that pixel was visible in frame i (inside the frame, not hidden by a shape).

`warping_error` is the issue's measure (after Lai et al. 2018, with absolute differences): the mean
absolute difference between each painted frame and the previous painted frame warped by the true
flow, over the pixels visible in both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# The photograph `photo_pan` crosses by default: one scikit-image ships that the content models do
# not train on (feedforward/data.py's SKIMAGE_PHOTOS), so the benchmark paints a picture they never saw.
DEFAULT_PHOTO = "motorcycle"
# Animated doodles: shape sizes as shares of the frame's shorter side, speeds in pixels per frame.
SHAPE_SIZES = (0.07, 0.14)
SHAPE_SPEEDS = (1, 4)


@dataclass(frozen=True)
class SyntheticClip:
    """Frames and the exact motion between them (see the module's docstring for the conventions)."""

    frames: list[np.ndarray]  # photo clips: float32 HxWx3 in [0, 1]; animated doodles: uint8 HxWx3 maps
    flows: list[np.ndarray]  # one fewer than frames: flows[i] carries frame i onto frame i + 1
    masks: list[np.ndarray]  # float32 HxW, 1 where flows[i] reads a pixel that frame i shows

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        return self.frames[0].shape[1], self.frames[0].shape[0]

    def input_error(self) -> float:
        """The clip's own warping error: what the motion and resampling leave (0 for exact moves)."""
        return warping_error(self.frames, self.flows, self.masks)


def as_float(frame: np.ndarray) -> np.ndarray:
    """A frame as float32 in [0, 1] (uint8 maps are divided by 255)."""
    frame = np.asarray(frame)
    return frame.astype(np.float32) / 255.0 if frame.dtype == np.uint8 else frame.astype(np.float32, copy=False)


def warping_errors(painted: list[np.ndarray], flows: list[np.ndarray], masks: list[np.ndarray]) -> list[float]:
    """For each pair of consecutive frames: mean |warp(painted[i], flows[i]) - painted[i + 1]| over
    the pixels and channels where masks[i] is 1 (0 for a pair with no such pixel)."""
    from .flow import warp

    if not (len(flows) == len(masks) == len(painted) - 1):
        raise ValueError(f"{len(painted)} frames need {len(painted) - 1} flows and masks, "
                         f"got {len(flows)} and {len(masks)}")
    errors = []
    for index, (flow, mask) in enumerate(zip(flows, masks)):
        previous, current = as_float(painted[index]), as_float(painted[index + 1])
        difference = np.abs(warp(previous, flow) - current).mean(axis=-1) if current.ndim == 3 else \
            np.abs(warp(previous, flow) - current)
        visible = float(mask.sum())
        errors.append(float((difference * mask).sum() / visible) if visible else 0.0)
    return errors


def warping_error(painted: list[np.ndarray], flows: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """The mean of `warping_errors` over the clip's pairs: 0 for a painting that moves exactly with
    the clip, larger the more it flickers."""
    errors = warping_errors(painted, flows, masks)
    return float(np.mean(errors)) if errors else 0.0


def skimage_photo(name: str = DEFAULT_PHOTO) -> np.ndarray:
    """A colour photograph scikit-image ships, as float32 HxWx3 in [0, 1] ("motorcycle" is the
    left view of its stereo pair; other names are functions of skimage.data)."""
    import skimage.data

    image = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return image[..., :3].astype(np.float32) / (255.0 if image.dtype == np.uint8 else 1.0)


def _sample(photo: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`photo` (HxWx3) read bilinearly at positions x, y (pixel centres at integers), in float64."""
    import torch
    import torch.nn.functional as F

    height, width = photo.shape[:2]
    grid = np.stack([2 * x / (width - 1) - 1, 2 * y / (height - 1) - 1], -1)[None]
    source = torch.from_numpy(np.ascontiguousarray(photo, dtype=np.float64)).permute(2, 0, 1)[None]
    sampled = F.grid_sample(source, torch.from_numpy(grid), mode="bilinear", padding_mode="border", align_corners=True)
    return sampled[0].permute(1, 2, 0).numpy()


def photo_pan(photo: np.ndarray | None = None, size: tuple[int, int] = (256, 192), frames: int = 12,
              pan: tuple[float, float] = (3.0, 1.0), zoom: float = 1.01) -> SyntheticClip:
    """A camera moving across `photo` (float HxWx3 in [0, 1]; default `skimage_photo()`): each frame
    the view moves by `pan` (dx, dy) pixels (frame pixels at the first frame's scale) and magnifies
    by `zoom` (1 = none, 1.01 = 1% closer) about its centre. The photo is first resized (antialiased) so that the whole path fits in it at
    one photo pixel per frame pixel, so frames are never shrunk from it (no aliasing). `size` is
    (width, height)."""
    if frames < 2:
        raise ValueError("a clip needs at least 2 frames")
    if not zoom > 0:
        raise ValueError(f"zoom must be positive, got {zoom}")
    photo = skimage_photo() if photo is None else np.asarray(photo, dtype=np.float32)
    width, height = size
    steps = frames - 1
    least_zoom = min(1.0, zoom ** steps)  # the widest view, in frame pixels per photo pixel
    needed_w = (width - 1) / least_zoom + abs(pan[0]) * steps + 2
    needed_h = (height - 1) / least_zoom + abs(pan[1]) * steps + 2
    scale = max(needed_w / (photo.shape[1] - 1), needed_h / (photo.shape[0] - 1))
    photo = _resized(photo, (math.ceil(photo.shape[1] * scale), math.ceil(photo.shape[0] * scale)))
    # The path's middle at the photo's middle, on whole pixels (so a whole-pixel pan without zoom
    # gives crops that are exactly shifted copies of each other).
    start = np.array([round((photo.shape[1] - 1) / 2 - pan[0] * steps / 2),
                      round((photo.shape[0] - 1) / 2 - pan[1] * steps / 2)], dtype=np.float64)
    origin = np.array([(width - 1) / 2, (height - 1) / 2])
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    pixels = np.stack([columns, rows], -1)

    def seen(t: int) -> np.ndarray:
        """Where frame t's pixels are on the photo: its centre plus the offset from the frame's centre, shrunk by the zoom."""
        return start + np.array(pan, np.float64) * t + (pixels - origin) / zoom ** t

    clip_frames, flows, masks = [], [], []
    for t in range(frames):
        position = seen(t)
        clip_frames.append(np.clip(_sample(photo, position[..., 0], position[..., 1]), 0, 1).astype(np.float32))
        if t:
            # The photo point under each pixel of frame t, where it was in frame t - 1.
            before = origin + (position - start - np.array(pan, np.float64) * (t - 1)) * zoom ** (t - 1)
            flow = before - pixels
            flows.append(flow.astype(np.float32))
            masks.append(_inside(before, width, height))
    return SyntheticClip(clip_frames, flows, masks)


def _resized(photo: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`photo` at (width, height), antialiased."""
    from ..images import image_to_tensor, resize_image, tensor_to_image

    return tensor_to_image(resize_image(image_to_tensor(photo), (size[1], size[0])))


def _inside(position: np.ndarray, width: int, height: int) -> np.ndarray:
    x, y = position[..., 0], position[..., 1]
    return ((x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)).astype(np.float32)


@dataclass(frozen=True)
class Shape:
    """A disc (radius `half[0]`) or an axis-aligned rectangle (half sides `half`) of one colour."""

    kind: str  # "disc" or "rect"
    colour: tuple[int, int, int]
    half: tuple[int, int]

    def covers(self, centre: np.ndarray, columns: np.ndarray, rows: np.ndarray) -> np.ndarray:
        dx, dy = columns - centre[0], rows - centre[1]
        if self.kind == "disc":
            return dx * dx + dy * dy <= self.half[0] ** 2
        return (np.abs(dx) <= self.half[0]) & (np.abs(dy) <= self.half[1])


def animated_doodle(background: np.ndarray, frames: int = 24, shapes: int = 5,
                    colours: np.ndarray | None = None, seed: int = 0) -> SyntheticClip:
    """`shapes` discs and rectangles of `colours` (default: the map's own palette) moving over the
    map `background` (uint8 HxWx3) in straight lines, bouncing off its borders. Shapes move by whole
    pixels (1-4 a frame), so every frame is a clean map and the flow is exact: a shape's pixels come
    from one step back along its motion, the map's pixels stay where they are. A pixel is visible in
    both frames when the same thing (the same shape, or the bare map) showed there in the one before."""
    from ..semantic import find_palette

    if frames < 2:
        raise ValueError("a clip needs at least 2 frames")
    background = np.asarray(background, dtype=np.uint8)
    height, width = background.shape[:2]
    palette = find_palette([background]) if colours is None else np.asarray(colours, np.uint8).reshape(-1, 3)
    rng = np.random.default_rng(seed)
    side = min(width, height)
    figures, centres, velocities = [], [], []
    for index in range(shapes):
        radius = int(rng.integers(max(1, round(SHAPE_SIZES[0] * side)), max(2, round(SHAPE_SIZES[1] * side)) + 1))
        kind = "disc" if index % 2 == 0 else "rect"
        half = (radius, radius) if kind == "disc" else (radius, max(1, int(radius * rng.uniform(0.5, 1.0))))
        figures.append(Shape(kind, tuple(int(c) for c in palette[rng.integers(len(palette))]), half))
        centres.append(np.array([rng.integers(0, width), rng.integers(0, height)], dtype=np.int64))
        speed = rng.integers(SHAPE_SPEEDS[0], SHAPE_SPEEDS[1] + 1)
        angle = rng.uniform(0, 2 * math.pi)
        velocity = np.round([speed * math.cos(angle), speed * math.sin(angle)]).astype(np.int64)
        velocities.append(velocity if velocity.any() else np.array([speed, 0], np.int64))
    columns, rows = np.meshgrid(np.arange(width), np.arange(height))
    pixels = np.stack([columns, rows], -1).astype(np.float32)

    def draw(positions: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The frame and, per pixel, which shape shows there (-1: the map); later shapes on top."""
        frame, owner = background.copy(), np.full((height, width), -1, np.int64)
        for index, (figure, centre) in enumerate(zip(figures, positions)):
            covered = figure.covers(centre, columns, rows)
            frame[covered], owner[covered] = figure.colour, index
        return frame, owner

    frame, owner = draw(centres)
    clip_frames, flows, masks = [frame], [], []
    for _ in range(frames - 1):
        moves = []
        for index, (centre, velocity) in enumerate(zip(centres, velocities)):
            for axis, limit in ((0, width - 1), (1, height - 1)):  # bounce: turn back at a border
                if not 0 <= centre[axis] + velocity[axis] <= limit:
                    velocity[axis] = -velocity[axis]
            moves.append(velocity.copy())
            centres[index] = centre + velocity
        new_frame, new_owner = draw(centres)
        flow = np.zeros((height, width, 2), np.float32)
        for index, move in enumerate(moves):
            flow[new_owner == index] = -move
        before = pixels + flow
        mask = _inside(before, width, height)
        x = np.clip(before[..., 0].astype(np.int64), 0, width - 1)
        y = np.clip(before[..., 1].astype(np.int64), 0, height - 1)
        mask *= (owner[y, x] == new_owner)  # the same shape (or the bare map) showed there before
        clip_frames.append(new_frame)
        flows.append(flow)
        masks.append(mask.astype(np.float32))
        owner = new_owner
    return SyntheticClip(clip_frames, flows, masks)
