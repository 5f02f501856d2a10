"""Chunks: the images that share one forward pass, with their parameter, optimizer and objective.

A render of B images runs in chunks of at most ``batch_size`` images, all in lock-step. Images that are
coupled (a term over several images, a parameter component they share) form a *group*, and a group is
never split across chunks: it must see one forward pass. Without groups every image stands alone and the
chunks are runs of ``batch_size`` consecutive images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from featviz_core.method.interpolation import AlignedInterpolationParam
from featviz_core.method.maco import image_param, make_optimizer
from featviz_core.objectives import BatchObjective, Objective
from featviz_core.request import RenderRequest

ImageGroup = tuple[int, ...]


@dataclass
class Chunk:
    """Images optimized in one forward pass.

    Attributes:
        images: the request's indices of the chunk's images, in the chunk's batch order.
        groups: the chunk's groups of coupled images, as positions in the chunk's batch.
        param: the images' parameterization; calling it gives (len(images), C, H, W) pixels in [0, 1],
            C = 3 (RGB) or 4 (RGBA): an :class:`ImageParam`, or a :class:`StackedParam` of one per group when
            the chunk holds an aligned interpolation (any module whose parameters are the optimized tensors).
        optimizer: over ``param``'s tensors only: Adam, or what the request chooses
            (:func:`~featviz_core.method.maco.optimizer_choice`; MACO's own is NAdam).
        objective: scores the chunk's images, image ``k`` for the request's objective ``images[k]``.
    """

    images: tuple[int, ...]
    groups: tuple[ImageGroup, ...]
    param: torch.nn.Module
    optimizer: torch.optim.Optimizer
    objective: BatchObjective

    @property
    def tensors(self) -> list[torch.Tensor]:
        """The optimized tensors: where gradients go, and what must stay finite."""
        return list(self.param.parameters())

    @property
    def where(self) -> slice | list[int]:
        """Index of the chunk's images along a request-wide image axis: a slice when they are consecutive."""
        first, last = self.images[0], self.images[-1]
        if list(self.images) == list(range(first, last + 1)):
            return slice(first, last + 1)
        return list(self.images)


def plan_chunks(count: int, batch_size: int, groups: Sequence[Sequence[int]] | None = None) -> list[tuple[ImageGroup, ...]]:
    """Split images ``0 .. count-1`` into chunks, each a tuple of groups.

    Groups are taken in the order of their first image and packed greedily: a chunk is closed when the
    next group would take it past ``batch_size`` images. A group larger than ``batch_size`` gets a chunk
    of its own (it cannot be split). Images in no group stand alone, so without groups the chunks are
    ``range(0, count, batch_size)`` runs.

    Raises:
        ValueError: a group is empty, names an image outside ``0 .. count-1``, or shares an image with
            another group.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    units = _groups_covering(count, groups or ())
    chunks: list[tuple[ImageGroup, ...]] = []
    current: list[ImageGroup] = []
    filled = 0
    for unit in units:
        if current and filled + len(unit) > batch_size:
            chunks.append(tuple(current))
            current, filled = [], 0
        current.append(unit)
        filled += len(unit)
    if current:
        chunks.append(tuple(current))
    return chunks


def _groups_covering(count: int, groups: Sequence[Sequence[int]]) -> list[ImageGroup]:
    """The given groups (each sorted) plus every other image alone, ordered by first image."""
    seen: set[int] = set()
    units: list[ImageGroup] = []
    for group in groups:
        unit = tuple(sorted(int(i) for i in group))
        if not unit:
            raise ValueError("an image group is empty")
        if unit[0] < 0 or unit[-1] >= count:
            raise ValueError(f"image group {unit} names an image outside 0..{count - 1}")
        if seen.intersection(unit) or len(set(unit)) < len(unit):
            raise ValueError(f"image group {unit} shares an image with another group or repeats one")
        seen.update(unit)
        units.append(unit)
    units.extend((i,) for i in range(count) if i not in seen)
    return sorted(units, key=lambda unit: unit[0])


class StackedParam(torch.nn.Module):
    """Several parameterizations side by side: calling it concatenates their images along the batch axis."""

    def __init__(self, parts: Sequence[torch.nn.Module]) -> None:
        super().__init__()
        self.parts = torch.nn.ModuleList(parts)

    def forward(self) -> torch.Tensor:
        return torch.cat([part() for part in self.parts])


def make_chunks(request: RenderRequest, objectives: list[Objective], raw: torch.Tensor,
                plan: list[tuple[ImageGroup, ...]], device: torch.device,
                shared: dict[ImageGroup, list[torch.Tensor]] | None = None) -> list[Chunk]:
    """One :class:`Chunk` per planned chunk, its parameter starting from ``raw`` (B, *raw_shape) rows.

    ``shared`` maps a group (sorted request indices) to the shared low-resolution tensors of an aligned
    interpolation (:class:`~featviz_core.method.interpolation.AlignedInterpolationParam`); a chunk holding such a group
    stacks one parameterization per group. Any other chunk is one :class:`ImageParam`, as always.
    """
    shared = shared or {}
    chunks = []
    for planned in plan:
        images = tuple(i for group in planned for i in group)
        position = {image: k for k, image in enumerate(images)}
        if any(group in shared for group in planned):
            param: torch.nn.Module = StackedParam([_group_param(request, raw, group, shared.get(group)) for group in planned])
        else:
            param = image_param(request, raw[list(images)].clone())  # Lucid's, or MACO's phases
        param = param.to(device)
        chunks.append(Chunk(
            images=images,
            groups=tuple(tuple(position[i] for i in group) for group in planned),
            param=param,
            optimizer=make_optimizer(request, param.parameters()),
            objective=BatchObjective([objectives[i] for i in images], device),
        ))
    return chunks


def _group_param(request: RenderRequest, raw: torch.Tensor, group: ImageGroup,
                 shared: list[torch.Tensor] | None) -> torch.nn.Module:
    start = raw[list(group)].clone()
    if shared is None:
        return ImageParam(start, request.size, request.fft, request.decorrelate)
    return AlignedInterpolationParam(start, [low.clone() for low in shared], request.size, request.fft,
                                     request.decorrelate)
