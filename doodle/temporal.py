"""The temporal guide of a video frame: the previous painted frame, warped into this one, holds the
painting still where the scene did not change (Ruder, Dosovitskiy and Brox 2016).

`TemporalGuide` is what a caller hands `paint` (see `doodle.video.flow` for the warp and the mask);
the engine then starts the first phase from the warped painting where the mask trusts it
(`guided_start`) and adds `TemporalLoss` to every phase (`temporal_term`), both at the phase's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .errors import DoodleError
from .images import image_to_tensor, load_image, resize_image
from .losses import TermStats, WeightedTerm
from .semantic import resize_channels

TERM_NAME = "temporal"  # as progress and the phase records show it


@dataclass(frozen=True, eq=False)
class TemporalGuide:
    """The previous painted frame warped into this frame (`previous`, HxWx3 floats in [0, 1] or
    uint8), where it can be trusted (`mask`, HxW in [0, 1]: 1 = visible in both frames and moved
    as the flow says, 0 = occluded, uncovered or out of frame), and how strongly to hold it
    (`weight` >= 0; 0 only seeds the start). Both arrays are at the painting's full size; they are
    stored as float32."""

    previous: np.ndarray
    mask: np.ndarray
    weight: float

    def __post_init__(self) -> None:
        previous = load_image(self.previous, "temporal guide: previous frame")
        if not np.isfinite(previous).all():
            raise DoodleError("temporal guide: the previous frame has pixels that are not finite numbers")
        mask = np.asarray(self.mask)
        if mask.shape != previous.shape[:2]:
            raise DoodleError(f"temporal guide: the mask is {mask.shape} but the previous frame is "
                              f"{previous.shape[:2]} (height, width); make both at the painting's size")
        if not (np.issubdtype(mask.dtype, np.number) or mask.dtype == np.bool_):
            raise DoodleError(f"temporal guide: the mask must be numbers in [0, 1], not {mask.dtype}")
        mask = mask.astype(np.float32)
        if not (np.isfinite(mask).all() and mask.min(initial=0) >= 0 and mask.max(initial=0) <= 1):
            raise DoodleError("temporal guide: mask values must be in [0, 1] (1 = trust the previous frame)")
        try:
            weight = float(self.weight)
        except (TypeError, ValueError):
            raise DoodleError(f"temporal guide: the weight must be a number, not {self.weight!r}") from None
        if not (math.isfinite(weight) and weight >= 0):
            raise DoodleError(f"temporal guide: the weight (--temporal-weight) must be a finite number >= 0, "
                              f"got {self.weight}")
        object.__setattr__(self, "previous", previous)
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "weight", weight)

    @property
    def size_hw(self) -> tuple[int, int]:
        return self.mask.shape[0], self.mask.shape[1]

    def check_size(self, out_hw: tuple[int, int]) -> None:
        """A clear error when the guide was made for a painting of another size."""
        if self.size_hw != tuple(out_hw):
            (height, width), (out_height, out_width) = self.size_hw, out_hw
            raise DoodleError(f"temporal guide: it is {width}x{height} but the painting is {out_width}x{out_height}; "
                              f"warp the previous frame to the painting's size")

    def at_size(self, out_hw: tuple[int, int], device: torch.device | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """The previous frame (1, 3, H, W) and the mask (1, 1, H, W) at a phase's size: the image
        resized with antialiasing, the mask by area averaging, so a coarse phase's cell trusts the
        previous frame as much as its pixels did on average."""
        previous = resize_image(image_to_tensor(self.previous, device), out_hw)
        mask = resize_channels(torch.from_numpy(self.mask)[None, None].to(device), out_hw)
        return previous.clamp(0, 1), mask.clamp(0, 1)


class TemporalLoss:
    """mean(mask * (image - previous)^2) over pixels and channels: holds the painting to the warped
    previous frame where the mask trusts it. Reads only the pixels."""

    def __init__(self, previous: torch.Tensor, mask: torch.Tensor) -> None:
        if previous.shape[-2:] != mask.shape[-2:]:
            raise ValueError(f"previous frame {tuple(previous.shape)} and mask {tuple(mask.shape)} differ in size")
        self.layer = None
        self.stats = TermStats()
        self.previous, self.mask = previous.detach(), mask.detach()

    def __call__(self, image: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.previous.device != image.device:  # moved once, at the first evaluation
            self.previous, self.mask = self.previous.to(image.device), self.mask.to(image.device)
        return (self.mask * (image - self.previous).pow(2)).mean()


def temporal_term(guide: TemporalGuide, out_hw: tuple[int, int]) -> WeightedTerm:
    """The weighted temporal term of one phase at `out_hw`."""
    return WeightedTerm(TERM_NAME, guide.weight, TemporalLoss(*guide.at_size(out_hw)))


def guided_start(start: torch.Tensor, guide: TemporalGuide) -> torch.Tensor:
    """The first phase's starting image: the warped previous frame where the mask trusts it, `start`
    (the usual noise, content or image) elsewhere, blended by the mask at `start`'s size."""
    previous, mask = guide.at_size(tuple(start.shape[-2:]), start.device)
    return mask * previous + (1 - mask) * start
