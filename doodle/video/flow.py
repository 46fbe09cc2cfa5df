"""Optical flow between frames, warping by a flow, and the mask of where a warp can be trusted.

One convention throughout (the one `warp` needs): a flow is float32 HxWx2 of (dx, dy) in pixels,
defined on the grid of the frame it is *for* and pointing to where each of its pixels is found in
the frame it is *from*. `estimate_flow(source, target)` is defined on `target`'s grid and
`warp(source, flow)` ~ `target`. In a clip, the flow that carries the previous painted frame into
the current one is `estimate_flow(previous, current)`, and `consistency_mask` says where on the
current frame's grid that warped painting can be trusted.

OpenCV (`cv2`) is imported inside the functions, not at module level: only the video path pays
for it, and the CLI starts without it.
"""

from __future__ import annotations

import numpy as np

# DIS presets by name: "fast" is cv2.DISOPTICAL_FLOW_PRESET_FAST (1), "medium" is ..._MEDIUM (2).
# Measured at 512x384 on this project's 2-core CPU (scikit-image photos panned by a few pixels and
# zoomed by 3%): fast takes ~5 ms and errs 0.1-0.25 px (median endpoint error), medium ~20 ms and
# 0.035-0.1 px. Both are nothing beside one optimised frame (seconds), so medium is the default.
DIS_PRESETS = {"fast": 1, "medium": 2}
DEFAULT_PRESET = "medium"

# Forward-backward check (Lai et al. 2018; Ruder, Dosovitskiy and Brox 2016): a pixel is occluded when
# |fw_warped + bw|^2 > RELATIVE * (|fw_warped|^2 + |bw|^2) + ABSOLUTE (pixels squared).
CONSISTENCY_RELATIVE = 0.01
CONSISTENCY_ABSOLUTE = 0.5


def _cv2():
    import cv2

    # DIS ran no faster on 2 threads than on 1 (measured at 512x384), and OpenCV's pool would
    # otherwise compete with torch's threads and a decoder's in the same process: one thread.
    if not getattr(_cv2, "configured", False):
        cv2.setNumThreads(1)
        _cv2.configured = True
    return cv2


