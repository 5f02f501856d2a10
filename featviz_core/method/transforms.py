"""Transformation robustness: pad, jitter, scale, rotate, jitter, and resize, as one affine resample.

Lucid applies these as a chain of image operations; here the chain's geometry is composed into one affine
map per image and applied with a single ``grid_sample`` from the padded image straight to the model's input
size (the upsampling to 224 px that Lucent does last is folded into the same resample). Random draws for
every step are made up front from each image's own ``torch.Generator`` and moved to the device once, so the
step loop never synchronizes with the host and an image's transforms do not depend on its batch.

The presets (which transforms, how strong) are data, declared in :mod:`featviz_core.settings.transform_presets`.
The ``lucent`` preset instead replays Lucent 0.1.8's chain operation by operation
(:mod:`featviz_core.method.lucent_transforms`), for comparisons on equal terms.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from featviz_core.method.lucent_transforms import apply_lucent_chain
from featviz_core.settings.transform_presets import TransformSpec


def _jitter_draw(d: int, steps: int, generator: torch.Generator, centred: bool) -> torch.Tensor:
    if d <= 1:
        return torch.zeros(steps, 2)
    draws = torch.randint(0, d, (steps, 2), generator=generator).float()
    return draws - (d - 1) / 2.0 if centred else draws


def sample_params(spec: TransformSpec, steps: int, generator: torch.Generator) -> torch.Tensor:
    """One image's random transform parameters for every step.

    Returns:
        (steps, 6) float tensor: jitter x, jitter y (pixels), scale, angle (degrees), jitter-after x, y.
    """
    first = _jitter_draw(spec.jitter, steps, generator, spec.jitter_centred)
    scale_idx = torch.randint(0, len(spec.scales), (steps,), generator=generator)
    angle_idx = torch.randint(0, len(spec.angles), (steps,), generator=generator)
    scales = torch.tensor(spec.scales, dtype=torch.float32)[scale_idx]
    angles = torch.tensor(spec.angles, dtype=torch.float32)[angle_idx]
    second = _jitter_draw(spec.jitter_after, steps, generator, spec.jitter_centred)
    return torch.cat([first, scales[:, None], angles[:, None], second], dim=1)


def affine_matrices(spec: TransformSpec, params: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 6) parameters -> (B, 2, 3) ``affine_grid`` matrices (output -> padded-input coordinates)."""
    padded = size + 2 * spec.pad
    crop = size / padded if spec.crop_padding else 1.0
    t1 = params[:, 0:2] * (2.0 / padded)
    scale = params[:, 2]
    theta = params[:, 3] * (math.pi / 180.0)
    t2 = params[:, 4:6] * (2.0 / padded)
    cos, sin = torch.cos(theta), torch.sin(theta)
    # Undo, in reverse order: second jitter, rotation, scale, first jitter.
    rot = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # R(-theta)
    linear = rot / scale[:, None, None]
    shift = -(linear @ t2[:, :, None])[:, :, 0] - t1
    return torch.cat([linear * crop, shift[:, :, None]], dim=2)


def apply_transforms(
    images: torch.Tensor, spec: TransformSpec, params: torch.Tensor | None, out_size: int
) -> torch.Tensor:
    """Transform a batch.

    Args:
        images: (B, C, S, S) in [0, 1]; every channel is resampled alike (C = 4: a composite and its alpha).
        spec: the transform settings.
        params: (B, 6) this step's draws (from :func:`sample_params`), on the images' device (for a
            ``resample_each`` preset, better on the host: its image sizes depend on the draws).
        out_size: side of the result (see :func:`featviz_core.settings.transform_presets.output_size`).

    Returns:
        (B, C, out_size, out_size).
    """
    size = images.shape[-1]
    if spec.resample_each:
        return apply_lucent_chain(images, spec.pad, spec.pad_value, spec.scales, params, out_size)
    if spec.is_identity:
        if out_size == size:
            return images
        return F.interpolate(images, size=(out_size, out_size), mode="bilinear", align_corners=False)
    padded = F.pad(images, [spec.pad] * 4, value=spec.pad_value) if spec.pad else images
    theta = affine_matrices(spec, params, size).to(images.dtype)
    grid = F.affine_grid(theta, [images.shape[0], 3, out_size, out_size], align_corners=False)
    return F.grid_sample(padded, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
