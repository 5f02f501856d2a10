"""Objectives as data: which layers they read, and one vectorized score for a whole batch.

An :class:`Objective` is a weighted sum of :class:`Term` s. A batch holds one objective per image; the
batch's score is computed with one gather per (layer, kind) group, never with a closure per image.

Term kinds:
    channel  mean activation of channel ``c`` over height and width (Lucent's ``"layer:c"``)
    neuron   activation of channel ``c`` at one position (centre by default)
    layer    mean of squared activations of the whole layer (DeepDream)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from featviz_core.errors import RequestError

KINDS = ("channel", "neuron", "layer")


@dataclass(frozen=True)
class Term:
    kind: str
    layer: str
    channel: int | None = None
    y: int | None = None  # neuron position; None = centre
    x: int | None = None
    weight: float = 1.0

    def describe(self) -> str:
        if self.kind == "layer":
            body = f"dream({self.layer})"
        elif self.kind == "neuron":
            pos = "" if self.y is None else f"@{self.y},{self.x}"
            body = f"neuron({self.layer}:{self.channel}{pos})"
        else:
            body = f"{self.layer}:{self.channel}"
        if self.weight == 1.0:
            return body
        if self.weight == -1.0:
            return f"-{body}"
        return f"{self.weight:g}*{body}"


@dataclass(frozen=True)
class Objective:
    """A weighted sum of terms; supports ``+``, ``-``, unary ``-`` and multiplication by a number."""

    terms: tuple[Term, ...]

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.layer for t in self.terms))

    def __add__(self, other: "Objective") -> "Objective":
        return Objective(self.terms + other.terms)

    def __neg__(self) -> "Objective":
        return self * -1.0

    def __sub__(self, other: "Objective") -> "Objective":
        return self + (-other)

    def __mul__(self, factor: float) -> "Objective":
        return Objective(tuple(Term(t.kind, t.layer, t.channel, t.y, t.x, t.weight * float(factor)) for t in self.terms))

    __rmul__ = __mul__

    def describe(self) -> str:
        return " + ".join(t.describe() for t in self.terms).replace("+ -", "- ")


def channel(layer: str, index: int) -> Objective:
    return Objective((Term("channel", layer, int(index)),))


def neuron(layer: str, index: int, y: int | None = None, x: int | None = None) -> Objective:
    return Objective((Term("neuron", layer, int(index), y, x),))


def deepdream(layer: str) -> Objective:
    return Objective((Term("layer", layer),))


_TERM = re.compile(
    r"""\s*(?P<sign>[+-])?\s*
        (?:(?P<coef>\d+(?:\.\d*)?(?:e[+-]?\d+)?)\s*\*\s*)?
        (?:
            dream\((?P<dream>[\w.]+)\)
          | neuron\((?P<nlayer>[\w.]+):(?P<nch>\d+)(?:@(?P<ny>\d+),(?P<nx>\d+))?\)
          | (?P<layer>[\w.]+):(?P<ch>\d+)
        )\s*""",
    re.VERBOSE | re.IGNORECASE,
)


def parse_objective(text: str) -> Objective:
    """Parse e.g. ``"mixed4a:3 - 0.5*mixed4b:7 + neuron(mixed4a:9@7,7) + dream(mixed3a)"``."""
    text = text.strip()
    if not text:
        raise RequestError("objective is empty; write terms like mixed4a:3, neuron(mixed4a:3), dream(mixed4a)")
    terms: list[Term] = []
    pos = 0
    while pos < len(text):
        match = _TERM.match(text, pos)
        if not match or match.end() == pos or (terms and not match.group("sign")):
            raise RequestError(
                f"cannot read the objective at {text[pos:pos + 20]!r}; write terms like mixed4a:3, "
                "0.5*neuron(mixed4a:3@7,7) or dream(mixed4a), joined by + or -"
            )
        weight = float(match.group("coef") or 1.0) * (-1.0 if match.group("sign") == "-" else 1.0)
        if match.group("dream"):
            term = Term("layer", match.group("dream"), weight=weight)
        elif match.group("nlayer"):
            y = match.group("ny")
            x = match.group("nx")
            term = Term("neuron", match.group("nlayer"), int(match.group("nch")),
                        None if y is None else int(y), None if x is None else int(x), weight)
        else:
            term = Term("channel", match.group("layer"), int(match.group("ch")), weight=weight)
        terms.append(term)
        pos = match.end()
    return Objective(tuple(terms))


class BatchObjective:
    """Scores a batch where image ``i`` optimizes ``objectives[i]``.

    ``score(acts)`` returns a (B,) tensor; it is built from one gather per (layer, kind) group.
    """

    def __init__(self, objectives: list[Objective], device: torch.device | str = "cpu") -> None:
        self.size = len(objectives)
        self.layers = tuple(dict.fromkeys(layer for obj in objectives for layer in obj.layers))
        groups: dict[tuple[str, str], list[tuple[int, Term]]] = {}
        for image, obj in enumerate(objectives):
            for term in obj.terms:
                groups.setdefault((term.layer, term.kind), []).append((image, term))
        self._groups = []
        self._position_cache: dict = {}
        for (layer, kind), items in groups.items():
            image_idx = torch.tensor([i for i, _ in items], device=device)
            weights = torch.tensor([t.weight for _, t in items], dtype=torch.float32, device=device)
            channels = torch.tensor([t.channel or 0 for _, t in items], device=device)
            ys = [t.y for _, t in items]
            xs = [t.x for _, t in items]
            self._groups.append((layer, kind, image_idx, channels, weights, ys, xs))

    def _positions(self, layer: str, act: torch.Tensor, ys: list, xs: list) -> tuple[torch.Tensor, torch.Tensor]:
        # Built once per layer shape, so the step loop makes no host-to-device copies.
        key = (layer, tuple(act.shape[-2:]))
        if key not in self._position_cache:
            h, w = act.shape[-2:]
            y_idx = torch.tensor([h // 2 if y is None else y for y in ys], device=act.device)
            x_idx = torch.tensor([w // 2 if x is None else x for x in xs], device=act.device)
            self._position_cache[key] = (y_idx, x_idx)
        return self._position_cache[key]

    def score(self, acts: dict[str, torch.Tensor]) -> torch.Tensor:
        first = acts[self.layers[0]]
        total = torch.zeros(self.size, device=first.device, dtype=torch.float32)
        for layer, kind, image_idx, channels, weights, ys, xs in self._groups:
            act = acts[layer]
            if kind == "channel":
                values = act[image_idx, channels].float().mean(dim=(-2, -1))
            elif kind == "neuron":
                y_idx, x_idx = self._positions(layer, act, ys, xs)
                values = act[image_idx, channels, y_idx, x_idx].float()
            else:
                values = act[image_idx].float().pow(2).mean(dim=(1, 2, 3))
            total = total.index_add(0, image_idx, weights * values)
        return total
