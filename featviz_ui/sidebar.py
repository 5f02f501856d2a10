"""The sidebar every page shares: the model picker with each model's availability (and a download of
missing weights), the device in use, the render queue, and a keep-alive for renders started on another
page."""

from __future__ import annotations

import streamlit as st

from featviz_ui import model_choice, weights
from featviz_ui.slots import get_slot, poll

STATUS_S = 2.0


def _model_label(name: str) -> str:
    # The label never changes with availability: the browser sends the picked label back, and a label
    # that changed when weights arrived would no longer match any option.
    from featviz_core.models import get_spec

    return get_spec(name).title


def _picker_help(names: list[str]) -> str:
    from featviz_core.models import get_spec

    missing = [get_spec(name).title for name in names if not model_choice.status(name)[0]]
    text = "The network whose neurons are visualized."
    if missing:
        text += " Weights missing on this machine: " + "; ".join(missing) + " (pick it to see how to get them)."
    return text


def draw(background_slots: tuple[str, ...] = ()) -> None:
    """Draw the sidebar. ``background_slots``: render slots of other pages to keep alive while this page
    is open (a render goes on when its page is left; only closing the tab cancels it)."""
    from featviz_core.device import default_device
    from featviz_core.models import get_spec

    names = model_choice.model_names()
    if st.session_state.get(model_choice.MODEL_KEY) not in names:
        st.session_state[model_choice.MODEL_KEY] = model_choice.fallback_model()
    with st.sidebar:
        st.selectbox("Model", names, key=model_choice.MODEL_KEY, format_func=_model_label, help=_picker_help(names))
        picked = model_choice.selected_model()
        available, message = model_choice.status(picked)
        spec = get_spec(picked)
        if available:
            st.caption(spec.description)
        elif not weights.offer(picked):  # weights from a package or a set path: say what is wrong
            st.warning(f"{message}\n\nUntil then featviz uses **{model_choice.fallback_model()}**.",
                       icon=":material/download:")
        import torch

        device = default_device()
        if device.type == "cuda":
            device_text = f"CUDA ({torch.cuda.get_device_name(device)})"
        else:
            device_text = f"CPU ({torch.get_num_threads()} threads)"
        st.caption(f"Device: **{device_text}**")
        _status(background_slots)


@st.fragment(run_every=STATUS_S)
def _status(slot_names: tuple[str, ...]) -> None:
    """The render queue's load, refreshed on its own; and a poll of renders started on other pages, so
    they keep running while another page is shown."""
    from featviz_ui.slots import service

    stats = service().stats()
    st.caption(f"Render queue: {stats['running']} running, {stats['queued']} waiting")
    for name in slot_names:
        slot = get_slot(name)
        job = poll(slot)
        if job is not None:
            snapshot = job.snapshot
            where = name.split("_")[0].capitalize()
            step = f"step {snapshot.step} of {snapshot.steps}" if snapshot else "starting"
            st.caption(f":material/autorenew: {where} render: {step}")
