"""Presentation view: only the result, tiles as large as the screen allows, captions readable from afar.

Opened by the "Presentation view" toggle under a result, or by a link with ``present=1``:

- ``?present=1&deck=NAME&slide=3``: slide 3 of the deck file NAME (see :mod:`featviz_ui.decks`);
- ``?present=1&model=...&layer=...&channels=...``: that render alone;
- ``?present=1&slide=2``: slide 2 of this session's list (Lecture page), else the Explorer's result.

There is no form and no sidebar: ``app.py`` hides the navigation and draws no sidebar in this view, so
the browser has none to show (a sidebar state set in the page config would only apply on a fresh load).
Previous / Next step through the deck without touching any page's settings: the view renders into a slot
of its own, and a slide that was prepared (``warm``, or rendered before) shows at once.
"""

from __future__ import annotations

import streamlit as st

from featviz_ui import decks, model_choice, slides, views, weights
from featviz_ui.slots import get_slot, poll, stop, submit

PRESENT, DECK, SLIDE = "present", "deck", "slide"
SLOT = "present"
RETURN_KEY = "featviz_present_return"  # the query parameters to restore when the view is left
ON_KEY = "featviz_present_on"
ASKED_KEY = "featviz_present_asked"  # the key of the request the view last asked for
POLL_S = 0.5


def requested() -> bool:
    """Whether this run shows the presentation view (``present=1`` in the URL)."""
    return st.query_params.get(PRESENT) == "1"


def enter(params: dict[str, str]) -> None:
    """Open the view on ``params`` (a callback); the page's own parameters come back on :func:`leave`."""
    st.session_state[RETURN_KEY] = st.query_params.to_dict()
    st.session_state.pop(ASKED_KEY, None)
    st.query_params.from_dict({PRESENT: "1", **params})


def leave() -> None:
    """Back to the page the view was opened from, with its parameters (a callback). A slide still
    rendering stops (it keeps nobody waiting in the queue); showing it again starts it anew."""
    stop(get_slot(SLOT))
    st.session_state.pop(ASKED_KEY, None)
    saved = st.session_state.pop(RETURN_KEY, None)
    if saved is not None:
        st.query_params.from_dict(saved)
        return
    for name in (PRESENT, DECK, SLIDE):  # opened by a link: keep what else it said
        if name in st.query_params:
            del st.query_params[name]


def _toggled(key: str, params: dict[str, str]) -> None:
    if st.session_state.get(key):
        enter(params)


def _add(link: str) -> None:
    number = decks.add_to_list(link)
    st.toast(f"On the Lecture page's list as slide {number}.", icon=":material/playlist_add:")


def controls(request, *, key: str) -> None:
    """Under a result: the presentation toggle (shows ``request`` alone) and "Add to lecture list"."""
    from featviz_core.links import link_query, request_params

    row = st.container(horizontal=True, vertical_alignment="center")
    row.toggle("Presentation view", key=f"{key}_present", on_change=_toggled,
               args=(f"{key}_present", request_params(request)),
               help="Only the images, as large as the screen allows, with large captions (for a projector).")
    row.button("Add to lecture list", key=f"{key}_add_slide", on_click=_add, args=(link_query(request),),
               icon=":material/playlist_add:", help="Collect renders for a lecture on the Lecture page.")


def _go(number: int) -> None:
    st.query_params[SLIDE] = str(number)


def show(background: tuple[str, ...] = ()) -> None:
    """The presentation view. ``background``: other slots whose renders are kept alive meanwhile."""
    deck = slides.current_deck()
    count = len(deck.lines)
    number, warning = slides.slide_number(st.query_params.get(SLIDE), count)
    slides.style()
    bar = st.container(horizontal=True, vertical_alignment="center", key="featviz-present-bar")
    st.session_state[ON_KEY] = True
    bar.toggle("Presentation view", key=ON_KEY, on_change=leave, help="Back to the page, with its settings.")
    if count > 1:
        bar.button("Previous", icon=":material/arrow_back:", on_click=_go, args=(number - 1,),
                   disabled=number <= 1, key="featviz_present_previous")
        bar.button("Next", icon=":material/arrow_forward:", on_click=_go, args=(number + 1,),
                   disabled=number >= count, key="featviz_present_next")
    _keep_alive(background)
    if deck.error or not count:
        bar.markdown(f"**{deck.label}**")
        st.error(deck.error or "Nothing to present yet: render something, or open a deck "
                 "(?present=1&deck=NAME) or the Lecture page's list.", icon=":material/error:")
        return
    line = deck.lines[number - 1]
    where = f" · slide {number} of {count}" if count > 1 else ""
    bar.html(slides.title_html(line, f"{deck.label}{where}"))
    if warning:
        st.warning(warning, icon=":material/warning:")
    if line.error:
        st.error(f"Line {line.number} of {deck.label} cannot be shown: {line.error}", icon=":material/error:")
        return
    if not model_choice.status(line.request.model)[0]:  # the slide waits for its model; it never shows another
        waiting = "This slide is shown as soon as they are in place; nothing is shown with another model."
        if not weights.offer(line.request.model, meanwhile=waiting):
            st.error(f"This slide needs {line.request.model}, whose weights are not available: "
                     f"{model_choice.status(line.request.model)[1]}", icon=":material/error:")
        return
    slot = get_slot(SLOT)
    if st.session_state.get(ASKED_KEY) != line.request.key():  # once per slide shown, even if it fails
        st.session_state[ASKED_KEY] = line.request.key()
        shown = slot.result.request if slot.result is not None else None
        if shown != line.request:
            submit(slot, line.request)  # a prepared slide comes back at once; others join the render queue
    if poll(slot) is not None:
        _live(slot)
    elif slot.result is not None and slot.result.request == line.request:
        slides.big_grid(slot.result.images, slot.result.labels)
    if slot.error:
        st.error(slot.error, icon=":material/error:")


@st.fragment(run_every=POLL_S)
def _live(slot) -> None:
    """Progress and the current images of a slide that is still rendering."""
    job = poll(slot)
    if job is None:
        st.rerun()
    views.progress_panel(slot, job)
    if job.snapshot is not None:
        slides.big_grid(job.snapshot.images, job.request.labels(), reserve_rem=3.5)


def _keep_alive(names: tuple[str, ...]) -> None:
    """Poll the pages' running renders (the sidebar does it elsewhere), so presenting does not cancel them."""
    if any(poll(get_slot(name)) is not None for name in names):
        _poll_background(names)


@st.fragment(run_every=2.0)
def _poll_background(names: tuple[str, ...]) -> None:
    for name in names:
        poll(get_slot(name))
