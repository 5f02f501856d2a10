"""Shareable links: the Explorer's URL query parameters describe a render.

``?model=efficientnet-lite0&layer=_blocks.10&channels=0-9&steps=512&size=128&seed=0`` opens the Explorer
with those settings and renders them (a finished render comes straight from the cache). The parameters
are read by :mod:`featviz_core.links` (as the ``warm`` command reads a links file) and validated by
``RenderRequest``, so a bad link gets the same messages as a bad form. After each render the URL is
rewritten to match it, so the address bar always holds a link to what is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from featviz_core.links import ALWAYS, OPTIONAL, RENDER_PARAMS, explorer_defaults, request_params
from featviz_ui import models

__all__ = ["ALWAYS", "OPTIONAL", "Intake", "explorer_defaults", "intake", "request_params", "sync", "take_intake"]

SEEN_KEY = "featviz_url_seen"
INTAKE_KEY = "featviz_url_intake"


@dataclass
class Intake:
    """What the URL asked for: a request to preset (and render when the link names channels), or why not."""

    request: object = None
    render: bool = False
    error: str = ""
    warning: str = ""


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
    if not values or values == st.session_state.get(SEEN_KEY):
        return
    st.session_state[SEEN_KEY] = values
    outcome = Intake(render="channels" in values)
    try:
        model = values.get("model", "auto").strip()
        model = models.fallback_model() if model == "auto" else get_spec(model).name
        available, message = models.status(model)
        if not available:
            fallback = models.fallback_model()
            outcome.warning = f"{message} This link is shown with {fallback} instead."
            values = {k: v for k, v in values.items() if k not in ("model", "layer")}
            model = fallback
        request = request_from_values(values, model=model)
    except FeatvizError as exc:
        outcome.error = f"This link's settings cannot be rendered: {exc}"
        outcome.render = False
    else:
        outcome.request = request
        st.session_state[models.MODEL_KEY] = request.model
    st.session_state[INTAKE_KEY] = outcome


def take_intake() -> Intake | None:
    """The URL's outcome not yet handled by the Explorer page (once)."""
    return st.session_state.pop(INTAKE_KEY, None)


def sync(request) -> None:
    """Make the URL reproduce ``request`` (the render on screen)."""
    params = request_params(request)
    if _url_values() != params:
        for stale in set(_url_values()) - set(params):  # other parameters (e.g. a host's own) stay
            del st.query_params[stale]
        st.query_params.update(params)
    st.session_state[SEEN_KEY] = params
