"""Objectives as data: an :class:`Objective` is a weighted sum of :class:`Term` s, each of a registered kind.

The registry of kinds lives here (name -> kind, in the order they were registered): a term names its kind, and
:mod:`featviz_core.objectives.kinds` declares the kinds (which build terms) and registers them when the package
is imported, so this module needs nothing from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

# name -> the registered TermKind (featviz_core.objectives.kinds), in registration order.
_KINDS: dict[str, Any] = {}


def register_kind(kind: Any) -> None:
    """Add a :class:`~featviz_core.objectives.kinds.TermKind` instance to the registry under its ``name``."""
    if kind.name in _KINDS:
        raise ValueError(f"an objective kind called {kind.name!r} is registered already")
    _KINDS[kind.name] = kind


def get_kind(name: str) -> Any:
    """The registered :class:`~featviz_core.objectives.kinds.TermKind` called ``name`` (KeyError for an unknown
    name)."""
    return _KINDS[name]


def registered_kinds() -> tuple[Any, ...]:
    """Every registered kind, in registration order (the order of ``KINDS``)."""
    return tuple(_KINDS.values())


def kind_help() -> dict[str, str]:
    """Name -> one-line help of every kind, in the order of ``KINDS`` (for CLI choices and forms)."""
    return {kind.name: kind.help for kind in _KINDS.values()}


@dataclass(frozen=True)
class Term:
    """One weighted term: ``kind`` names a registered :class:`~featviz_core.objectives.kinds.TermKind`.

    ``channel`` is None for kinds that read no channel; ``y``/``x`` (a neuron's position) None means the
    centre of the layer.
    """

    kind: str
    layer: str
    channel: int | None = None
    y: int | None = None
    x: int | None = None
    weight: float = 1.0

    def describe(self) -> str:
        """The term as :func:`~featviz_core.objectives.parse_objective` reads it back, e.g. ``-0.5*mixed4a:3``."""
        body = get_kind(self.kind).describe(self)
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
        return Objective(tuple(replace(t, weight=t.weight * float(factor)) for t in self.terms))

    __rmul__ = __mul__

    def describe(self) -> str:
        return " + ".join(t.describe() for t in self.terms).replace("+ -", "- ")


def channel(layer: str, index: int) -> Objective:
    """Mean activation of channel ``index`` of ``layer``."""
    return Objective((Term("channel", layer, int(index)),))


def neuron(layer: str, index: int, y: int | None = None, x: int | None = None) -> Objective:
    """Activation of channel ``index`` of ``layer`` at (y, x), the centre when not given."""
    return Objective((Term("neuron", layer, int(index), y, x),))


def deepdream(layer: str) -> Objective:
    """Mean squared activation of the whole of ``layer``."""
    return Objective((Term("layer", layer),))