def grey_uint8(image: np.ndarray) -> np.ndarray:
    """An image (HxWx3 float in [0, 1] or uint8, or HxW) as the greyscale uint8 DIS reads."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if image.ndim == 3:
        if image.shape[2] != 3:
            raise ValueError(f"a frame must be HxW or HxWx3, got shape {image.shape}")
        image = _cv2().cvtColor(np.ascontiguousarray(image), _cv2().COLOR_RGB2GRAY)
    elif image.ndim != 2:
        raise ValueError(f"a frame must be HxW or HxWx3, got shape {image.shape}")
    return np.ascontiguousarray(image)


def estimate_flow(source: np.ndarray, target: np.ndarray, preset: str = DEFAULT_PRESET) -> np.ndarray:
    """DIS optical flow (OpenCV) on `target`'s grid: for each pixel of `target`, where it was in
    `source`, as (dx, dy), so that `warp(source, flow)` ~ `target`.

    Frames are HxWx3 floats in [0, 1] or uint8 (or greyscale HxW) of one size; `preset` is "fast" or
    "medium" (see `DIS_PRESETS`). Returns float32 HxWx2."""
    if np.shape(source)[:2] != np.shape(target)[:2]:
        raise ValueError(f"frames of different sizes: {np.shape(source)} and {np.shape(target)}")
    if preset not in DIS_PRESETS:
        raise ValueError(f"unknown DIS preset {preset!r}: choose one of {', '.join(DIS_PRESETS)}")
    cv2 = _cv2()
    dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
    # DIS(I0, I1) gives, on I0's grid, where each pixel went in I1: I0(p) ~ I1(p + flow(p)).
    # With I0 = target and I1 = source that is "where each target pixel was in the source".
    flow = dis.calc(grey_uint8(target), grey_uint8(source), None)
    return flow.astype(np.float32, copy=False)


def _check_flow(flow: np.ndarray, height: int, width: int) -> None:
    if flow.shape != (height, width, 2):
        raise ValueError(f"a flow for a {height}x{width} frame must be {height}x{width}x2, got shape {flow.shape}")


def sample_maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The absolute positions (x + dx, y + dy) a flow reads from, as the two float32 maps cv2.remap takes."""
    height, width = flow.shape[:2]
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return columns + flow[..., 0], rows + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """output[y, x] = image[y + dy, x + dx] with (dx, dy) = flow[y, x]: bilinear, the border pixels
    replicated outside the frame. `image` is HxW or HxWxC (any C, floats or uint8); the output has
    its shape and a float dtype (float32 unless the image is float64)."""
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"can only warp HxW or HxWxC arrays, got shape {image.shape}")
    _check_flow(flow, *image.shape[:2])
    if image.dtype != np.float64:
        image = image.astype(np.float32, copy=False)
    cv2 = _cv2()
    map_x, map_y = sample_maps(np.asarray(flow, np.float32))
    warped = cv2.remap(np.ascontiguousarray(image), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return warped.reshape(image.shape)  # remap drops a trailing channel axis of size 1


def inside_frame(flow: np.ndarray) -> np.ndarray:
    """Boolean HxW: whether the position each pixel reads from lies inside the frame it reads."""
    height, width = flow.shape[:2]
    map_x, map_y = sample_maps(flow)
    return (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)


def consistency_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Where a frame warped by `backward` can be trusted: float32 HxW, 1 or 0, on `backward`'s grid.

    For a previous frame P and the current frame C:
    - `backward` = estimate_flow(P, C): on C's grid, where each pixel of C was in P (the flow that
      warps P, or P's painting, into C);
    - `forward` = estimate_flow(C, P): on P's grid, where each pixel of P went in C.
    A pixel of C is kept (1) when it came from inside P and following the flow back to P and
    forward again returns it to where it started: |fw_warped + bw|^2 <= 0.01 (|fw_warped|^2 +
    |bw|^2) + 0.5, with fw_warped = warp(forward, backward). It is 0 where it was out of frame or
    occluded in P (uncovered by a moving object), or where the two flows disagree."""
    forward, backward = np.asarray(forward, np.float32), np.asarray(backward, np.float32)
    _check_flow(forward, *backward.shape[:2])
    forward_warped = warp(forward, backward)
    mismatch = np.sum((forward_warped + backward) ** 2, axis=-1)
    scale = np.sum(forward_warped ** 2, axis=-1) + np.sum(backward ** 2, axis=-1)
    consistent = mismatch <= CONSISTENCY_RELATIVE * scale + CONSISTENCY_ABSOLUTE
    return (consistent & inside_frame(backward)).astype(np.float32)


def flow_and_mask(previous: np.ndarray, current: np.ndarray, preset: str = DEFAULT_PRESET
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The flow that warps `previous` (or its painting) into `current`, and where that warp can be
    trusted (`consistency_mask`), both on `current`'s grid: two DIS estimates, one each way."""
    backward = estimate_flow(previous, current, preset)
    forward = estimate_flow(current, previous, preset)
    return backward, consistency_mask(forward, backward)


def shift_flow(height: int, width: int, dx: float, dy: float) -> np.ndarray:
    """The flow when the picture moved by (dx, dy) pixels from source to target (the content
    slides right by dx and down by dy): every target pixel was (-dx, -dy) away in the source.
    `warp(source, shift_flow(h, w, dx, dy))` is the moved frame; the flow back is shift_flow(h, w, -dx, -dy)."""
    flow = np.empty((height, width, 2), np.float32)
    flow[..., 0], flow[..., 1] = -dx, -dy
    return flow


def zoom_flow(height: int, width: int, scale: float, centre: tuple[float, float] | None = None) -> np.ndarray:
    """The flow when the picture was magnified by `scale` about `centre` (x, y; default the frame's
    middle) from source to target: a target pixel p was at centre + (p - centre) / scale in the
    source. `scale` > 1 zooms in; the flow back is zoom_flow(h, w, 1 / scale, centre)."""
    if not scale > 0:
        raise ValueError(f"a zoom's scale must be positive, got {scale}")
    cx, cy = centre if centre is not None else ((width - 1) / 2, (height - 1) / 2)
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    factor = 1 / scale - 1
    return np.stack([(columns - cx) * factor, (rows - cy) * factor], -1).astype(np.float32)
