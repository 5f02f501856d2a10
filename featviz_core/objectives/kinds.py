"""The objective term kinds: each kind declared once, as one small class, and registered by name.

A kind says what it reads (a layer, and maybe a channel and a position), how it scores all the terms of
its kind on one layer with a single gather, how a term is written and how it is parsed (its piece of the
expression grammar), and a one-line help text. Everything else (the parser, ``Term.describe``,
``BatchObjective``, the request's and the CLI's list of kinds) looks kinds up in the registry of
:mod:`featviz_core.objectives.terms` (``get_kind``), which this module fills when the package is imported.

Adding a kind: subclass :class:`TermKind`, fill in its attributes and methods, and register an instance below.
"""

from __future__ import annotations

import re
from typing import ClassVar, Protocol

import torch

from featviz_core.objectives.targets import channels_text
from featviz_core.objectives.terms import Objective, Term, register_kind, registered_kinds


class GroupOfTerms(Protocol):
    """What a kind's gather reads of all the terms of its kind on one layer (a
    :class:`~featviz_core.objectives.batch.TermGroup`)."""

    image_idx: torch.Tensor
    channels: torch.Tensor

    def positions(self, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n,) y and x index of each term in ``act``'s (H, W)."""


class TermKind:
    """One kind of objective term.

    Attributes:
        name: the kind's name in requests, URLs and ``Term.kind``.
        help: one line saying what the kind maximizes.
        reads_channel: a term of this kind names a channel (a request of a kind that reads none renders
            one image for the whole layer and takes no channels).
        reads_position: a term of this kind may name a (y, x) position in the layer.
        grammar: the term's piece of the expression grammar, a regular expression whose named groups
            start with ``{name}_`` (unique across kinds) and that needs no other kind's help to match.
        example: a term as written, for messages.
    """

    name: ClassVar[str]
    help: ClassVar[str]
    reads_channel: ClassVar[bool] = True
    reads_position: ClassVar[bool] = False
    grammar: ClassVar[str]
    example: ClassVar[str]

    def describe(self, term: Term) -> str:
        """The term without its weight, as :func:`parse_objective` reads it back."""
        raise NotImplementedError

    def fields(self, match: re.Match) -> dict:
        """The ``Term`` fields (layer, channel, y, x) read from a match of ``grammar``."""
        raise NotImplementedError

    def gather(self, act: torch.Tensor, group: GroupOfTerms) -> torch.Tensor:
        """Value of each of ``group``'s terms, one per entry of ``group.image_idx``: (n,) float32.

        Args:
            act: (B, C, H, W) the layer's activations for the whole batch.
            group: all terms of this kind on this layer in the batch.
        """
        raise NotImplementedError

    def objectives(self, layer: str, channels: tuple[int, ...],
                   position: tuple[int, int] | None = None) -> list[Objective]:
        """The objective of each image a request of this kind renders for ``channels`` of ``layer`` (at
        ``position`` (y, x) for a kind that reads one; None: its default)."""
        if not self.reads_channel:
            return [Objective((Term(self.name, layer),))]
        y, x = position if position is not None and self.reads_position else (None, None)
        return [Objective((Term(self.name, layer, int(c), y, x),)) for c in channels]

    def labels(self, layer: str, channels: tuple[int, ...], position: tuple[int, int] | None = None) -> list[str]:
        """Caption of each image a request of this kind renders for ``channels`` of ``layer``."""
        return [f"{layer}:{c}" for c in channels]

    def in_words(self, position: str = "") -> str:
        """What each image of a request of this kind maximizes, for figure notes ("mean activation of each
        channel"); ``position`` is the request's ``y,x`` text ("" for the default)."""
        return "mean activation of each channel"

    def heading(self, layer: str, channels: tuple[int, ...], position: str = "") -> str:
        """Which images a request of this kind renders, for its title ("_blocks.10, channels 0-9"); the rest of
        the title comes from :func:`featviz_core.words.heading`."""
        return f"{layer}, {channels_text(channels)}"


class ChannelKind(TermKind):
    name = "channel"
    help = "mean activation of one channel over the whole layer (Lucent's layer:n)"
    grammar = r"(?P<channel_layer>[\w.]+):(?P<channel_index>\d+)"
    example = "mixed4a:3"

    def describe(self, term: Term) -> str:
        return f"{term.layer}:{term.channel}"

    def fields(self, match: re.Match) -> dict:
        return {"layer": match.group("channel_layer"), "channel": int(match.group("channel_index"))}

    def gather(self, act: torch.Tensor, group: GroupOfTerms) -> torch.Tensor:
        return act[group.image_idx, group.channels].float().mean(dim=(-2, -1))


def _neuron(position: str) -> str:
    return f"the neuron at {position}" if position else "the centre neuron"


class NeuronKind(TermKind):
    name = "neuron"
    help = "activation of one channel at one position (the centre unless given)"
    reads_position = True
    grammar = r"neuron\((?P<neuron_layer>[\w.]+):(?P<neuron_index>\d+)(?:@(?P<neuron_y>\d+),(?P<neuron_x>\d+))?\)"
    example = "neuron(mixed4a:3@7,7)"

    def describe(self, term: Term) -> str:
        position = "" if term.y is None else f"@{term.y},{term.x}"
        return f"neuron({term.layer}:{term.channel}{position})"

    def fields(self, match: re.Match) -> dict:
        y, x = match.group("neuron_y"), match.group("neuron_x")
        return {"layer": match.group("neuron_layer"), "channel": int(match.group("neuron_index")),
                "y": None if y is None else int(y), "x": None if x is None else int(x)}

    def gather(self, act: torch.Tensor, group: GroupOfTerms) -> torch.Tensor:
        y_idx, x_idx = group.positions(act)
        return act[group.image_idx, group.channels, y_idx, x_idx].float()

    def labels(self, layer: str, channels: tuple[int, ...], position: tuple[int, int] | None = None) -> list[str]:
        where = "" if position is None else f"@{position[0]},{position[1]}"
        return [f"{layer}:{c} neuron{where}" for c in channels]

    def in_words(self, position: str = "") -> str:
        return f"activation of {_neuron(position)} of each channel"

    def heading(self, layer: str, channels: tuple[int, ...], position: str = "") -> str:
        return f"{layer}, {_neuron(position)} of {channels_text(channels)}"


class LayerKind(TermKind):
    name = "layer"
    help = "mean of the squared activations of the whole layer (DeepDream); one image"
    reads_channel = False
    grammar = r"dream\((?P<layer_layer>[\w.]+)\)"
    example = "dream(mixed4a)"

    def describe(self, term: Term) -> str:
        return f"dream({term.layer})"

    def fields(self, match: re.Match) -> dict:
        return {"layer": match.group("layer_layer")}

    def gather(self, act: torch.Tensor, group: GroupOfTerms) -> torch.Tensor:
        return act[group.image_idx].float().pow(2).mean(dim=(1, 2, 3))

    def labels(self, layer: str, channels: tuple[int, ...], position: tuple[int, int] | None = None) -> list[str]:
        return [f"dream({layer})"]

    def in_words(self, position: str = "") -> str:
        return "activation of the whole layer"

    def heading(self, layer: str, channels: tuple[int, ...], position: str = "") -> str:
        return f"{layer}, the whole layer (DeepDream)"


# In the order the CLI and the app offer them; the first is the default.
for _kind in (ChannelKind(), NeuronKind(), LayerKind()):
    register_kind(_kind)

KINDS: tuple[str, ...] = tuple(kind.name for kind in registered_kinds())
