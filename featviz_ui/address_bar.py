"""Shareable links: the Explorer's URL query parameters describe a render.

``?model=efficientnet-lite0&layer=_blocks.10&channels=0-9&steps=512&size=128&seed=0`` opens the Explorer
with those settings and renders them (a finished render comes straight from the cache). The parameters
are read by :mod:`featviz_core.links` (as the ``warm`` command reads a links file) and validated by
``RenderRequest``, so a bad link gets the same messages as a bad form. After each render the URL is
rewritten to match it, so the address bar always holds a link to what is shown.

A link names its model, and only that model renders it: when the model's weights are missing, the link
waits (the sidebar offers the download) and renders once they are in place; it never shows another
model's channels in its place.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from featviz_core.links import ALWAYS, OPTIONAL, RENDER_PARAMS, explorer_defaults, names_render, request_params
from featviz_ui import model_choice

__all__ = ["ALWAYS", "OPTIONAL", "Intake", "explorer_defaults", "intake", "page_model", "request_params", "sync",
           "take_intake", "waiting_notice"]

SEEN_KEY = "featviz_url_seen"
INTAKE_KEY = "featviz_url_intake"
WAITING_KEY = "featviz_url_waiting"  # a link's values, kept until its model's weights are here
PAGE_MODEL_KEY = "featviz_url_page_model"  # the model a Neuron page link named, once taken


@dataclass
class Intake:
    """What the URL asked for: a request to preset (and render when the link names channels), or why not.
    A link whose model has no weights yet gives no intake: it waits (:func:`waiting_notice`)."""

    request: object = None
    render: bool = False
    error: str = ""


def _url_values() -> dict[str, str]:
    return {key: st.query_params[key] for key in st.query_params.keys() if key in RENDER_PARAMS}


def intake() -> None:
    """Read new Explorer query parameters (call before the sidebar: a link may choose the model).

    The outcome waits in session state for the Explorer page (:func:`take_intake`).
    """
    from featviz_core.errors import FeatvizError
    from featviz_core.links import request_from_values
    from featviz_core.models import get_spec

    values = _url_values()
    waiting = st.session_state.get(WAITING_KEY)
    if waiting is not None and model_choice.status(waiting["model"])[0]:
        values = st.session_state.pop(WAITING_KEY)  # the weights arrived: the waiting link goes ahead
    elif not values or values == st.session_state.get(SEEN_KEY):
        return
    st.session_state[SEEN_KEY] = values
    st.session_state.pop(WAITING_KEY, None)
    outcome = Intake(render=names_render(values))
    try:
        model = values.get("model", "auto").strip()
        model = model_choice.fallback_model() if model == "auto" else get_spec(model).name
        request = request_from_values(values, model=model)  # checked first: no download for a bad link
        if not model_choice.status(model)[0]:
            st.session_state[model_choice.MODEL_KEY] = model  # the sidebar offers this model's weights
            st.session_state[WAITING_KEY] = {**values, "model": model}
            return
    except FeatvizError as exc:
        outcome.error = f"This link's settings cannot be rendered: {exc}"
        outcome.render = False
    else:
        outcome.request = request
        st.session_state[model_choice.MODEL_KEY] = request.model
    st.session_state[INTAKE_KEY] = outcome


def page_model() -> None:
    """A Neuron page link's ``model`` (``/neuron?model=...&layer=...&channel=3``) picks the sidebar's model,
    once per link: call it before the sidebar draws its picker. A name that is no model is left out (the
    sidebar keeps its model); a model whose weights are missing is picked, and the sidebar offers them."""
    from featviz_core.errors import FeatvizError
    from featviz_core.models import get_spec

    wanted = (st.query_params.get("model") or "").strip()
    if not wanted or wanted == st.session_state.get(PAGE_MODEL_KEY):
        return
    st.session_state[PAGE_MODEL_KEY] = wanted
    try:
        st.session_state[model_choice.MODEL_KEY] = model_choice.fallback_model() if wanted == "auto" else get_spec(wanted).name
    except FeatvizError:
        return


def take_intake() -> Intake | None:
    """The URL's outcome not yet handled by the Explorer page (once)."""
    return st.session_state.pop(INTAKE_KEY, None)


def waiting_notice() -> str:
    """What a link that waits for its model's weights shows ("" when no link waits)."""
    from featviz_core.models import get_spec
    from featviz_core.models.fetch import download_offer

    waiting = st.session_state.get(WAITING_KEY)
    if waiting is None:
        return ""
    from featviz_core.links import request_from_values
    from featviz_core.objectives.targets import format_channels

    spec = get_spec(waiting["model"])
    request = request_from_values(waiting, model=spec.name)  # checked when the link arrived
    what = f"channels {format_channels(request.channels)} of " if request.channels else ""
    layer = request.layer
    if download_offer(spec.name) is not None:
        return (f"This link shows {what}{layer} in **{spec.title}**, whose weights are not on this machine yet. "
                "Download them in the sidebar: the link renders as soon as they are in place. Nothing is "
                "rendered with another model in its place.")
    return (f"This link shows {what}{layer} in **{spec.title}**, whose weights are not available: "
            f"{model_choice.status(spec.name)[1]} Nothing is rendered with another model in its place.")


def sync(request) -> None:
    """Make the URL reproduce ``request`` (the render on screen)."""
    params = request_params(request)
    if _url_values() != params:
        for stale in set(_url_values()) - set(params):  # other parameters (e.g. a host's own) stay
            del st.query_params[stale]
        st.query_params.update(params)
    st.session_state[SEEN_KEY] = params
