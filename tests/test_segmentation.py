"""Automatic maps: the right regions come out of synthetic pictures, labelled alike across images."""

import numpy as np
import pytest
from skimage.data import astronaut

from doodle.errors import DoodleError
from doodle.metrics import adjusted_rand_index
from doodle.semantic import MERGE_DISTANCE
from segmentation import Segmentation, SegmentationUnavailable, segment
from segmentation.cleanup import absorb, remove_specks
from segmentation.cluster import cluster_segment
from segmentation.preview import preview_sheet
from segmentation.result import CLUSTER_COLOURS, area_order

from .helpers import disc, halves, stripes_and_dots


@pytest.fixture(scope="module")
def pair():
    first, second = halves(96, 96), disc(80, 112)
    return [stripes_and_dots(first, 0), stripes_and_dots(second, 1)], [first, second]


def test_two_textures_in_two_layouts_get_the_same_two_labels(pair, encoder):
    images, truths = pair
    result = cluster_segment(images, encoder=encoder)
    assert result.method == "cluster" and result.count == 2
    for labels, truth, image in zip(result.labels, truths, images):
        assert labels.shape == image.shape[:2]
        assert adjusted_rand_index(truth, labels) > 0.9
    # Stripes carry one label in both pictures, dots the other: the labelling is joint.
    stripe_labels = [np.bincount(labels[truth == 0]).argmax() for labels, truth in zip(result.labels, truths)]
    dot_labels = [np.bincount(labels[truth == 1]).argmax() for labels, truth in zip(result.labels, truths)]
    assert stripe_labels[0] == stripe_labels[1] != dot_labels[0] == dot_labels[1]
    maps = result.maps
    assert maps[0].dtype == np.uint8 and maps[0].shape == (96, 96, 3)


def test_asking_for_more_labels_splits_further(pair, encoder):
    images, _ = pair
    result = cluster_segment(images, labels=4, encoder=encoder)
    assert result.count == 4
    assert [name for name in result.names] == ["region 1", "region 2", "region 3", "region 4"]


def test_cluster_colours_never_fuse_when_read_back():
    distances = np.linalg.norm(CLUSTER_COLOURS[:, None].astype(float) - CLUSTER_COLOURS[None].astype(float), axis=-1)
    assert distances[~np.eye(len(CLUSTER_COLOURS), dtype=bool)].min() > 2 * MERGE_DISTANCE


def test_thin_images_get_a_clear_error(encoder):
    with pytest.raises(DoodleError, match="too thin"):
        cluster_segment([np.zeros((40, 1000, 3), np.float32)], encoder=encoder)
    with pytest.raises(DoodleError, match="uint8, or finite floats"):
        segment(np.full((40, 40, 3), 255.0))


def test_specks_are_absorbed_by_their_surroundings():
    labels = np.zeros((50, 50), int)
    labels[10:12, 10:12] = 1  # 4 pixels: a speck
    labels[30:50, 30:50] = 2  # a region
    cleaned = remove_specks(labels)
    assert cleaned[10, 10] == 0 and cleaned[40, 40] == 2
    assert (absorb(labels, labels == 2)[30:, 30:] != 2).all()


def test_labels_are_numbered_by_area():
    remap = area_order([np.array([[0, 1, 1, 1, 2, 2]])], 3)
    assert list(remap) == [2, 0, 1]


def test_segment_checks_its_input(pair):
    images, _ = pair
    with pytest.raises(DoodleError, match="--method"):
        segment(images, method="magic")
    with pytest.raises(DoodleError, match="--labels"):
        segment(images, labels=1)
    with pytest.raises(DoodleError, match="at least 32"):
        segment(np.zeros((20, 40, 3), np.float32))
    with pytest.raises(DoodleError, match="HxWx3"):
        segment(np.zeros((40, 40), np.float32))


def test_preview_sheet_shows_each_image_map_and_overlay(pair, encoder):
    images, _ = pair
    result = cluster_segment(images, encoder=encoder)
    sheet = preview_sheet(images, result, row_height=64)
    assert sheet.dtype == np.uint8 and sheet.shape[1] >= 3 * 64
    # The map column of the first row carries exactly the map's colours.
    first_map = sheet[:64, 64 + 4: 2 * 64 + 4]
    colours = {tuple(c) for c in first_map.reshape(-1, 3)}
    assert colours <= {tuple(c) for c in result.palette}


from segmentation import portrait  # noqa: E402 - mediapipe itself is imported only when used

needs_mediapipe = pytest.mark.skipif(not portrait.available(), reason="mediapipe is not installed")


@needs_mediapipe
def test_portrait_of_the_astronaut():
    image = astronaut().astype(np.float32) / 255.0
    result = segment(image)
    assert result.method == "portrait"
    names = [result.names[k] for k in np.unique(result.labels[0])]
    for part in ("background", "hair", "skin", "eyes", "eyebrows", "lips", "clothing"):
        assert part in names
    labels = result.labels[0]
    # Her face is around (row 110, column 215) in skimage's picture, her hair above it, her suit below.
    assert result.names[labels[110, 215]] == "skin"
    assert result.names[labels[40, 220]] == "hair"
    assert result.names[labels[450, 220]] == "clothing"


