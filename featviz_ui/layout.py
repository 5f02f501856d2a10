"""Page layout that keeps the images in view, and Render buttons that cannot lose a click.

On a projector (1280x720) a page's form fills the screen; the progress and the live images must not
appear below it. Each page puts its form in a :func:`settings_panel` and folds it once a render starts,
so the images are on screen without scrolling. The panel opens again with one click, and starts open
while nothing has been rendered.

A click starts its render inside the button's callback (:func:`start_on_click`), not in the script run
that follows it. Streamlit runs a callback to completion before the script, while a script run can be
interrupted at any element it draws by the next request of the same tab (the settings panel folding, a
page switch, a second click): work left for the script after a click is lost when its run is
interrupted, and a button reads True only in the run it started. A callback's submit is never lost.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import streamlit as st

# Test hook: seconds every script run waits before drawing its page, so a test can land a page switch or
# a second click between a Render click and the page's own code (the window in which a click that the
# page submitted itself would be lost). Unset in normal use.
RUN_DELAY_ENV = "FEATVIZ_TEST_RUN_DELAY_S"


def settings_panel(key: str, *, start_open: bool):
    """An expander titled "Settings" whose open state lives in ``st.session_state[key]``.

    ``start_open`` is its state when the page shows it anew (first visit, back from another page);
    afterwards the person's clicks and :func:`fold` decide.
    """
    return st.expander("Settings", expanded=start_open, key=key, on_change="rerun", icon=":material/tune:")


def fold(key: str) -> None:
    """Close the settings panel ``key`` (before the page draws it), so a render shows in its place."""
    st.session_state[key] = False


def start_on_click(key: str, start: Callable[..., bool], *args) -> None:
    """A Render button's ``on_click``: ``start(*args)`` validates the settings and submits the render
    (returning whether it was accepted, with the reason in the page's slot when not); an accepted render
    folds the panel ``key``, a refused one leaves it open so the settings can be fixed."""
    if start(*args):
        fold(key)


def test_run_delay() -> None:
    """Wait :data:`RUN_DELAY_ENV` seconds when that variable is set (tests only; see its comment)."""
    delay = os.environ.get(RUN_DELAY_ENV, "")
    if delay:
        time.sleep(float(delay))
