"""Maps from a pretrained semantic segmentation network: torchvision's DeepLabV3 (ResNet-50).

Its weights were trained on COCO with the 20 PASCAL VOC classes plus background (person, cat, dog,
horse, car, chair, sofa, bottle, potted plant...), so it suits photos of people, animals, vehicles
and rooms; landscapes come out as background, and the cluster method suits them better. Each
class has a fixed colour (the PASCAL VOC palette), so maps of different images always agree.

The weights (160 MB) are downloaded once into torch's hub cache. Without a network the method fails
at once with a clear message: the host is probed with a short timeout before any download starts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from doodle.images import image_to_tensor, resize_image
from doodle.weights import FetchMessages, fetch_checked

from .result import Segmentation, SegmentationUnavailable

# Inference at this short side, as the weights were evaluated; maps are scaled back afterwards.
NETWORK_SIDE = 520
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FETCH_MESSAGES = FetchMessages(
    offline="the network method needs DeepLabV3 weights, which are not at {path} and cannot be "
            "downloaded now; connect to the network once, or use --method cluster",
    failed="downloading the DeepLabV3 weights from {url} failed ({error}); retry online, or use "
           "--method cluster",
    damaged="{path}: the DeepLabV3 weights file is damaged (checksum differs); delete it and run again "
            "online")


def _weights_enum():
    from torchvision.models.segmentation import DeepLabV3_ResNet50_Weights

    return DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1


def class_names() -> list[str]:
    return list(_weights_enum().meta["categories"])


def voc_colours(count: int) -> np.ndarray:
    """The PASCAL VOC palette: class bits spread over the high bits of R, G and B."""
    colours = np.zeros((count, 3), dtype=np.uint8)
    for index in range(count):
        value, shift = index, 7
        while value:
            for channel in range(3):
                colours[index, channel] |= ((value >> channel) & 1) << shift
            value >>= 3
            shift -= 1
    return colours


def weights_path() -> Path:
    """Where torch's hub cache keeps the DeepLabV3 weights."""
    url = _weights_enum().url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def load_model(allow_download: bool = True) -> torch.nn.Module:
    """DeepLabV3 with its pretrained weights, from the cache or downloaded once."""
    from torchvision.models.segmentation import deeplabv3_resnet50

    path = weights_path()
    fetch_checked(_weights_enum().url, path, FETCH_MESSAGES, unavailable=SegmentationUnavailable,
                  allow_download=allow_download, progress=True)
    model = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=len(class_names()),
                               aux_loss=True)
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def predict(model: torch.nn.Module, image: np.ndarray) -> np.ndarray:
    """(H, W) class indices for one float RGB image in [0, 1]."""
    height, width = image.shape[:2]
    scale = NETWORK_SIDE / min(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    tensor = resize_image(image_to_tensor(image), size)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        scores = model((tensor - mean) / std)["out"]
    scores = F.interpolate(scores, size=(height, width), mode="bilinear", align_corners=False)
    return scores[0].argmax(0).numpy().astype(np.int64)


def network_segment(images: list[np.ndarray], model: torch.nn.Module | None = None) -> Segmentation:
    """Class maps for `images` (float RGB in [0, 1]); `model` defaults to the pretrained DeepLabV3."""
    names = class_names()
    model = model if model is not None else load_model()
    labels = [predict(model, image) for image in images]
    return Segmentation("network", names, voc_colours(len(names)), labels)