@needs_mediapipe
def test_no_face_falls_back_to_clusters_with_a_note(pair, encoder):
    images, _ = pair
    notes = []
    result = segment(images, encoder=encoder, on_note=notes.append, names=["a.png", "b.png"])
    assert result.method == "cluster" and "a.png: no face found" in notes[0]
    with pytest.raises(SegmentationUnavailable, match="a.png: no face found"):
        segment(images, method="portrait", names=["a.png", "b.png"])


def test_portrait_without_mediapipe_says_how_to_install(monkeypatch, pair):
    import builtins

    real_import = builtins.__import__

    def no_mediapipe(name, *args, **kwargs):
        if name.startswith("mediapipe"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mediapipe)
    images, _ = pair
    with pytest.raises(SegmentationUnavailable, match=r"pip install 'doodle\[portrait\]'"):
        segment(images, method="portrait")


def test_portrait_labels_from_parts():
    from segmentation.portrait import PORTRAIT_LABELS, portrait_labels

    height, width = 100, 80
    image = np.full((height, width, 3), 0.2, np.float32)
    image[30:70, 20:60] = (0.9, 0.7, 0.6)  # skin-coloured face
    face = np.zeros((height, width), bool)
    face[30:70, 20:60] = True
    parts = {name: np.zeros((height, width), bool) for name in ("eyes", "eyebrows", "lips")}
    parts["face"] = face
    parts["eyes"][40:44, 28:34] = True
    parts["lips"][60:63, 34:46] = True
    person = np.zeros((height, width), bool)
    person[10:, 10:70] = True
    labels = portrait_labels(image, parts, person)
    names = list(PORTRAIT_LABELS)
    assert names[labels[50, 40]] == "skin" and names[labels[42, 30]] == "eyes" and names[labels[61, 40]] == "lips"
    assert names[labels[15, 40]] == "hair" and names[labels[90, 40]] == "clothing"
    assert names[labels[50, 75]] == "background"


def test_network_method_fails_fast_without_weights(monkeypatch, tmp_path, pair):
    # Fast means: no download is even tried once the host does not answer (a wall-clock limit here
    # failed on a loaded machine, where the first torchvision import alone can take seconds).
    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted with no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr("doodle.weights.network_answers", lambda *args, **kwargs: False)
    monkeypatch.setattr("torch.hub.download_url_to_file", no_download)
    images, _ = pair
    with pytest.raises(SegmentationUnavailable, match="--method cluster"):
        segment(images, method="network")


def test_network_method_maps_classes_to_fixed_colours(pair):
    import torch
    from torchvision.models.segmentation import deeplabv3_resnet50

    from segmentation.network import class_names, network_segment, voc_colours

    torch.manual_seed(0)
    # Untrained weights: this checks the plumbing (sizes, colours), not what the network sees.
    model = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True).eval()
    images, _ = pair
    result = network_segment([images[1][:40, :56]], model=model)
    assert result.labels[0].shape == (40, 56) and result.labels[0].max() < 21
    assert len(class_names()) == 21 and class_names()[15] == "person"
    colours = voc_colours(21)
    assert len({tuple(c) for c in colours}) == 21 and tuple(colours[15]) == (192, 128, 128)
    assert isinstance(result, Segmentation) and (result.palette == colours).all()
    assert result.maps[0].shape == (40, 56, 3)


@pytest.mark.parametrize("make", [
    lambda rng: rng.random((200, 300, 3)),  # the noise picture
    lambda rng: np.full((40, 40, 3), 0.5),  # one colour
    lambda rng: np.indices((64, 64)).sum(0)[..., None].repeat(3, 2) % 2,  # a one-pixel checkerboard
])
def test_featureless_and_noisy_pictures_get_a_map(make, encoder):
    image = make(np.random.default_rng(0)).astype(np.float32)
    for labels in (None, 12):
        result = segment(image, method="cluster", labels=labels, encoder=encoder)
        assert result.labels[0].shape == image.shape[:2] and 1 <= result.count <= 12


def test_a_thin_image_is_named_in_its_error(encoder):
    with pytest.raises(DoodleError, match=r"^strip\.png: 1000x40 is too thin"):
        segment(np.zeros((40, 1000, 3), np.float32), method="cluster", names=["strip.png"], encoder=encoder)


def test_a_too_small_image_is_named_as_the_caller_names_it():
    # The CLI passes decoded arrays with their file names: the error named "image array" instead.
    with pytest.raises(DoodleError, match=r"^tiny\.png: is 2x2; segmentation needs at least 32"):
        segment([np.zeros((2, 2, 3), np.float32)], names=["tiny.png"])
