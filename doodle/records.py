"""What a run reports: one `Progress` per loss evaluation to callbacks, and a `PaintRecord` of the
whole run returned with the image. Progress bars, frame savers and web previews are listeners."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .config import PaintConfig
from .images import tensor_to_image


@dataclass(frozen=True)
class Progress:
    """One loss evaluation, as reported to callbacks."""

    phase: int  # 1-based
    phases: int
    size: tuple[int, int]  # (width, height) of this phase
    evaluation: int  # 1-based, within the phase
    max_evaluations: int
    losses: dict[str, float]  # weighted loss terms
    elapsed: float  # seconds since the run started
    pixels: torch.Tensor = field(repr=False)  # the current image (1, 3, H, W); read, never modify

    @property
    def total(self) -> float:
        return sum(self.losses.values())

    def image(self) -> np.ndarray:
        """The current image as float32 HxWx3 in [0, 1]."""
        return tensor_to_image(self.pixels)


@dataclass
class PhaseRecord:
    index: int
    size: tuple[int, int]
    evaluations: int = 0
    seconds: float = 0.0
    match_seconds: float = 0.0  # searching for nearest style patches
    network_seconds: float = 0.0  # VGG forward and backward passes
    searches: int = 0  # patch searches, summed over layers
    converged: bool = False  # stopped early by --tolerance
    non_finite: bool = False  # stopped early: the loss overflowed (nan or inf), the phase kept its best finite image
    losses: dict[str, float] = field(default_factory=dict)


@dataclass
class PaintRecord:
    """What a run did: mode, weights, phases with timings and final losses, notes for the user."""

    mode: str
    config: PaintConfig
    model: str = ""
    weights: str = ""
    device: str = "cpu"
    matcher: str = ""  # what --matcher auto became
    precision: str = ""  # what --precision auto became
    phases: list[PhaseRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    estimated_bytes: int = 0
    interrupted: bool = False
    seconds: float = 0.0


@dataclass
class PaintResult:
    image: np.ndarray  # float32 HxWx3 in [0, 1]
    record: PaintRecord
