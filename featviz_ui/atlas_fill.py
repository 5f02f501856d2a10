"""The Gallery's view of the atlas this server fills by itself (featviz_core.service.filler): what is being
filled and how far, and "Render this layer now". Visitors see no server path and no command."""

from __future__ import annotations

import streamlit as st

FILL_LAYER_KEY = "ga_fill_layer"
POLL_S = 2.0


def filler():
    """The shared render service's atlas filler (None when the service has none)."""
    from featviz_ui.slots import service

    return getattr(service(), "filler", None)


def render_layer_now(model: str, layer: str) -> None:
    """The button's ``on_click``: queue ``layer``'s missing channels at background priority (a callback,
    so the click is never lost to an interrupted run; see featviz_ui.layout)."""
    found = filler()
    if found is not None:
        found.fill_layer(model, layer)


def status_text(model: str) -> str:
    """One sentence on what this server fills for ``model`` ("" when nothing)."""
    found = filler()
    status = found.status(model) if found is not None else None
    if status is None:
        return ("This server fills an atlas by itself while nobody renders; it has not started yet."
                if found is not None and found.auto else "")
    return (f"This server is filling it while nobody renders: now {status.layer}, {status.done}/{status.total} "
            f"channels of that layer ({status.done_all}/{status.total_all} in all). Your own renders go first.")


def empty_gallery(model: str, stores_of) -> None:
    """The page when ``model`` has no atlas yet: progress of the background filling and "Render this layer
    now"; it reruns the page once a store of ``model`` appears (``stores_of(model)``)."""
    from featviz_core.atlas.lookup import find_stores

    from featviz_ui import model_choice as models

    others = sorted({store.model for store in find_stores()} - {model})
    hint = f" Atlases of {', '.join(others)} are here: pick that model in the sidebar." if others else ""
    st.info(f"No atlas of {model} on this server yet. Its images appear here as the server renders them.{hint}",
            icon=":material/photo_library:")

    @st.fragment(run_every=POLL_S)
    def progress() -> None:
        if stores_of(model):
            st.rerun()
        text = status_text(model)
        if text:
            st.caption(text)

    progress()
    available, reason = models.status(model)[0], ""
    if not available:
        reason = f"{model}'s weights are not on this server, so its channels cannot be rendered here."
    names = [info.name for info in models.layers(model, featured_only=True)]
    layer_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
    layer = layer_col.selectbox("Layer", names, key=FILL_LAYER_KEY)
    button_col.button("Render this layer now", key="ga_fill_now", icon=":material/play_arrow:",
                      disabled=bool(reason) or filler() is None, help=reason or None,
                      on_click=render_layer_now, args=(model, layer))
    st.caption(reason or "Renders every channel of the layer into the atlas, after any visitor's render.")
