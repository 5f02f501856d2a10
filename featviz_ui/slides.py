"""What the presentation view shows: the current deck and slide, and a grid sized to the screen."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import streamlit as st

# Height the grid leaves for the bar above it (rem) and for each row's caption (vh + rem). The CSS sizes
# the tiles from the browser's own screen height with these numbers, so the grid fits any screen;
# grid_shape only estimates them (for a 720 px screen) to choose the number of columns.
BAR_REM = 7.5
CAPTION_VH = 5.0
CAPTION_REM = 0.75
ASSUMED_ASPECT = 16 / 9  # the shape of a projector's screen; only the column count depends on it


@dataclass
class Deck:
    """The slides of the presentation view: ``label`` names them; ``error`` says why there are none."""

    label: str
    lines: list = field(default_factory=list)
    error: str = ""


def current_deck() -> Deck:
    """The deck the URL asks for: ``deck=NAME``; else the render in the URL; else this session's
    lecture list; else the Explorer's render on screen."""
    from urllib.parse import urlencode

    from featviz_core.errors import FeatvizError
    from featviz_core.links import LinkLine, link_query, read_links, render_values, request_from_values

    from featviz_ui import decks
    from featviz_ui.slots import get_slot

    params = st.query_params.to_dict()
    name = params.get("deck", "").strip()
    if name:
        try:
            return Deck(f"deck {name}", decks.read_deck(name))
        except FeatvizError as exc:
            return Deck(f"deck {name[:40]}", error=str(exc))
    values = render_values(params)
    if values:
        query = "?" + urlencode(values)
        try:
            return Deck("this render", [LinkLine(0, query, request=request_from_values(values))])
        except FeatvizError as exc:
            return Deck("this render", [LinkLine(0, query, error=str(exc))])
    listed = decks.session_list()
    if listed.strip():
        return Deck("the lecture list", read_links(listed))
    result = get_slot("explorer").result
    if result is not None:
        return Deck("the Explorer's render", [LinkLine(0, link_query(result.request), request=result.request)])
    return Deck("nothing to present")


def slide_number(raw: str | None, count: int) -> tuple[int, str]:
    """(1-based slide to show, warning) for the URL's ``slide`` value."""
    if raw is None or count == 0:
        return 1, ""
    text = raw.strip()
    if not text.isdigit():
        return 1, f"slide must be a number from 1 to {count}, got {text[:20]!r}; showing slide 1"
    number = int(text)
    if not 1 <= number <= count:
        shown = min(max(number, 1), count)
        return shown, f"this deck has {count} slides (1-{count}); showing slide {shown}"
    return number, ""


def grid_shape(count: int, aspect: float = ASSUMED_ASPECT) -> tuple[int, int]:
    """(columns, rows) that make ``count`` square tiles largest on a screen of width/height ``aspect``,
    after the bar and one caption per row. Ties go to fewer rows."""
    usable = 1.0 - BAR_REM * 16 / 720  # the bar's share of a 720 px screen
    best, best_side = (1, max(1, count)), -1.0
    for columns in range(1, max(1, count) + 1):
        rows = math.ceil(count / columns)
        side = min(aspect / columns, usable / rows - CAPTION_VH / 100)
        if side > best_side + 1e-9:
            best, best_side = (columns, rows), side
    return best


def style() -> None:
    """Large captions and a little less padding above the view (no layout change if a rule stops matching)."""
    st.html(f"""<style>
      [data-testid="stMainBlockContainer"] {{ padding: 2.5rem 1.5rem 1rem; }}
      .featviz-caption {{ font-size: max(16px, {CAPTION_VH * 0.8:.2f}vh); font-weight: 600; text-align: center;
                          line-height: 1.15; margin: 0.15rem 0 0; }}
      .featviz-title {{ font-size: max(1.2rem, 3.6vh); font-weight: 600; line-height: 1.2; margin: 0; }}
      .featviz-where {{ font-size: max(0.9rem, 2vh); opacity: 0.7; margin-left: 0.75rem; font-weight: 400; }}
    </style>""")


def title_html(line, where: str) -> str:
    """The slide's title (its note in the deck, else what it shows) and where it is in the deck."""
    from featviz_core.words import heading

    request = line.request
    if line.note:
        title = line.note
    elif request is not None:  # what it renders: channels, a neuron, a whole layer, an expression, a blend
        title = heading(request)
    else:
        title = line.text
    return (f'<p class="featviz-title">{html.escape(title)}'
            f'<span class="featviz-where">{html.escape(where)}</span></p>')


def png_data_uri(image: np.ndarray) -> str:
    """(H, W, 3) uint8 -> a ``data:image/png;base64,...`` URI; a transparent (H, W, 4) image is shown over a
    checkerboard, as in the Explorer's grid."""
    import base64

    from featviz_core.outputs.export import png_bytes
    from featviz_core.outputs.figures import on_checkerboard

    shown = on_checkerboard(image, square=max(1, image.shape[0] // 8))
    return "data:image/png;base64," + base64.b64encode(png_bytes(shown)).decode("ascii")


def grid_html(images: np.ndarray, labels: Sequence[str], *, reserve_rem: float = 0.0) -> str:
    """The images in a CSS grid sized by the browser's own screen height (``vh``): square tiles as wide
    as their column but no taller than one row's share of the screen, each with a large caption.

    images: (N, H, W, 3) uint8; ``reserve_rem``: extra height taken above the grid (a progress bar).
    """
    columns, rows = grid_shape(len(images))
    side = f"calc((100vh - {BAR_REM + reserve_rem:.2f}rem) / {rows} - {CAPTION_VH:.2f}vh - {CAPTION_REM:.2f}rem)"
    figures = "".join(
        f'<figure><img src="{png_data_uri(image)}" alt="{html.escape(label)}">'
        f'<figcaption class="featviz-caption">{html.escape(label)}</figcaption></figure>'
        for image, label in zip(images, labels))
    return f"""<style>
      .featviz-grid {{ display: grid; grid-template-columns: repeat({columns}, minmax(0, 1fr)); gap: 0.5rem 1rem; }}
      .featviz-grid figure {{ margin: 0; display: flex; flex-direction: column; align-items: center; }}
      .featviz-grid img {{ width: min(100%, {side}); height: auto; aspect-ratio: 1 / 1; border-radius: 0.25rem; }}
    </style><div class="featviz-grid">{figures}</div>"""


def big_grid(images: np.ndarray, labels: Sequence[str], *, reserve_rem: float = 0.0) -> None:
    """Draw :func:`grid_html`."""
    st.html(grid_html(images, labels, reserve_rem=reserve_rem))
