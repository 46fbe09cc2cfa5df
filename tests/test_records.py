import numpy as np
import torch

from doodle.records import Progress


def test_progress_totals_its_terms_and_shows_the_image_clipped():
    pixels = torch.full((1, 3, 2, 3), 1.5)
    event = Progress(1, 3, (3, 2), 4, 40, {"style:relu3_1": 1.0, "smoothness": 0.5}, 2.0, pixels)
    assert event.total == 1.5
    image = event.image()
    assert image.shape == (2, 3, 3) and image.dtype == np.float32 and image.max() == 1.0
    assert "pixels" not in repr(event)  # a megapixel tensor must not flood logs
