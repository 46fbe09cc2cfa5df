"""Synthetic images and maps so most tests need no files and run in seconds."""

from __future__ import annotations

import numpy as np
import pytest

from doodle.encoder import load_encoder

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


@pytest.fixture(scope="session")
def encoder():
    """The real offline VGG16 (converted once per cache, then read in milliseconds)."""
    return load_encoder("vgg16", "avg", "cpu")


@pytest.fixture
def style_pair():
    return textured_style(48, 48), two_region_map(48, 48)
