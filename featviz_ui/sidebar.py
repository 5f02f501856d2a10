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
        _any_network()
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


NETWORK_INPUT = "any_network_name"
NETWORK_RANDOM = "any_network_random"
NETWORK_ERROR = "any_network_error"


def _use_network() -> None:
    """The "Any network" form's button (a callback: it runs before the picker is drawn, so it may pick)."""
    from featviz_core.errors import FeatvizError
    from featviz_core.models.sources import with_random_weights

    name = (st.session_state.get(NETWORK_INPUT) or "").strip()
    st.session_state.pop(NETWORK_ERROR, None)
    if not name:
        return
    try:
        if st.session_state.get(NETWORK_RANDOM):
            name = with_random_weights(name)
        st.session_state[model_choice.MODEL_KEY] = model_choice.add_network(name)
    except FeatvizError as exc:
        st.session_state[NETWORK_ERROR] = " ".join(str(exc).split())


def _any_network() -> None:
    """A form that adds any network to the picker: torchvision:NAME, timm:NAME or file:PATH.pt2."""
    with st.expander("Any network", expanded=NETWORK_ERROR in st.session_state):
        with st.form("any_network_form", border=False, enter_to_submit=False):
            st.text_input("Network", key=NETWORK_INPUT, placeholder="torchvision:resnet50",
                          help="torchvision:NAME (every torchvision classifier), timm:NAME when timm is installed, or "
                               "file:PATH.pt2 (a torch.export program); add ?weights=PATH for your state dict")
            st.checkbox("Random weights (an untrained network)", key=NETWORK_RANDOM,
                        help="Only when asked: every image and its metadata say so.")
            st.form_submit_button("Add to the picker", on_click=_use_network)
        if NETWORK_ERROR in st.session_state:
            st.error(st.session_state[NETWORK_ERROR])


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
