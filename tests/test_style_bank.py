import pytest
import torch

from doodle import PaintConfig
from doodle.memory import estimate_bytes
from doodle.style_bank import copy_sizes, copy_transforms, style_copies, turned_size


def test_style_copies_cover_every_scale_and_angle():
    image = torch.rand(1, 3, 20, 30)
    copies = style_copies(image, None, 1.0, 1.0, rotations=(90, 15), scales=(0.5,))
    assert [c.base for c in copies] == [True, False, False, False, False, False]
    sizes = [tuple(c.image.shape[-2:]) for c in copies]
    assert sizes[:3] == [(20, 30), (30, 20), sizes[2]] and sizes[2][0] > 20  # 15 degrees grows to hold it all
    assert sizes[3] == (10, 15) and copies[2].valid is not None and copies[2].valid.min() < 0.5
    more = estimate_bytes((64, 64), [(20, 30)] + sizes[1:], 0, PaintConfig(), ["relu3_1", "relu4_1"])
    assert more > estimate_bytes((64, 64), (20, 30), 0, PaintConfig(), ["relu3_1", "relu4_1"])


@pytest.mark.parametrize("angle", [15, 30, 45, 90, -20, 180, 270])
def test_turned_sizes_are_the_sizes_rotation_makes(angle):
    image = torch.rand(1, 3, 37, 52)
    copies = style_copies(image, None, 1.0, 1.0, rotations=(angle,), scales=())
    assert turned_size((37, 52), angle) == tuple(copies[1].image.shape[-2:])


def test_copy_sizes_follow_the_copies_made():
    image = torch.rand(1, 3, 20, 30)
    copies = style_copies(image, None, 1.0, 1.0, rotations=(90, 15), scales=(0.5, 1.0))
    assert copy_sizes((20, 30), (90, 15), (0.5, 1.0)) == [tuple(c.image.shape[-2:]) for c in copies]
    assert copy_transforms((), ()) == [] and copy_transforms((360,), (1.0,)) == []


def test_the_bank_says_how_many_copies_it_holds_and_when_copies_are_unused():
    import numpy as np

    from doodle.inputs import prepare_inputs
    from doodle.style_bank import build_style_bank

    from .helpers import textured_style

    config = PaintConfig(style_rotations=(90,), style_scales=(0.5,))
    inputs = prepare_inputs(textured_style(32, 32), None, None, None, None, (32, 32), config, lambda texts: None)
    notes = []
    bank = build_style_bank(inputs, True, config.style_rotations, config.style_scales, torch.device("cpu"),
                            notes.extend)
    assert len(bank.copies) == 4 and len(bank.bases) == 1 and bank.target_channels is None
    assert "4 style images: 1 style(s) and 3 rotated or rescaled copies" in notes[0]
    notes.clear()
    bank = build_style_bank(inputs, False, config.style_rotations, config.style_scales, torch.device("cpu"),
                            notes.extend)
    assert len(bank.copies) == 1 and "not used" in notes[0]
    assert np.allclose(bank.copies[0].image[0].permute(1, 2, 0).numpy(), inputs.styles[0])
