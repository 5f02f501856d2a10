"""A request in words: the one place that says what a render is, as small phrases and the texts made of them.

Each phrase says one thing once (the channels, what each image maximizes, the image's parameterization,
the transforms, the renders beyond one image per channel, ...); the texts featviz writes only arrange them:

    heading(request)            a render's title on a page and on a slide ("_blocks.10, channels 0-9")
    method_note(request)        the method's settings in a few lines, under the summary figure
    describe_settings(request)  the one line under a downloaded grid, and under a result on the page
    default_title(request)      a figure's default title ("Feature visualization: InceptionV1 mixed4a")
    images_asked_for(request)   how many images a request asks for, in the request's refusal of too many
    describe(request)           one line naming a render (the warm command, the Lecture page)

Each objective kind says in its own words what its images maximize and which images it renders
(``TermKind.in_words``, ``TermKind.heading``); this module puts the rest around them.
Pure functions of a :class:`featviz_core.request.RenderRequest`'s fields (read, never imported).

Layer (checked by tests/test_layout.py): may import settings, objectives, models; torch at module level: no.
"""

from __future__ import annotations

from typing import Any

from featviz_core.settings.declarations import tail_words
from featviz_core.settings.optimizers import optimizer_choice
from featviz_core.settings.transform_presets import PRESETS


# ----- phrases ----------------------------------------------------------------------------------------------
def target_text(request: Any) -> str:
    """Which images the request renders: "_blocks.10, channels 0-9", "_blocks.10, the neuron at 3,3 of channels
    0-2", "_blocks.10, the whole layer (DeepDream)", "Free objective: ...", "Interpolation from A to B, 6 frames"."""
    from featviz_core.objectives import get_kind

    if request.expression:
        return f"Free objective: {request.expression}"
    if request.interpolate:
        start, end = request.interpolate.split(",")
        return f"Interpolation from {start} to {end}, {request.frames} frames"
    return get_kind(request.objective).heading(request.layer, request.channels, request.position)


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


def parameterization_text(request: Any) -> str:
    """"Fourier parameterization, decorrelated color", "pixel parameterization"."""
    color = ", decorrelated color" if request.decorrelate else ""
    return f"{'Fourier' if request.fft else 'pixel'} parameterization{color}"


def transform_text(name: str) -> str:
    """A transforms preset in words: "standard transforms (pad 12 px, jitter 8 px, ...)", "no random transforms"."""
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


def variants_text(request: Any) -> list[str]:
    """What the title adds to the target: "negated (minimized)", "with negatives", "3 diverse images each",
    "transparent", "from your photo", as they apply."""
    parts = []
    if request.negate:
        parts.append("negated (minimized)")
    if request.negative:
        parts.append("with negatives")
    if request.diversity > 1:
        parts.append(f"{request.diversity} diverse images each")
    if request.alpha:
        parts.append("transparent")
    if request.init:
        parts.append("from your photo")
    return parts


# ----- the texts made of them -------------------------------------------------------------------------------
def heading(request: Any) -> str:
    """A render's title in words: what its images optimize, and the renders beyond one image per channel.

    ``_blocks.10, channels 0-9``; ``_blocks.10, the neuron at 3,3 of channels 0-2``; ``_blocks.10, the whole
    layer (DeepDream)``; ``Free objective: _blocks.4:3 - _blocks.4:7``; ``Interpolation from _blocks.4:1 to
    _blocks.4:2, 6 frames``; then "negated", "with negatives", "3 diverse images each", "transparent",
    "from your photo" as they apply.
    """
    extras = variants_text(request)
    return target_text(request) + (" · " + ", ".join(extras) if extras else "")


def method_note(request: Any, *, steps_done: int | None = None) -> str:
    """The method's settings as a few lines of text, for under a figure."""
    from featviz_core.models import get_spec

    spec = get_spec(request.model)
    sign = "minimized" if request.negate else "maximized"
    done = "" if steps_done in (None, request.steps) else f" (stopped after {steps_done})"
    image = f"{request.size} px image, {parameterization_text(request)}"
    if request.upsample and request.size < spec.native_size:
        image += f", upsampled to {spec.native_size} px for the model"
    penalties = []
    if request.tv:
        penalties.append(f"TV weight {request.tv:g}")
    if request.l2:
        penalties.append(f"L2 weight {request.l2:g}")
    lines = [
        f"Model: {spec.title}, layer {request.layer}. Objective: {objective_text(request)}, {sign} with "
        f"{optimizer_text(request)} for {request.steps} steps{done}.",
        f"Image: {image}; {transform_text(request.transforms)}"
        + (f"; penalties: {', '.join(penalties)}" if penalties else "") + f". Seed {request.seed}.",
    ]
    beyond = beyond_text(request)
    if beyond:
        lines.append("Also: " + "; ".join(beyond) + ".")
    return "\n".join(lines)


def describe_settings(request: Any) -> str:
    """One line for figure notes: what method produced the images."""
    extras = []
    if request.tv:
        extras.append(f"TV {request.tv:g}")
    if request.l2:
        extras.append(f"L2 {request.l2:g}")
    extras.extend(beyond_text(request))
    extra = (", " + ", ".join(extras)) if extras else ""
    name, rate = optimizer_choice(request)
    optimizer = "" if name == "adam" else "NAdam, "
    schedule = ", tail schedule" if getattr(request, "lr_schedule", "constant") == "tail" else ""
    return (f"{request.model}, {parameterization_text(request)}, {request.transforms} transforms, "
            f"{request.steps} steps, {request.size} px, {optimizer}lr {rate:g}{schedule}, seed {request.seed}{extra}")


def optimizer_text(request: Any) -> str:
    """"Adam (lr 0.05)", "NAdam (lr 0.1, lowered over the last 30% of the steps)": what optimized the images."""
    name, rate = optimizer_choice(request)
    schedule = f", {tail_words()}" if getattr(request, "lr_schedule", "constant") == "tail" else ""
    return f"{'NAdam' if name == 'nadam' else 'Adam'} (lr {rate:g}{schedule})"


def default_title(request: Any) -> str:
    """A figure title naming the model and the layer: "Feature visualization: InceptionV1 mixed4a"."""
    from featviz_core.models import get_spec

    return f"Feature visualization: {get_spec(request.model).title.split(' (')[0]} {request.layer}"


def images_asked_for(request: Any) -> str:
    """How many images the request asks for, in words: "10 objective(s), 2 diverse images each, each with its
    negative", "6 frames"."""
    parts = [f"{request.frames} frames" if request.interpolate else f"{max(1, len(request.channels))} objective(s)"]
    if request.diversity > 1:
        parts.append(f"{request.diversity} diverse images each")
    if request.negative:
        parts.append("each with its negative")
    return ", ".join(parts)


def describe(request: Any) -> str:
    """A short line naming a render, in the words of its heading (what it optimizes, and the renders beyond
    one image per channel): ``efficientnet-lite0: _blocks.10, channels 0-9 (512 steps, 128 px, seed 0)``."""
    settings = f"{request.steps} steps, {request.size} px, seed {request.seed}"
    settings += "" if request.fft else ", pixel parameterization"
    return f"{request.model}: {heading(request)} ({settings})"
