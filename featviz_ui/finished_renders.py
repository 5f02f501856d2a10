"""Show a render that is already finished (prepared ahead, or rendered before) without queueing anything."""

from __future__ import annotations

import streamlit as st

from featviz_ui.slots import Slot, current_job, service

FIRST_SCREEN_KEY = "featviz_first_screen_seen"
CACHED_NOTICE = "Shown from the cache: this exact request was rendered before."


def show(slot: Slot, request) -> bool:
    """Put the finished render of ``request`` into ``slot`` when one is stored; never queues a render.

    Returns whether it was found. A slot that follows a running render is left alone.
    """
    from featviz_core.service.prepared import prepared_result

    if current_job(slot) is not None:
        return False
    result = prepared_result(request, service().cache)
    if result is None:
        return False
    slot.result, slot.error, slot.notice = result, "", CACHED_NOTICE
    return True


def first_screen(slot: Slot, request) -> bool:
    """On a session's first visit to a page, show ``request`` (the page's default render) when it is
    prepared, so the page opens on images instead of an empty form. Once per session."""
    seen = st.session_state.setdefault(FIRST_SCREEN_KEY, set())
    if slot.name in seen:
        return False
    seen.add(slot.name)
    return slot.result is None and show(slot, request)
