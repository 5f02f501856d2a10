"""Which images a request renders: one objective, caption, random seed and group per image.

Most renders are one image per channel, each alone. The renders beyond that add images and couple them:

    negative      each objective's negation right after it (the Distill article's pairs); images stay alone
    diversity N   N images per objective, one group, pushed apart by a term over their Gram matrices
    interpolate   K frames from channel A to channel B (Lucid's ``channel_interpolate`` weights), one group
                  sharing a parameter component so neighbouring frames stay aligned

Images of one group are optimized in the same forward pass (their loss terms depend on each other); an image
alone is independent of every other image, as before.

Layer (checked by tests/test_layout.py): may import objectives, method; torch at module level: no.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from featviz_core.method.interpolation import frame_weights
from featviz_core.objectives import Objective, channel, get_kind, parse_objective
from featviz_core.objectives.targets import parse_interpolation, parse_position


class PlannedRequest(Protocol):
    """What planning reads of a :class:`featviz_core.request.RenderRequest` (typed here, so the plan does not
    import the request that imports it)."""

    layer: str
    channels: tuple[int, ...]
    objective: str
    position: str
    expression: str
    interpolate: str
    frames: int
    negate: bool
    negative: bool
    diversity: int
    seed: int


@dataclass(frozen=True)
class PlannedImage:
    """One image of a render.

    Attributes:
        objective: what it maximizes.
        label: its caption (``mixed4a:3``, ``-mixed4a:3``, ``mixed4a:3 #2``, ``mixed4a:3 to 7, 2/6``).
        seed: the seed of its own random stream (initial noise and transforms).
        group: images with the same group are optimized together (coupled terms need one pass).
    """

    objective: Objective
    label: str
    seed: int
    group: int


def _seed(base: int, objective: Objective, index: int) -> int:
    # The first image of an objective keeps the stream it always had, so a plain render is unchanged.
    text = f"{base}|{objective.describe()}" + (f"|{index}" if index else "")
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)


def base_objectives(request: PlannedRequest) -> list[tuple[Objective, str]]:
    """The objectives before negatives and diversity, with their captions."""
    if request.expression:
        return [(parse_objective(request.expression), request.expression)]
    if request.interpolate:
        (layer_a, a), (layer_b, b) = parse_interpolation(request.interpolate)
        weights = frame_weights(request.frames)
        end = f"{b}" if layer_a == layer_b else f"{layer_b}:{b}"
        return [(channel(layer_a, a) * (1 - t) + channel(layer_b, b) * t,
                 f"{layer_a}:{a} to {end}, {i + 1}/{len(weights)}") for i, t in enumerate(weights)]
    kind = get_kind(request.objective)
    position = parse_position(request.position)
    return list(zip(kind.objectives(request.layer, request.channels, position),
                    kind.labels(request.layer, request.channels, position)))



def _negated(label: str, compound: bool) -> str:
    return f"-({label})" if compound else f"-{label}"


def plan_images(request: PlannedRequest) -> list[PlannedImage]:
    """Every image of ``request`` in display order (see the module docstring)."""
    images: list[PlannedImage] = []
    sign = -1.0 if request.negate else 1.0
    compound = bool(request.expression or request.interpolate)  # captions with operators get brackets
    signed = [(objective * sign, _negated(label, compound) if request.negate else label)
              for objective, label in base_objectives(request)]
    if request.negative:
        signed = [pair for objective, label in signed
                  for pair in ((objective, label), (-objective, _negated(label, compound)))]
    frames = bool(request.interpolate)
    for number, (objective, label) in enumerate(signed):
        for index in range(request.diversity):
            # An interpolation's frames share one group (their parameterization has a shared part); with
            # negatives, the negated frames (every second objective) are a second interpolation of their own.
            if frames:
                group = number % 2 if request.negative else 0
            else:
                group = number if request.diversity > 1 else len(images)
            caption = f"{label} #{index + 1}" if request.diversity > 1 else label
            images.append(PlannedImage(objective, caption, _seed(request.seed, objective, index), group))
    return images


def coupled_groups(images: list[PlannedImage]) -> list[tuple[int, ...]]:
    """Indices of the images of each group of more than one image, in order of first image (images alone are
    left out: they need no coupling)."""
    members: dict[int, list[int]] = {}
    for index, image in enumerate(images):
        members.setdefault(image.group, []).append(index)
    return [tuple(group) for group in members.values() if len(group) > 1]
