"""The transforms presets as data: which random transforms a render applies and how strong they are.

Each preset carries a plain-words ``description`` (shown on the Method page). :mod:`featviz_core.method.transforms`
applies them; a request reads them here to know the model's input size (no torch).
"""

from __future__ import annotations

from dataclasses import dataclass

from featviz_core.errors import RequestError


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


def output_size(spec: TransformSpec, size: int, model_size: int | None) -> int:
    """Side of the model input: the (padded or cropped) image, upsampled to ``model_size`` if smaller."""
    side = size if spec.crop_padding else size + 2 * spec.pad
    if model_size is not None and size < model_size:
        return model_size
    return side
