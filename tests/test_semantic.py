import numpy as np
import torch
from PIL import Image

from doodle.images import read_map
from doodle.semantic import find_palette, label_maps, one_hot, resize_channels, snap_to_palette

from .helpers import BLACK, BLUE, RED, WHITE, needs_samples, samples_dir, two_region_map


def anti_aliased(labels: np.ndarray) -> np.ndarray:
    """Blur a hard-edged map the way paint programs anti-alias brush edges."""
    from PIL import ImageFilter

    return np.asarray(Image.fromarray(labels).filter(ImageFilter.GaussianBlur(1.2)))


def test_anti_aliased_edges_do_not_become_labels():
    rows, columns = np.indices((64, 64))
    disc = np.zeros((64, 64, 3), np.uint8)
    disc[:] = WHITE
    inside = (rows - 32) ** 2 + (columns - 30) ** 2 < 20**2
    disc[inside] = RED
    painted = anti_aliased(disc)
    assert len(np.unique(painted.reshape(-1, 3), axis=0)) > 10  # many edge colours
    palette = find_palette([painted])
    assert sorted(map(tuple, palette.tolist())) == sorted([RED, WHITE])
    labels = snap_to_palette(painted, palette)
    # every pixel lands on one side or the other, and the disc keeps its area
    red = int(np.flatnonzero((palette == RED).all(1))[0])
    assert abs((labels == red).mean() - inside.mean()) < 0.02


def test_black_is_a_label_and_channels_are_finite():
    labelling = label_maps([two_region_map(32, 32, BLACK, BLUE)], two_region_map(32, 32, BLUE, BLACK))
    assert labelling.count == 2
    channels = one_hot(labelling.labels[0], labelling.count)
    assert torch.isfinite(channels).all() and channels.sum(1).eq(1).all()


def test_near_duplicate_colours_merge():
    style = two_region_map(32, 32, (250, 0, 0), BLUE)
    target = two_region_map(32, 32, (255, 6, 4), BLUE)
    labelling = label_maps([style], target)
    assert labelling.count == 2
    assert not labelling.notes
    # the slightly different red of the target means the same label as the style's red
    assert labelling.labels[0][0, 0] == labelling.labels[1][0, 0]


def test_same_colour_same_label_across_maps():
    style = two_region_map(32, 32, RED, BLUE)
    target = two_region_map(32, 32, BLUE, RED)  # swapped sides
    labelling = label_maps([style], target)
    assert labelling.labels[0][0, 0] == labelling.labels[1][0, -1]
    assert labelling.labels[0][0, -1] == labelling.labels[1][0, 0]


def test_missing_target_colour_borrows_nearest_style_label():
    style = two_region_map(32, 32, RED, BLUE)
    target = two_region_map(32, 32, (200, 40, 40), BLUE)  # a dull red the style lacks
    labelling = label_maps([style], target)
    assert len(labelling.notes) == 1
    assert "#c82828" in labelling.notes[0] and "#ff0000" in labelling.notes[0]
    assert labelling.labels[1][0, 0] == labelling.labels[0][0, 0]


def test_small_solid_labels_survive(tmp_path):
    labels = two_region_map(100, 100, RED, BLUE)
    labels[40:46, 10:16] = WHITE  # a 6x6 eye: small, but solid
    palette = find_palette([labels])
    assert WHITE in map(tuple, palette.tolist())


def test_map_file_modes(tmp_path):
    """Greyscale, palette and RGBA maps read as RGB with the same layout."""
    rgb = two_region_map(16, 16, (0, 0, 0), (255, 255, 255))
    for mode in ("L", "P", "RGBA", "RGB"):
        path = tmp_path / f"map_{mode}.png"
        Image.fromarray(rgb).convert(mode).save(path)
        loaded = read_map(path)
        assert loaded.shape == (16, 16, 3)
        assert (loaded[:, 0] == 0).all() and (loaded[:, -1] == 255).all()


def test_transparent_map_pixels_are_black(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :4, 3] = 255  # left half opaque red, right half fully transparent
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    loaded = read_map(path)
    assert tuple(loaded[0, 0]) == RED and tuple(loaded[0, -1]) == BLACK


def test_resize_channels_keeps_a_partition():
    channels = one_hot(np.indices((30, 30))[1] // 10, 3)
    small = resize_channels(channels, (7, 7))
    assert small.shape == (1, 3, 7, 7)
    assert torch.allclose(small.sum(1), torch.ones(1, 7, 7))
    large = resize_channels(channels, (45, 45))
    assert torch.allclose(large.sum(1), torch.ones(1, 45, 45), atol=1e-5)


@needs_samples
def test_shared_samples_find_the_drawn_labels():
    samples = samples_dir()
    labelling = label_maps([read_map(samples / "Monet_sem.png")], read_map(samples / "Coastline_sem.png"))
    assert labelling.count == 5 and not labelling.notes


def test_a_colour_only_on_style_edges_is_missing_and_borrowed():
    style = two_region_map(40, 40, RED, BLUE)
    style[:, 19:21] = (128, 0, 128)  # a purple anti-aliased seam, two pixels wide
    target = two_region_map(40, 40, (128, 0, 128), BLUE)  # the doodle paints purple as a region
    labelling = label_maps([style], target)
    assert len(labelling.notes) == 1 and "#800080" in labelling.notes[0]
