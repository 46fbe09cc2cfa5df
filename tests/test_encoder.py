import pytest
import torch

from doodle.encoder import VGGEncoder


def test_features_have_named_shapes(encoder):
    image = torch.rand(1, 3, 64, 48)
    features = encoder(image, ["relu3_1", "relu4_1", "conv1_1"])
    assert features["conv1_1"].shape == (1, 64, 64, 48)
    assert features["relu3_1"].shape == (1, 256, 16, 12)
    assert features["relu4_1"].shape == (1, 512, 8, 6)
    assert (features["relu3_1"] >= 0).all()


def test_truncated_at_the_deepest_layer(encoder, monkeypatch):
    called = []
    for name, conv in encoder.convs.items():
        monkeypatch.setattr(conv, "forward", lambda x, conv=conv, name=name: called.append(name) or
                            torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=1))
    encoder(torch.rand(1, 3, 32, 32), ["relu2_1"])
    assert called == ["conv1_1", "conv1_2", "conv2_1"]


def test_normalisation_inside(encoder):
    # Caffe weights: a mid-grey RGB image becomes BGR 0-255 with the mean removed.
    grey = torch.full((1, 3, 4, 4), 0.5)
    normalised = encoder.normalise(grey)
    expected = torch.tensor([127.5 - 103.939, 127.5 - 116.779, 127.5 - 123.68])
    assert torch.allclose(normalised[0, :, 0, 0], expected, atol=1e-4)
    red = torch.zeros(1, 3, 1, 1)
    red[:, 0] = 1.0
    assert encoder.normalise(red)[0, 2, 0, 0] == pytest.approx(255 - 123.68, abs=1e-3)  # R is last in BGR


def test_max_pooling_differs_from_average(encoder):
    state = {f"{name}.{kind}": getattr(conv, kind) for name, conv in encoder.convs.items()
             for kind in ("weight", "bias")}
    image = torch.rand(1, 3, 32, 32)
    average = VGGEncoder(state, encoder.info, "avg")(image, ["relu2_1"])["relu2_1"]
    maximum = VGGEncoder(state, encoder.info, "max")(image, ["relu2_1"])["relu2_1"]
    assert average.shape == maximum.shape and not torch.allclose(average, maximum)
