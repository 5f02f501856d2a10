"""Model choice, shared by every page: which model is picked, which one is used, and its layers."""

from __future__ import annotations

import streamlit as st

MODEL_KEY = "model"  # the sidebar's model picker
_weights_generation = 0  # counts weight files that arrived in this process (featviz_ui.weights)


def weights_arrived() -> None:
    """A model's weights were just put in place (any thread): every page checks availability again."""
    global _weights_generation
    _weights_generation += 1


def status(name: str) -> tuple[bool, str]:
    """(available, message) of a model's weights, checked without the network."""
    return _status(name, _weights_generation)


@st.cache_data(ttl=30, show_spinner=False)
def _status(name: str, generation: int) -> tuple[bool, str]:
    """``generation`` (weights arrived so far) is part of the cache key: a new file is seen at once."""
    from featviz_core.models import model_status

    found = model_status(name)
    return found.available, found.message


def shared_model(name: str):
    """The frozen eval-mode model on this process's device: the core's one copy per process, which it
    reloads when the weight file is replaced, so the app never keeps weights older than the renders'."""
    from featviz_core.device import default_device
    from featviz_core.models import is_loaded, load_model

    device = default_device()
    if is_loaded(name, device):
        return load_model(name, device)
    with st.spinner("Loading the model ..."):
        return load_model(name, device)


def model_names() -> list[str]:
    from featviz_core.models import REGISTRY

    return list(REGISTRY)


def fallback_model() -> str:
    from featviz_core.models import default_model_name

    return default_model_name()


def selected_model() -> str:
    """The model picked in the sidebar (its weights may be missing)."""
    name = st.session_state.get(MODEL_KEY)
    return name if name in model_names() else fallback_model()


def current_model() -> str:
    """The model renders use: the picked one, or the default model when its weights are missing."""
    name = selected_model()
    return name if status(name)[0] else fallback_model()


def layers(name: str, *, featured_only: bool = False, always: tuple[str, ...] = ()):
    """LayerInfo rows of ``name`` (channels and size at a 224 px input), in network order."""
    from featviz_core.models import get_spec, layer_table

    table = layer_table(name, 224)
    if not featured_only:
        return table
    keep = set(get_spec(name).featured_layers) | set(always)
    return tuple(info for info in table if info.name in keep)


def layer_label(info) -> str:
    return f"{info.name} · {info.channels} channels · {info.height}×{info.width}"
