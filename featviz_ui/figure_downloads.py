"""The figures under a finished render: the detailed view (the first four channels enlarged with Lanczos
resampling) and the titled summary figure with the method's settings under it, each with a PNG download.
Both are off until asked for, so a result stays quick to show."""

from __future__ import annotations

import streamlit as st

FIGURES_KEY = "featviz_figures"


def _png(kind: str, result, title: str = "") -> bytes:
    """The figure's PNG, made once per result, title and session."""
    from featviz_core.outputs.export import png_bytes
    from featviz_core.outputs.figures import detail_image, summary_figure

    cache = st.session_state.setdefault(FIGURES_KEY, {})
    key = (kind, result.request.key(), result.steps_done, result.stopped, title)
    if key not in cache:
        if len(cache) > 8:
            cache.clear()
        if kind == "detail":
            figure = detail_image(result.images, result.labels)
        else:
            figure = summary_figure(result.images, result.labels, result.request, title=title,
                                    steps_done=result.steps_done)
        cache[key] = png_bytes(figure)
    return cache[key]


def figure_options(result, *, key: str, stem: str) -> None:
    """Toggles for the detailed view and the summary figure of ``result``; downloads named ``stem``-*.png."""
    from featviz_core.outputs.figures import DETAIL_SIDE
    from featviz_core.words import default_title

    left, right = st.columns(2)
    count = min(4, len(result.images))
    detail = left.toggle(f"Detailed view ({count} image{'s' if count > 1 else ''}, enlarged)", key=f"{key}_detail",
                         help=f"Each image enlarged to {DETAIL_SIDE} px with Lanczos resampling, labelled.")
    summary = right.toggle("Summary figure", key=f"{key}_summary",
                           help="The grid under a title, with the method's settings written below it.")
    if detail:
        data = _png("detail", result)
        st.image(data, width="stretch")
        st.download_button("Download detailed view (PNG)", data, file_name=f"{stem}_detail.png", mime="image/png",
                           key=f"{key}_detail_png", on_click="ignore", icon=":material/image:")
    if summary:
        title = st.text_input("Figure title", value=default_title(result.request), key=f"{key}_title")
        data = _png("summary", result, title)
        st.image(data, width="content")
        st.download_button("Download summary figure (PNG)", data, file_name=f"{stem}_summary.png", mime="image/png",
                           key=f"{key}_summary_png", on_click="ignore", icon=":material/image:")
