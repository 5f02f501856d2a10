"""Objectives as data: which layers they read, and one vectorized score for a whole batch.

An :class:`Objective` is a weighted sum of :class:`Term` s. A batch holds one objective per image; the
batch's score is computed with one gather per (layer, kind) group, never with a closure per image.

Term kinds are registered once, in :mod:`featviz_core.objectives.kinds` (what a kind reads, how it scores,
how it is written and parsed, its help); :data:`KINDS` and :func:`kind_help` list them for requests, the
CLI and forms:

    channel  mean activation of channel ``c`` over height and width (Lucent's ``"layer:c"``)
    neuron   activation of channel ``c`` at one position (centre by default)
    layer    mean of squared activations of the whole layer (DeepDream)
"""

from featviz_core.objectives.batch import BatchObjective, TermGroup
from featviz_core.objectives.kinds import KINDS, TermKind, get_kind, kind_help, registered_kinds
from featviz_core.objectives.parse import parse_objective
from featviz_core.objectives.terms import Objective, Term, channel, deepdream, neuron

__all__ = [
    "KINDS", "BatchObjective", "Objective", "Term", "TermGroup", "TermKind", "channel", "deepdream",
    "get_kind", "kind_help", "neuron", "parse_objective", "registered_kinds",
]
