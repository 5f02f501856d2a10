"""The method in words, for under figures and in captions: what each image optimizes, the settings used, and
the renders beyond one image per channel. Pure functions of a :class:`featviz_core.request.RenderRequest`."""

from __future__ import annotations

from typing import Any


def _transform_text(name: str) -> str:
    from featviz_core.settings.transform_presets import PRESETS

    preset = PRESETS.get(name)
    if preset is None or preset.is_identity:
        return "no random transforms"
    parts = []
    if preset.pad:
        parts.append(f"pad {preset.pad} px")
    if preset.jitter > 1:
        parts.append(f"jitter {preset.jitter} px")
    if set(preset.scales) != {1.0}:
        parts.append(f"scale {min(preset.scales):g}-{max(preset.scales):g}")
    if set(preset.angles) != {0.0}:
        parts.append(f"rotate {min(preset.angles):g} to {max(preset.angles):g} degrees")
    if preset.jitter_after > 1:
        parts.append(f"jitter {preset.jitter_after} px")
    return f"{name} transforms ({', '.join(parts)})"


def objective_text(request: Any) -> str:
    """What each image optimizes, in words: "mean activation of each channel", "the neuron at 7,7 of each
    channel", "activation of the whole layer", "objective mixed4a:3 - mixed4a:7", "a blend moving from
    mixed4a:3 to mixed4a:7 in 6 frames"."""
    if request.expression:
        return f"objective {request.expression}"
    if request.interpolate:
        start, end = request.interpolate.split(",")
        return f"a blend moving from {start} to {end} in {request.frames} frames"
    from featviz_core.objectives import get_kind

    return get_kind(request.objective).in_words(request.position)


def beyond_text(request: Any) -> list[str]:
    """The renders beyond one image per channel that ``request`` uses, each a few words ([] for none)."""
    parts = []
    if request.interpolate:
        start, end = request.interpolate.split(",")
        parts.append(f"interpolation from {start} to {end} in {request.frames} frames sharing a component")
    if request.negative:
        parts.append("each objective also negated (negatives beside positives)")
    if request.diversity > 1:
        parts.append(f"{request.diversity} diverse images each (diversity weight {request.diversity_weight:g})")
    if request.alpha:
        parts.append(f"transparent (alpha over random backgrounds, pressure {request.alpha_weight:g})")
    if request.init:
        pull = f", pulled toward it with weight {request.init_l2:g}" if request.init_l2 else ""
        parts.append(f"started from a photo (SHA-256 {request.init[:12]}){pull}")
    return parts


def method_note(request: Any, *, steps_done: int | None = None) -> str:
    """The method's settings as a few lines of text, for under a figure."""
    from featviz_core.models import get_spec

    spec = get_spec(request.model)
    what = objective_text(request)
    sign = "minimized" if request.negate else "maximized"
    done = "" if steps_done in (None, request.steps) else f" (stopped after {steps_done})"
    image = f"{request.size} px image, {'Fourier' if request.fft else 'pixel'} parameterization"
    image += ", decorrelated color" if request.decorrelate else ""
    if request.upsample and request.size < spec.native_size:
        image += f", upsampled to {spec.native_size} px for the model"
    penalties = []
    if request.tv:
        penalties.append(f"TV weight {request.tv:g}")
    if request.l2:
        penalties.append(f"L2 weight {request.l2:g}")
    lines = [
        f"Model: {spec.title}, layer {request.layer}. Objective: {what}, {sign} with Adam "
        f"(lr {request.lr:g}) for {request.steps} steps{done}.",
        f"Image: {image}; {_transform_text(request.transforms)}"
        + (f"; penalties: {', '.join(penalties)}" if penalties else "") + f". Seed {request.seed}.",
    ]
    beyond = beyond_text(request)
    if beyond:
        lines.append("Also: " + "; ".join(beyond) + ".")
    return "\n".join(lines)


def default_title(request: Any) -> str:
    """A figure title naming the model and the layer: "Feature visualization: InceptionV1 mixed4a"."""
    from featviz_core.models import get_spec

    return f"Feature visualization: {get_spec(request.model).title.split(' (')[0]} {request.layer}"
