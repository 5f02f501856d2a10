"""The running top-K state: per channel, the K best images seen so far on each side, and its exact merge.

The order is total: by the channel's mean activation (highest first for ``top``, lowest first for
``bottom``), ties broken by the image's number in the folder's sorted list. Merging two states keeps the K
first of their union in that order, so merging per-chunk states in any order, on any number of machines,
gives the same state as one process that saw every image (given the same per-image numbers, which is why
both engines cut the folder into the same chunks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIDES = ("top", "bottom")
PAD_ID = np.iinfo(np.int64).max  # an empty slot: sorts after every image


@dataclass
class Ranked:
    """One side of one layer.

    Attributes:
        values: (C, K) float32 mean activations, best first; an empty slot holds -inf (top) / +inf (bottom).
        ids: (C, K) int64 image numbers (PAD_ID: empty).
        positions: (C, K, 2) int32 (row, col) where the channel fires most (top) / least (bottom).
        boxes: (C, K, 8) int32 the crop box in view pixels then in image pixels, each [x0, y0, x1, y1].
        maps: (C, K, h, w) float32 the channel's spatial activation map on that image.
    """

    values: np.ndarray
    ids: np.ndarray
    positions: np.ndarray
    boxes: np.ndarray
    maps: np.ndarray

    FIELDS = ("values", "ids", "positions", "boxes", "maps")

    @classmethod
    def empty(cls, channels: int, k: int, grid: tuple[int, int], side: str) -> "Ranked":
        fill = -np.inf if side == "top" else np.inf
        return cls(np.full((channels, k), fill, np.float32), np.full((channels, k), PAD_ID, np.int64),
                   np.zeros((channels, k, 2), np.int32), np.zeros((channels, k, 8), np.int32),
                   np.zeros((channels, k, *grid), np.float32))

    def filled(self) -> np.ndarray:
        """(C, K) bool: which slots hold an image."""
        return self.ids != PAD_ID

    def ranked(self, k: int, side: str) -> "Ranked":
        """The ``k`` first of each channel's row in the side's total order."""
        key = -self.values if side == "top" else self.values
        order = np.lexsort((self.ids, key), axis=-1)[:, :k]
        take = {name: np.take_along_axis(getattr(self, name), order.reshape(order.shape + (1,) * (
            getattr(self, name).ndim - 2)), axis=1) for name in self.FIELDS}
        return Ranked(**take)

    def merged(self, other: "Ranked", k: int, side: str) -> "Ranked":
        joined = Ranked(**{name: np.concatenate([getattr(self, name), getattr(other, name)], axis=1)
                           for name in self.FIELDS})
        return joined.ranked(k, side)

    def __eq__(self, other) -> bool:  # exact, for tests and resumption checks
        return isinstance(other, Ranked) and all(np.array_equal(getattr(self, n), getattr(other, n))
                                                 for n in self.FIELDS)


State = dict  # layer -> {"top": Ranked, "bottom": Ranked}


def empty_state(shapes: dict[str, tuple[int, int, int]], k: int) -> State:
    """shapes: layer -> (channels, h, w)."""
    return {layer: {side: Ranked.empty(c, k, (h, w), side) for side in SIDES}
            for layer, (c, h, w) in shapes.items()}


def merge_states(a: State, b: State, k: int) -> State:
    return {layer: {side: a[layer][side].merged(b[layer][side], k, side) for side in SIDES} for layer in a}


def states_equal(a: State, b: State) -> bool:
    return a.keys() == b.keys() and all(a[l][s] == b[l][s] for l in a for s in SIDES)


def to_arrays(state: State) -> dict[str, np.ndarray]:
    """Flat name -> array (for ``np.savez``): ``LAYER|SIDE|FIELD``."""
    return {f"{layer}|{side}|{name}": getattr(ranked, name)
            for layer, sides in state.items() for side, ranked in sides.items() for name in Ranked.FIELDS}


def from_arrays(arrays, layers: list[str]) -> State:
    return {layer: {side: Ranked(**{name: np.asarray(arrays[f"{layer}|{side}|{name}"]) for name in Ranked.FIELDS})
                    for side in SIDES} for layer in layers}
