"""Transformation robustness: pad, jitter, scale, rotate, jitter, and resize, as one affine resample.

Lucid applies these as a chain of image operations; here the chain's geometry is composed into one affine
map per image and applied with a single ``grid_sample`` from the padded image straight to the model's input
size (the upsampling to 224 px that Lucent does last is folded into the same resample). Random draws for
every step are made up front from each image's own ``torch.Generator`` and moved to the device once, so the
step loop never synchronizes with the host and an image's transforms do not depend on its batch.

The ``lucent`` preset instead replays Lucent 0.1.8's chain operation by operation
(:mod:`featviz_core.method.lucent_transforms`), for comparisons on equal terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from featviz_core.errors import RequestError
from featviz_core.method.lucent_transforms import apply_lucent_chain


@dataclass(frozen=True)
class TransformSpec:
    """Random transforms applied before every forward pass.

    Args:
        pad: pixels of constant ``pad_value`` added on each side first.
        jitter: first translation, a whole number of pixels drawn from ``d`` values centred on 0.
        scales: zoom factors, one drawn per step (1 = none).
        angles: rotations in degrees, one drawn per step.
        jitter_after: second translation, as ``jitter``.
        crop_padding: keep only the central (unpadded) area at the end (Distill's setting).
        jitter_centred: jitter draws are centred on 0 (``d`` values from ``-(d-1)/2`` to ``(d-1)/2``, half
            pixels when ``d`` is even); False draws whole pixels in ``[0, d)``, one way only, as Lucent does.
        resample_each: apply each operation as its own resample in Lucent's order and arithmetic
            (see :mod:`featviz_core.method.lucent_transforms`) instead of one composed resample.
        description: what the preset does, in plain words (shown on the Method page).
    """

    name: str
    pad: int = 0
    pad_value: float = 0.5
    jitter: int = 0
    scales: tuple[float, ...] = (1.0,)
    angles: tuple[float, ...] = (0.0,)
    jitter_after: int = 0
    crop_padding: bool = False
    jitter_centred: bool = True
    resample_each: bool = False
    description: str = ""

    @property
    def is_identity(self) -> bool:
        return (
            not self.resample_each and self.pad == 0 and self.jitter <= 1 and self.jitter_after <= 1
            and set(self.scales) == {1.0} and set(self.angles) == {0.0}
        )


_LUCID_SCALES = tuple(1 + (i - 5) / 50.0 for i in range(11))  # 0.90, 0.92, ..., 1.10
_LUCID_ANGLES = tuple(float(a) for a in range(-10, 11)) + (0.0,) * 5  # -10..10 degrees, 0 more often

PRESETS: dict[str, TransformSpec] = {
    # Lucid / Lucent standard_transforms' values, composed into one resample.
    "standard": TransformSpec(
        name="standard",
        pad=12,
        jitter=8,
        scales=_LUCID_SCALES,
        angles=_LUCID_ANGLES,
        jitter_after=4,
        description=(
            "Lucid's standard values (pad 12 px of grey, shift, zoom 0.90-1.10, rotate up to 10 degrees, shift "
            "again), done as one smooth resample straight to the model's input: shifts go both ways around "
            "the centre by up to 3.5 and 1.5 px, and the zoom is a true zoom about the centre."
        ),
    ),
    # Distill "Feature Visualization" (2017).
    "distill": TransformSpec(
        name="distill",
        pad=16,
        jitter=16,
        scales=(1.0, 0.975, 1.025, 0.95, 1.05),
        angles=tuple(float(a) for a in range(-5, 6)),
        jitter_after=8,
        crop_padding=True,
        description=(
            "The Distill article's gentler set: pad 16 px, shift up to 7.5 px, zoom 0.95-1.05, rotate up to "
            "5 degrees, shift up to 3.5 px, then crop the padding away; one resample."
        ),
    ),
    "none": TransformSpec(
        name="none",
        description="No transforms: the model sees the image itself, only resized to its input size.",
    ),
    # Lucent 0.1.8's standard_transforms, operation by operation, as render_vis applies them.
    "lucent": TransformSpec(
        name="lucent",
        pad=12,
        jitter=8,
        scales=_LUCID_SCALES,
        angles=_LUCID_ANGLES,
        jitter_after=4,
        jitter_centred=False,
        resample_each=True,
        description=(
            "Exactly what Lucent 0.1.8 does: pad 12 px of grey, shift right and down by 0-7 px, resize by "
            "0.90-1.10 (an enlarged image is not cropped, so the final resize to 224 px shrinks it back and "
            "scales above 1 do little), rotate up to 10 degrees, shift by 0-3 px, resize to 224 px. Five "
            "resamples, each softening the image slightly; use it to compare with Lucent on equal terms."
        ),
    ),
}


def get_preset(name: str) -> TransformSpec:
    try:
        return PRESETS[name]
    except KeyError:
        raise RequestError(f"unknown transforms preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


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


def output_size(spec: TransformSpec, size: int, model_size: int | None) -> int:
    """Side of the model input: the (padded or cropped) image, upsampled to ``model_size`` if smaller."""
    side = size if spec.crop_padding else size + 2 * spec.pad
    if model_size is not None and size < model_size:
        return model_size
    return side


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
        out_size: side of the result (see :func:`output_size`).

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
