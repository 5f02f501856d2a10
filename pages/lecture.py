"""Lecture: a list of renders prepared ahead of class, then shown one by one in the presentation view."""

from __future__ import annotations

import streamlit as st

from featviz_core.links import read_links
from featviz_ui import decks, preparing, present
from featviz_ui.shell import require_entry_point

require_entry_point()

BOX = "lec_links_box"  # the text area (its widget state is dropped when another page is shown)
LOADED = "lec_loaded_deck"  # (name, text) of the deck file last loaded into the list

st.title("Lecture")
st.caption("Collect the renders you want to show, prepare them before class so each opens at once, then "
           "present them full screen, one after another. A list holds one app link per line: copy it from "
           "the address bar after a render, or press **Add to lecture list** under a result. A Neuron page "
           "link (`/neuron?layer=...&channel=3`) prepares that channel as the page renders it, and its "
           "plain-pixel twin. Blank lines and lines starting with # are skipped; words after ` #` on a line "
           "become the slide's title.")
ss = st.session_state
if BOX not in ss:
    ss[BOX] = decks.session_list()


def keep_list() -> None:
    ss[decks.LIST_KEY] = ss[BOX]


def load_deck(name: str) -> None:
    from featviz_core.errors import FeatvizError

    try:
        text = decks.deck_text(name)
    except FeatvizError as exc:
        ss["lec_load_error"] = str(exc)
        return
    ss[BOX] = ss[decks.LIST_KEY] = text
    ss[LOADED] = (name, text)


names = decks.deck_names()
if names:
    pick, load = st.columns([3, 1], vertical_alignment="bottom")
    chosen = pick.selectbox("Prepared decks on this server", names, key="lec_deck",
                            help=f"Links files in {decks.decks_dir()} (FEATVIZ_DECKS_DIR).")
    load.button("Load into the list", on_click=load_deck, args=(chosen,), icon=":material/upload_file:")
if ss.get("lec_load_error"):
    st.error(ss.pop("lec_load_error"), icon=":material/error:")

st.text_area("Links, one per line", key=BOX, on_change=keep_list, height=220,
             placeholder="?model=efficientnet-lite0&layer=_blocks.10&channels=0-9&steps=512  # curve detectors")
keep_list()

lines = read_links(ss[BOX])
good = [line for line in lines if line.request is not None]
loaded = ss.get(LOADED)
from_file = loaded is not None and loaded[1] == ss[BOX]
slides = {"deck": loaded[0], "slide": "1"} if from_file else {"slide": "1"}

row = st.container(horizontal=True)
row.button("Prepare these renders", type="primary", icon=":material/bolt:", disabled=not good,
           on_click=preparing.start, args=(lines,),
           help="Render every link not prepared yet into the cache, one at a time (keep this tab open).")
row.button("Present from slide 1", icon=":material/slideshow:", disabled=not lines, on_click=present.enter,
           args=(slides,), help="Full screen, one slide at a time, with Previous and Next.")
if from_file:
    st.caption(f"Link to present this deck: `?present=1&deck={loaded[0]}` (add `&slide=3` to start at slide 3). "
               f"Prepare it from a shell with `python -m featviz_core warm {decks.decks_dir() / loaded[0]}.txt`.")

run = preparing.current()
if run is not None and not run.done:
    preparing.follow()
else:
    if run is not None:
        st.success(f"Prepared: {preparing.summary(run)}.", icon=":material/task_alt:")
    if lines:
        preparing.table(lines)
