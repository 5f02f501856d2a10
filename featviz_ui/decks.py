"""Decks: a lecture's prepared list of renders, one app link per line.

A deck is a links file ``NAME.txt`` in the decks folder (``FEATVIZ_DECKS_DIR``, default ``decks/`` next
to ``app.py``), opened in the presentation view by ``?present=1&deck=NAME``; or the list typed on the
Lecture page, which lives in the session. Both are read by :func:`featviz_core.links.read_links`, like
``python -m featviz_core warm``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import streamlit as st

from featviz_core.errors import FeatvizError

DECKS_ENV = "FEATVIZ_DECKS_DIR"
LIST_KEY = "featviz_lecture_links"  # the Lecture page's list of links (text; not a widget key, so it
#                                      outlives the page's widgets when another page is shown)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_DECK_BYTES = 256 * 1024


def decks_dir() -> Path:
    raw = os.environ.get(DECKS_ENV, "").strip()
    return Path(raw).expanduser() if raw else Path(__file__).resolve().parents[1] / "decks"


def deck_names() -> list[str]:
    """Names of the deck files in the decks folder, sorted."""
    folder = decks_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.txt") if p.is_file() and NAME_PATTERN.fullmatch(p.stem))


def deck_text(name: str) -> str:
    """The text of deck ``name``; raises FeatvizError saying which decks exist."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name.endswith(".txt"):
        raise FeatvizError(f"deck names are letters, digits, '-', '_' and '.' (the file name without .txt), "
                           f"got {name[:40]!r}")
    path = decks_dir() / f"{name}.txt"
    if not path.is_file():
        names = deck_names()
        known = f"decks here: {', '.join(names)}" if names else f"no decks in {decks_dir()}"
        raise FeatvizError(f"no deck named {name!r} ({known})")
    if path.stat().st_size > MAX_DECK_BYTES:
        raise FeatvizError(f"deck {name!r} is larger than {MAX_DECK_BYTES // 1024} KB")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise FeatvizError(f"deck {name!r} cannot be read as UTF-8 text") from None


def read_deck(name: str):
    """The LinkLines of deck ``name`` (bad lines included, with their errors)."""
    from featviz_core.links import read_links

    return read_links(deck_text(name))


def session_list() -> str:
    """The Lecture page's list of links in this session ("" when none)."""
    return st.session_state.get(LIST_KEY, "")


def add_to_list(link: str) -> int:
    """Append ``link`` to the session's list unless it is there already; returns its slide number."""
    from featviz_core.links import read_links

    text = session_list()
    texts = [line.text for line in read_links(text)]
    if link not in texts:
        st.session_state[LIST_KEY] = (text.rstrip("\n") + "\n" if text.strip() else "") + link + "\n"
        texts.append(link)
    return texts.index(link) + 1
