"""Page layout that keeps the images in view: the settings form folds away once a render runs.

On a projector (1280x720) a page's form fills the screen; the progress and the live images must not
appear below it. Each page puts its form in a :func:`settings_panel` and folds it when Render is pressed
(:func:`fold`, the Render button's ``on_click``), so the images are on screen without scrolling. The
panel opens again with one click, and starts open while nothing has been rendered.
"""

from __future__ import annotations

from typing import Callable

import streamlit as st


def settings_panel(key: str, *, start_open: bool):
    """An expander titled "Settings" whose open state lives in ``st.session_state[key]``.

    ``start_open`` is its state when the page shows it anew (first visit, back from another page);
    afterwards the person's clicks and :func:`fold` decide.
    """
    return st.expander("Settings", expanded=start_open, key=key, on_change="rerun", icon=":material/tune:")


def fold(key: str, check: Callable[[], object] | None = None) -> None:
    """Close the panel: the Render button's callback, which runs before the page redraws, so the render
    shows in the panel's place. When ``check()`` (the form's request) raises, the panel stays open: the
    settings need fixing, and the error is shown under them.

    What ``check()`` returned is kept as the click's pending request (:func:`pending`) until the page has
    submitted it: closing the panel changes the expander, whose change asks for another run, and on a busy
    server that run can interrupt this one before it reaches the submit, which would lose the click (the
    button reads True only in the run it started)."""
    from featviz_core.errors import FeatvizError

    if check is not None:
        try:
            st.session_state[_PENDING.format(key)] = check()
        except FeatvizError:
            return
    st.session_state[key] = False


_PENDING = "{}_pending"


def pending(key: str) -> object | None:
    """The request a Render click validated in :func:`fold` and the page has not submitted yet (None: none)."""
    return st.session_state.get(_PENDING.format(key))


def submitted(key: str) -> None:
    """The page has submitted the pending request (or shown why it could not)."""
    st.session_state.pop(_PENDING.format(key), None)
