"""Objectives as data: which layers they read, and one vectorized score for a whole batch.

An :class:`Objective` is a weighted sum of :class:`Term` s. A batch holds one objective per image; the
batch's score is computed with one gather per (layer, kind) group, never with a closure per image.

Term kinds are declared once, in :mod:`featviz_core.objectives.kinds` (what a kind reads, how it scores,
how it is written and parsed, its help), and registered by name in :mod:`featviz_core.objectives.terms`;
:data:`KINDS` and :func:`kind_help` list them for requests, the CLI and forms:

    channel  mean activation of channel ``c`` over height and width (Lucent's ``"layer:c"``)
    neuron   activation of channel ``c`` at one position (centre by default)
    layer    mean of squared activations of the whole layer (DeepDream)

The text people type to name targets (channel lists ``0-9``, a neuron's position ``7,7``, an interpolation's
ends ``mixed4a:3,mixed4a:7``) is read and written by :mod:`featviz_core.objectives.targets`; free objectives
(``mixed4a:3 - 0.5*neuron(mixed4b:7)``) by :mod:`featviz_core.objectives.parse`.

Layer (checked by tests/test_layout.py): may import errors, config; torch at module level: yes.
"""

from featviz_core.objectives.kinds import KINDS, TermKind  # first: declares and registers the kinds
from featviz_core.objectives.batch import BatchObjective, TermGroup
from featviz_core.objectives.parse import parse_objective
from featviz_core.objectives.terms import (
    Objective, Term, channel, deepdream, get_kind, kind_help, neuron, registered_kinds,
)

__all__ = [
    "KINDS", "BatchObjective", "Objective", "Term", "TermGroup", "TermKind", "channel", "deepdream",
    "get_kind", "kind_help", "neuron", "parse_objective", "registered_kinds",
]
