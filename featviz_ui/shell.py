"""Make sure a page runs inside the app's shell (navigation and sidebar from app.py).

Streamlit treats an app that has a ``pages/`` folder as an old-style multipage app until ``st.navigation``
is first called in the process. On a freshly started server, a first visit straight to ``/neuron`` (say)
would therefore run ``pages/neuron.py`` on its own, without ``app.py``: no sidebar, and a navigation menu
listing raw file names, for every visitor until someone opens the start page. A page that finds itself in
that mode switches the process to ``st.navigation`` and reruns, so ``app.py`` draws the real shell.
"""

from __future__ import annotations

import streamlit as st


def require_entry_point() -> None:
    """Call first in every page file."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a future Streamlit without the old mode
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
