"""What a render yields while it runs (:class:`Snapshot`) and what it leaves (:class:`RenderResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from featviz_core.request import RenderRequest


@dataclass(frozen=True)
class Snapshot:
    """The state of a render after ``step`` of ``steps`` optimization steps.

    Attributes:
        images: (B, H, W, C) uint8, the current images (C = 3, RGB; C = 4 for a transparent render:
            gamma-encoded RGB and alpha).
        scores: (B,) objective value of each image at this step (on the transformed input; for a transparent
            render, on its composite over this step's random background).
        history: (step, B) objective of each image at every step so far.
        loss: total loss at this step (minus the objectives plus the penalties, summed over images).
        elapsed_s: seconds since the render started.
        done: True on the last snapshot (all steps ran, or the render was stopped).
        stopped: why the render ended early ("" when it ran all steps).
    """

    step: int
    steps: int
    images: np.ndarray
    scores: np.ndarray
    history: np.ndarray
    loss: float
    elapsed_s: float
    done: bool = False
    stopped: str = ""
    note: str = ""
    importance: np.ndarray | None = None  # (B, H, W) MACO's attribution maps in [0, 1] (None: not MACO)

    @property
    def fraction(self) -> float:
        return self.step / self.steps if self.steps else 1.0

    @property
    def remaining_s(self) -> float:
        if self.step == 0:
            return float("nan")
        return self.elapsed_s / self.step * (self.steps - self.step)


@dataclass
class RenderResult:
    """A finished (or stopped) render."""

    request: RenderRequest
    images: np.ndarray  # (B, H, W, C) uint8
    labels: list[str]
    scores: np.ndarray  # (B,) objective of each final image, evaluated without transforms
    history: np.ndarray  # (steps_done, B)
    steps_done: int
    elapsed_s: float
    device: str
    stopped: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)


def final_images(snapshot: Snapshot) -> torch.Tensor:
    """(B, H, W, C) uint8 -> (B, C, H, W) float in [0, 1]."""
    return torch.from_numpy(snapshot.images).permute(0, 3, 1, 2).float() / 255.0
