"""Synthetic images and maps shared by the tests, so most tests need no files and run in seconds.

Tests import these from here (never from each other or from conftest.py, which holds fixtures).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from doodle.samples import samples_dir

RED, BLUE, WHITE, BLACK = (255, 0, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


def two_region_map(height: int, width: int, left=RED, right=BLUE, split: float = 0.5) -> np.ndarray:
    """A map with one colour left of a vertical split and another right of it."""
    labels = np.zeros((height, width, 3), np.uint8)
    column = int(width * split)
    labels[:, :column] = left
    labels[:, column:] = right
    return labels


def textured_style(height: int, width: int, seed: int = 0, split: float = 0.5) -> np.ndarray:
    """Orange stripes on the left, blue-green dots on the right: two clearly different styles."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    column = int(width * split)
    rows = np.arange(height)[:, None]
    stripes = ((rows // 3) % 2).astype(np.float32)
    image[:, :column] = np.stack([0.9 + 0 * stripes, 0.4 + 0.3 * stripes, 0.1 + 0 * stripes], -1)[:, :column]
    dots = (rng.random((height, width - column)) > 0.7).astype(np.float32)
    image[:, column:] = np.stack([0.1 + 0.1 * dots, 0.3 + 0.4 * dots, 0.8 - 0.2 * dots], -1)
    return np.clip(image + rng.normal(0, 0.02, image.shape), 0, 1).astype(np.float32)


def stripes_and_dots(truth: np.ndarray, seed: int = 0) -> np.ndarray:
    """Paint label 0 with orange stripes and label 1 with blue-green dots (the textures of `textured_style`)."""
    height, width = truth.shape
    left = textured_style(height, 2 * width, seed=seed)  # stripes fill its left half, dots its right
    return np.where(truth[..., None] == 0, left[:, :width], left[:, width:]).astype(np.float32)


def disc(height: int, width: int) -> np.ndarray:
    rows, columns = np.mgrid[0:height, 0:width]
    return ((rows - height / 2) ** 2 + (columns - width / 2) ** 2 < (0.3 * min(height, width)) ** 2).astype(int)


def halves(height: int, width: int) -> np.ndarray:
    truth = np.zeros((height, width), int)
    truth[:, width // 2:] = 1
    return truth


def redness(image: np.ndarray) -> float:
    """Mean red minus mean blue: positive for the orange stripes, negative for the blue dots."""
    return float(image[..., 0].mean() - image[..., 2].mean())


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height, followed by almost no pixel data: a decompression
    bomb as far as a reader that believed its header would go."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


needs_samples = pytest.mark.skipif(not samples_dir().is_dir(),
                                   reason=f"the sample images are not at {samples_dir()} (set DOODLE_SAMPLES)")
