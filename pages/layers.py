"""Layers: the chosen model's layers, what each stage of the network tends to detect, and a way to open a
layer in the Explorer."""

from __future__ import annotations

import streamlit as st

from featviz_ui import model_choice
from featviz_ui.shell import require_entry_point

require_entry_point()

EXPLORER_PAGE = "pages/explorer.py"
REFERENCE_MODEL = "inceptionv1"

st.title("Layers")

from featviz_core.models import get_spec  # noqa: E402  (torch-heavy: imported when the page runs)

picked = model_choice.selected_model()
spec = get_spec(picked)
available, _ = model_choice.status(picked)
st.caption(f"{spec.title}. {spec.description} Channel counts and spatial sizes are for a 224 px input.")
if not available:
    st.warning(f"{spec.title} has no weights on this machine (see the sidebar), so its layers can be listed "
               f"but not rendered; renders use {model_choice.fallback_model()}.", icon=":material/download:")

main_only = st.toggle("Main layers only", value=True, key="ly_main_only",
                      help="Off: every module with a 4-D output that runs once per forward pass.")
rows = model_choice.layers(picked, featured_only=main_only)
table = [{"layer": info.name, "channels": info.channels, "spatial size": f"{info.height}×{info.width}"}
         for info in rows]
st.markdown("Select a row to open that layer in the Explorer.")
event = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="single-row", key="ly_table",
                     height=min(38 + 35 * len(table), 460), width="stretch")
selected = event.selection.rows if event is not None else []
layer = rows[selected[0]].name if selected else spec.default_layer
st.page_link(EXPLORER_PAGE, label=f"Open {layer} in the Explorer", icon=":material/grid_view:",
             query_params={"model": picked, "layer": layer}, disabled=not available,
             help=None if available else "This model's weights are missing.")


def stage_table(notes) -> None:
    st.dataframe([{"layers": layers, "tend to detect": detects} for layers, detects in notes],
                 hide_index=True, width="stretch")


st.subheader("What each stage tends to detect")
st.markdown("Early layers respond to edges and colors; each later stage combines the one before into "
            "larger and more specific patterns, up to object parts and whole objects near the output.")
stage_table(spec.stage_notes)
if picked != REFERENCE_MODEL:
    reference = get_spec(REFERENCE_MODEL)
    with st.expander(f"{reference.title}: the network of the Distill articles"):
        stage_table(reference.stage_notes)
        st.caption("mixed4a, a favourite of the Circuits articles, sits where features turn from textures "
                   "into recognisable parts; it has 508 channels.")
