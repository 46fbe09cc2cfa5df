"""Tests for doodle/layers.py: the one table of VGG's named layers."""

import subprocess
import sys

import pytest

from doodle.errors import DoodleError
from doodle.layers import (
    BLOCK_CHANNELS,
    CONVS_PER_BLOCK,
    check_layers,
    conv_layers,
    layer_channels,
    layer_names,
    layer_stride,
    vgg_layers,
)


def test_layer_names_and_strides():
    assert layer_names("vgg16")[:4] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2"]
    assert "relu5_4" in layer_names("vgg19") and "relu5_4" not in layer_names("vgg16")
    assert layer_stride("relu3_1") == 4 and layer_stride("conv5_2") == 16
    with pytest.raises(DoodleError):
        layer_stride("features.20")
    with pytest.raises(DoodleError, match="vgg16"):
        check_layers("vgg16", ["relu3_4"])


@pytest.mark.parametrize("model", ["vgg16", "vgg19"])
def test_table_agrees_with_the_name_helpers(model):
    layers = vgg_layers(model)
    assert len(layers) == 2 * sum(CONVS_PER_BLOCK[model]) and vgg_layers(model) is layers  # cached
    for layer in layers:
        assert layer.name == f"{layer.kind}{layer.block}_{layer.position}"
        assert (layer.stride, layer.channels) == (layer_stride(layer.name), layer_channels(layer.name))
    convs = conv_layers(model)
    assert convs[0].in_channels == 3 and convs[-1].channels == BLOCK_CHANNELS[-1]
    assert all(later.in_channels == earlier.channels for earlier, later in zip(convs, convs[1:]))
    check_layers(model, layer_names(model))


def test_relu_follows_its_conv_in_torchvision_numbering():
    layers = vgg_layers("vgg19")
    for conv, relu in zip(layers[::2], layers[1::2]):
        assert (conv.kind, relu.kind, relu.torchvision_index) == ("conv", "relu", conv.torchvision_index + 1)


def test_importing_the_table_does_not_import_torch():
    code = "import sys, doodle.layers; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
