"""One vectorized score for a batch where image ``i`` optimizes its own objective."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from featviz_core.objectives.kinds import TermKind
from featviz_core.objectives.terms import Objective, Term, get_kind


@dataclass
class TermGroup:
    """Every term of one kind on one layer in a batch, scored with one gather by its kind.

    Attributes:
        layer, kind: what the terms read and how.
        image_idx: (n,) the image each term belongs to (an image may appear more than once).
        channels: (n,) each term's channel (0 for kinds that read none).
        weights: (n,) float32 each term's weight.
        ys, xs: each term's position (None: the centre), for kinds that read one.
    """

    layer: str
    kind: TermKind
    image_idx: torch.Tensor
    channels: torch.Tensor
    weights: torch.Tensor
    ys: list[int | None]
    xs: list[int | None]
    _positions: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, layer: str, kind: str, items: list[tuple[int, Term]], device: torch.device | str) -> "TermGroup":
        return cls(
            layer=layer,
            kind=get_kind(kind),
            image_idx=torch.tensor([i for i, _ in items], device=device),
            channels=torch.tensor([t.channel or 0 for _, t in items], device=device),
            weights=torch.tensor([t.weight for _, t in items], dtype=torch.float32, device=device),
            ys=[t.y for _, t in items],
            xs=[t.x for _, t in items],
        )

    def positions(self, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n,) y and x index of each term in ``act``'s (H, W), the centre where a term names none."""
        # Built once per layer shape, so the step loop makes no host-to-device copies.
        key = tuple(act.shape[-2:])
        if key not in self._positions:
            h, w = key
            y_idx = torch.tensor([h // 2 if y is None else y for y in self.ys], device=act.device)
            x_idx = torch.tensor([w // 2 if x is None else x for x in self.xs], device=act.device)
            self._positions[key] = (y_idx, x_idx)
        return self._positions[key]

    def score(self, act: torch.Tensor) -> torch.Tensor:
        """(n,) weighted value of each term."""
        return self.weights * self.kind.gather(act, self)


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
        self.groups = [TermGroup.of(layer, kind, items, device) for (layer, kind), items in groups.items()]

    def score(self, acts: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B,) objective of each image from ``acts``: layer name -> (B, C, H, W) activations."""
        first = acts[self.layers[0]]
        total = torch.zeros(self.size, device=first.device, dtype=torch.float32)
        for group in self.groups:
            total = total.index_add(0, group.image_idx, group.score(acts[group.layer]))
        return total
