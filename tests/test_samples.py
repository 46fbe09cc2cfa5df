"""End-to-end runs on the paper's own sample images (slow: tens of seconds each)."""

from pathlib import Path

import numpy as np
import pytest

from doodle import PaintConfig, paint
from doodle.images import read_image, read_map
from doodle.regions import region_score

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SAMPLES.exists(), reason="../shared/samples is not beside the project")]


def test_monet_coastline_regions_carry_the_right_colours(encoder):
    # The issue's own check at full size and default settings: under a minute on two cores.
    result = paint(SAMPLES / "Monet.jpg", style_map=SAMPLES / "Monet_sem.png",
                   target_map=SAMPLES / "Coastline_sem.png", encoder=encoder)
    assert result.image.shape == (384, 512, 3)
    report = region_score(result.image, read_map(SAMPLES / "Coastline_sem.png"),
                          read_image(SAMPLES / "Monet.jpg"), read_map(SAMPLES / "Monet_sem.png"))
    assert report.score >= 0.90, report


def test_portrait_transfer_keeps_the_photo_layout(encoder):
    result = paint(SAMPLES / "Gogh.jpg", style_map=SAMPLES / "Gogh_sem.png", content=SAMPLES / "Seth.jpg",
                   content_map=SAMPLES / "Seth_sem.png", size=(176, 256),
                   config=PaintConfig(iterations=20), encoder=encoder)
    assert result.record.mode == "semantic" and result.image.shape == (256, 176, 3)
    # The painting keeps the photo's light and dark layout: its luminance correlates with the photo's.
    from skimage.transform import resize

    photo = resize(read_image(SAMPLES / "Seth.jpg"), (256, 176), anti_aliasing=True).mean(-1)
    correlation = np.corrcoef(photo.ravel(), result.image.mean(-1).ravel())[0, 1]
    assert correlation > 0.5
