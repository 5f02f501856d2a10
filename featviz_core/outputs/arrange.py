"""How a render's images are laid out on screen: which images share a row, and what each block is called.

A plain render is one wrapping row, one image per channel. The renders beyond that are read as the
Distill article shows them:

    negatives      pairs, each positive beside its negative (pairs side by side, wrapping)
    diversity N    one block per objective: its N images in a row (above the negated row with negatives)
    interpolation  one block: the K frames in one row, in order (the negated frames in a row below)

The order of images is :func:`featviz_core.image_plan.plan_images`'s: for each objective, its sign variants
(positive, then negative), each with its diverse images. Pure data, no UI: the app draws it
(``featviz_ui.views.arranged_grid``) for live snapshots and finished renders alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

POSITIVE, NEGATIVE = "excites (maximized)", "suppresses (negated)"


@dataclass(frozen=True)
class Row:
    """Images shown in one row: their indices into the render's images, and what the row shows ("" for a
    plain row)."""

    indices: tuple[int, ...]
    label: str = ""


@dataclass(frozen=True)
class Block:
    """A group of rows under one title ("" for none)."""

    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Arrangement:
    """The blocks of a render, and whether they sit side by side (pairs) or one under another.

    Attributes:
        blocks: in display order; every image index appears exactly once.
        side_by_side: blocks are small (a positive-negative pair) and wrap across the page.
        explanation: one sentence saying how to read the layout ("" for a plain grid).
    """

    blocks: tuple[Block, ...]
    side_by_side: bool = False
    explanation: str = ""

    @property
    def order(self) -> list[int]:
        """Every image index in the order the layout shows them."""
        return [i for block in self.blocks for row in block.rows for i in row.indices]


def _base_title(label: str) -> str:
    """An objective's caption without the diverse image's number: ``mixed4a:3 #1`` -> ``mixed4a:3``."""
    head, _, tail = label.rpartition(" #")
    return head if head and tail.isdigit() else label


def arrange(request: Any, labels: list[str] | None = None) -> Arrangement:
    """The layout of ``request``'s images (its ``labels()`` give the block titles).

    Args:
        request: a :class:`featviz_core.request.RenderRequest` (``negative``, ``diversity``,
            ``interpolate`` and ``frames`` decide the layout).
        labels: the images' captions (default: ``request.labels()``).
    """
    labels = list(request.labels() if labels is None else labels)
    count = len(labels)
    signs = 2 if request.negative else 1
    diverse = max(1, int(request.diversity))
    objectives = count // (signs * diverse)
    if objectives * signs * diverse != count or (signs == 1 and diverse == 1 and not request.interpolate):
        return Arrangement((Block("", (Row(tuple(range(count))),)),))  # one image per objective: one grid

    def index(objective: int, sign: int, image: int) -> int:
        return (objective * signs + sign) * diverse + image

    row_names = (POSITIVE, NEGATIVE) if signs == 2 else ("",)
    if request.interpolate:
        rows = tuple(Row(tuple(index(o, s, 0) for o in range(objectives)), row_names[s]) for s in range(signs))
        return Arrangement((Block("", rows),),  # the page's heading names the two channels
                           explanation="Frames in order, left to right: each optimizes a blend of the two channels "
                           "whose weight moves from the first to the second.")
    if diverse > 1:
        blocks = tuple(
            Block(_base_title(labels[index(o, 0, 0)]),
                  tuple(Row(tuple(index(o, s, i) for i in range(diverse)), row_names[s]) for s in range(signs)))
            for o in range(objectives))
        pairs = " Below each row, the same objective negated." if signs == 2 else ""
        return Arrangement(blocks, explanation=f"{diverse} images of each objective, pushed apart from one another "
                           f"by the diversity term.{pairs}")
    blocks = tuple(Block(labels[index(o, 0, 0)], (Row((index(o, 0, 0), index(o, 1, 0))),))
                   for o in range(objectives))
    return Arrangement(blocks, side_by_side=True,
                       explanation="Pairs: on the left what excites each objective most, on the right (its negative) "
                       "what suppresses it most.")

