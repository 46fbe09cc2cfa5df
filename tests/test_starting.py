import numpy as np
import torch

from doodle import PaintConfig
from doodle.images import image_to_tensor
from doodle.starting import initial_image, style_noise

from .helpers import BLUE, RED, redness, two_region_map


def test_style_noise_draws_each_region_from_its_own_label(style_pair):
    from doodle.semantic import label_maps, one_hot

    style, style_map = style_pair
    labelling = label_maps([style_map], two_region_map(48, 48, BLUE, RED))
    channels = [one_hot(labels, labelling.count) for labels in labelling.labels]
    noise = style_noise([image_to_tensor(style)], [channels[0]], channels[1], (24, 24), torch.Generator().manual_seed(0))
    image = noise[0].permute(1, 2, 0).numpy()
    # the doodle asks for blue on the left: its pixels come from the blue-dotted right of the style
    assert redness(image[:, :12]) < -0.3 and redness(image[:, 12:]) > 0.3
    style_colours = {tuple(c) for c in np.round(style.reshape(-1, 3), 5)}
    assert all(tuple(c) in style_colours for c in np.round(image.reshape(-1, 3), 5)[:50])


def test_init_noise_blends_noise_into_the_content():
    style, content = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 12, 12)
    start = {}
    for share in (0.0, 0.6):
        config = PaintConfig(init="content", init_noise=share)
        start[share] = initial_image(config, (12, 12), [style], None, [1.0], None, content, None,
                                     torch.Generator().manual_seed(0), torch.device("cpu"))
    noise = style_noise([style], None, None, (12, 12), torch.Generator().manual_seed(0))
    assert torch.equal(start[0.0], content)
    assert torch.allclose(start[0.6], 0.4 * content + 0.6 * noise)


def test_blended_noise_draws_styles_by_weight_and_label():
    red, blue = torch.zeros(1, 3, 20, 20), torch.zeros(1, 3, 10, 10)  # blue has a quarter of red's pixels
    red[:, 0], blue[:, 2] = 1, 1
    noise = style_noise([red, blue], None, None, (50, 50), torch.Generator().manual_seed(0), [0.3, 0.7])
    assert abs(noise[0, 2].mean().item() - 0.7) < 0.05  # by weight, not by pixel count
    # with maps: label 1 exists only in the blue style, so its region is all blue whatever the weights
    red_map, blue_map = torch.zeros(1, 2, 20, 20), torch.zeros(1, 2, 10, 10)
    red_map[:, 0], blue_map[:, 1] = 1, 1
    target = torch.zeros(1, 2, 50, 50)
    target[:, 0, :, :25], target[:, 1, :, 25:] = 1, 1
    noise = style_noise([red, blue], [red_map, blue_map], target, (50, 50),
                                  torch.Generator().manual_seed(0), [0.9, 0.1])
    assert noise[0, 2, :, 25:].min() == 1 and noise[0, 0, :, :25].min() == 1
