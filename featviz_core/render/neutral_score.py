"""How strongly finished images drive their objectives, scored so that no transform set is favoured.

An image optimized under random transforms is tuned to the views those transforms produce (their padding,
scale and jitter). Scoring it on one bare view (the image resized to the model input) favours whatever
transform set happens to resemble that view. :func:`neutral_score` instead averages the objective over a
fixed set of views that neither featviz's nor Lucent's transforms produce exactly: the image framed by grey
borders of 0, 8, 16 and 24 px, each upright and turned by 5 degrees, resized to the model's input.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from featviz_core.models import get_spec
from featviz_core.models.capture import capture_layers
from featviz_core.objectives import BatchObjective, Objective

NEUTRAL_PADS: tuple[int, ...] = (0, 8, 16, 24)
NEUTRAL_ANGLES: tuple[float, ...] = (0.0, 5.0)
GREY = 0.5


def neutral_view(images: torch.Tensor, pad: int, angle: float, input_size: int) -> torch.Tensor:
    """One fixed view of a batch: ``pad`` px of grey on each side, turned ``angle`` degrees about the centre
    (corners filled with grey), resized to ``input_size`` (bilinear, antialiased when shrinking).

    Args:
        images: (B, 3, S, S) in [0, 1].

    Returns:
        (B, 3, input_size, input_size) in [0, 1].
    """
    x = F.pad(images, [pad] * 4, value=GREY) if pad else images
    if angle:
        theta = math.radians(angle)
        cos, sin = math.cos(theta), math.sin(theta)
        matrix = torch.tensor([[cos, sin, 0.0], [-sin, cos, 0.0]], dtype=x.dtype, device=x.device)
        grid = F.affine_grid(matrix.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
        # Sample (image - grey) with zeros outside, then add grey back: the uncovered corners are grey.
        x = F.grid_sample(x - GREY, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + GREY
    if x.shape[-1] != input_size:
        x = F.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False, antialias=True)
    return x


@torch.no_grad()
def neutral_score(
    model: torch.nn.Module,
    model_name: str,
    objectives: list[Objective],
    images: torch.Tensor,
    *,
    pads: tuple[int, ...] = NEUTRAL_PADS,
    angles: tuple[float, ...] = NEUTRAL_ANGLES,
    input_size: int | None = None,
    batch_size: int = 8,
) -> np.ndarray:
    """Objective of each image averaged over every (pad, angle) view: (B,) float.

    Args:
        model: eval-mode model ``model_name``, on the images' device.
        model_name: registry name (gives the preprocessing and the native input size).
        objectives: ``objectives[i]`` scores image ``i`` (e.g. ``RenderRequest.objectives()``).
        images: (B, 3, S, S) in [0, 1], e.g. a render's final images.
        pads / angles: the views (default: grey borders 0/8/16/24 px x 0 or 5 degrees: 8 views).
        input_size: side of the model input (default: the model's native size).
        batch_size: images per forward pass.
    """
    if len(objectives) != images.shape[0]:
        raise ValueError(f"{len(objectives)} objectives for {images.shape[0]} images")
    spec = get_spec(model_name)
    side = input_size or spec.native_size
    total = np.zeros(images.shape[0], dtype=np.float64)
    for start in range(0, images.shape[0], batch_size):
        chunk = images[start:start + batch_size]
        batch = BatchObjective(objectives[start:start + batch_size], device=images.device)
        for pad in pads:
            for angle in angles:
                view = spec.preprocess.apply(neutral_view(chunk, pad, angle, side))
                total[start:start + len(chunk)] += batch.score(capture_layers(model, batch.layers, view)).cpu().numpy()
    return total / (len(pads) * len(angles))
