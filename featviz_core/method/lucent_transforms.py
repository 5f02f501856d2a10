"""Lucent 0.1.8's ``standard_transforms``, applied exactly the way Lucent applies them (the ``lucent`` preset).

Lucent chains five image operations, each its own resample, and then resizes to 224 px:

1. pad 12 px of constant 0.5;
2. jitter: shift right and down by a whole number of pixels in [0, 8) (one-sided, zeros fill the gap);
3. scale: resize the whole padded image to ``ceil(scale * side)`` px (bilinear, ``align_corners=True``),
   padding a shrunk image with zeros back to about its side; an enlarged image is not cropped;
4. rotate about the centre by a whole number of degrees;
5. jitter by [0, 4) px;
6. resize to the model input (224 px; bilinear, ``align_corners=True``).

Shifts and the rotation are kornia 0.4 ``warp_affine`` calls, which normalize pixel coordinates by
``side - 1`` but sample with ``align_corners=False``: a "whole-pixel" shift of ``d`` moves the content by
``d * side / (side - 1)`` pixels and interpolates. That arithmetic is reproduced here (in double precision),
so the result equals Lucent's within float rounding. Images in a batch draw their own scales, so the
batch is resized in groups of equal scale and put back in order; each image's result depends only on it.

Unlike Lucent, whose input size then varies with the scale when it does not upsample, the image is always
resized to the request's model input size, so that a batch has one shape.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _kornia_sampling_matrices(forward: torch.Tensor, side: int) -> torch.Tensor:
    """Pixel-space maps (B, 2, 3), output <- input as kornia 0.4 ``warp_affine`` takes them, for a square
    ``side`` x ``side`` image -> the (B, 2, 3) ``affine_grid`` matrices kornia samples with."""
    normalize = torch.tensor([[2.0 / (side - 1), 0.0, -1.0], [0.0, 2.0 / (side - 1), -1.0], [0.0, 0.0, 1.0]],
                             dtype=torch.float64)
    bottom = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(forward.shape[0], 1, 3)
    full = torch.cat([forward.to(torch.float64), bottom], dim=1)
    in_normalized = normalize @ full @ torch.linalg.inv(normalize)
    return torch.linalg.inv(in_normalized)[:, :2, :]


def _warp(images: torch.Tensor, forward: torch.Tensor) -> torch.Tensor:
    """kornia 0.4 ``warp_affine(images, forward, dsize=(side, side))``: bilinear, zeros outside."""
    side = images.shape[-1]
    theta = _kornia_sampling_matrices(forward, side).to(device=images.device, dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _shift_matrices(shifts: list[tuple[float, float]]) -> torch.Tensor:
    return torch.tensor([[[1.0, 0.0, dx], [0.0, 1.0, dy]] for dx, dy in shifts], dtype=torch.float64)


def _rotation_matrices(degrees: list[float], side: int) -> torch.Tensor:
    """kornia's ``get_rotation_matrix2d`` about the centre ((side - 1) / 2, (side - 1) / 2), scale 1."""
    centre = (side - 1) / 2.0
    rows = []
    for angle in degrees:
        alpha, beta = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        rows.append([[alpha, beta, (1 - alpha) * centre - beta * centre],
                     [-beta, alpha, beta * centre + (1 - alpha) * centre]])
    return torch.tensor(rows, dtype=torch.float64)


def scaled_side(side: int, scale: float) -> tuple[int, int]:
    """Lucent's ``random_scale`` sizes: (resized side, zero padding on each side)."""
    resized = math.ceil(scale * side)
    return resized, max(0, math.ceil((side - resized) / 2))


def apply_lucent_chain(images: torch.Tensor, pad: int, pad_value: float, scales: tuple[float, ...],
                       params: torch.Tensor, out_size: int) -> torch.Tensor:
    """Transform a batch as Lucent's ``standard_transforms`` followed by its resize to ``out_size``.

    Args:
        images: (B, C, S, S) in [0, 1] (any number of channels, each resampled alike).
        pad: constant padding on each side (Lucent: 12), with ``pad_value`` (0.5).
        scales: the preset's scale choices; each drawn scale is matched to its entry, so the sizes are
            computed from the same double-precision value Lucent draws.
        params: (B, 6) this step's draws: shift x, y (whole pixels), scale, angle (degrees), shift x, y.
        out_size: side of the result.

    Returns:
        (B, C, out_size, out_size).
    """
    values = params.detach().to("cpu", torch.float64).tolist()
    x = F.pad(images, [pad] * 4, mode="constant", value=pad_value)
    x = _warp(x, _shift_matrices([(v[0], v[1]) for v in values]))
    side = x.shape[-1]
    groups: dict[float, list[int]] = {}
    for i, v in enumerate(values):
        groups.setdefault(min(scales, key=lambda s: abs(s - v[2])), []).append(i)
    parts, order = [], []
    for scale, members in groups.items():
        resized, border = scaled_side(side, scale)
        part = F.interpolate(x[members], size=(resized, resized), mode="bilinear", align_corners=True)
        part = F.pad(part, [border] * 4)
        new_side = part.shape[-1]
        part = _warp(part, _rotation_matrices([values[i][3] for i in members], new_side))
        part = _warp(part, _shift_matrices([(values[i][4], values[i][5]) for i in members]))
        parts.append(F.interpolate(part, size=(out_size, out_size), mode="bilinear", align_corners=True))
        order.extend(members)
    result = torch.cat(parts) if len(parts) > 1 else parts[0]
    if order == sorted(order):
        return result
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(len(order))
    return result[inverse.to(result.device)]
