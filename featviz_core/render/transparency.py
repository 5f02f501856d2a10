"""Transparent renders in the loop: what the model sees of an RGBA image, how its objective is weighted, and
how finished images are scored and shown (the pieces are :mod:`featviz_core.method.alpha`, Lucid's transparency
notebook).

During optimization (:class:`Transparency`):
    * every step each image is composited over a fresh random background drawn from that image's own
      generator (after its transform draws, which were made up front), so an image's backgrounds do not
      depend on the batch it is in;
    * the composite is gamma-encoded (:func:`~featviz_core.method.alpha.composite_for_model`), then transformed;
      the alpha channel goes through the same resample, so the objective can be weighted by the alpha of
      the view the model saw (the notebook's crop), at the cost of one more channel in that resample.
      Where the view reaches into the padding, that padding's value (0.5) counts as alpha;
    * the objective is :func:`~featviz_core.method.alpha.transparency_weighted_scores` of the score on that
      composite, with the request's ``alpha_weight`` as strength. The score itself (what history and
      snapshots report) is the objective on the composite the model saw, before the weighting.

Finished images (:func:`scoring_view`) are scored over a fixed background, the random backgrounds' mean:
0.5 in linear light everywhere (display value 0.73, about 186 of 255), so a final score is deterministic.
Snapshots and results hold :func:`~featviz_core.method.alpha.rgba_for_display` images: gamma-encoded RGB with the
alpha unchanged, (B, H, W, 4) uint8.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from featviz_core.method.alpha import (
    GAMMA,
    composite_for_model,
    mean_alpha,
    random_backgrounds,
    transparency_weighted_scores,
)
from featviz_core.method.param import RGB_CHANNELS

SCORING_BACKGROUND = 0.5  # linear light: the random backgrounds' mean (a sigmoid of zero-mean noise)


@dataclass
class Transparency:
    """The random backgrounds and the objective's weighting of a transparent render.

    Attributes:
        generators: each image's generator (request order), already past its start and transform draws.
        size: image side in pixels.
        strength: the transparency pressure (``alpha_weight``), 0 to 1.
    """

    generators: Sequence[torch.Generator]
    size: int
    strength: float

    def backgrounds(self, images: Sequence[int], device: torch.device) -> torch.Tensor:
        """This step's background of each of ``images`` (request indices): (len(images), 3, size, size)."""
        return random_backgrounds([self.generators[i] for i in images], self.size, device)

    def weighted(self, scores: torch.Tensor, rgba: torch.Tensor, view_alpha: torch.Tensor) -> torch.Tensor:
        """(B,) the objective the optimizer maximizes: ``scores`` weighted by the whole image's and the view's
        transparency (``rgba`` (B, 4, H, W), ``view_alpha`` (B,) mean alpha of what the model saw)."""
        return transparency_weighted_scores(scores, mean_alpha(rgba), view_alpha, self.strength)


def composite_with_alpha(rgba: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """The model's view before transforms, with the alpha kept as a 4th channel so one resample moves both:
    (B, 4, H, W) image and (B, 3, H, W) background -> (B, 4, H, W)."""
    return torch.cat([composite_for_model(rgba, background), rgba[:, RGB_CHANNELS:]], dim=1)


def scoring_view(display_rgba: torch.Tensor) -> torch.Tensor:
    """What the model sees of a finished transparent image when it is scored: (B, 4, H, W) display images
    (gamma-encoded RGB, raw alpha, in [0, 1]) over the fixed linear-light background
    :data:`SCORING_BACKGROUND`, gamma-encoded as during optimization -> (B, 3, H, W)."""
    linear = display_rgba[:, :RGB_CHANNELS].clamp_min(0) ** GAMMA
    rgba = torch.cat([linear, display_rgba[:, RGB_CHANNELS:]], dim=1)
    background = torch.full_like(linear, SCORING_BACKGROUND)
    return composite_for_model(rgba, background)
