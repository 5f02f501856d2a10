"""Helpers for AppTest-driven page tests: rerun until a render is done, read slots, set form widgets."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "app.py"
RUN_TIMEOUT_S = 180  # one script run; the Method page renders three tiny examples on a loaded 2-core CPU
LAYER = "_blocks.10"  # efficientnet-lite0's default layer (112 channels)
DEFAULT_LAYER = {"efficientnet-lite0": LAYER, "inceptionv1": "mixed4a"}
CHANNELS = {"efficientnet-lite0": 112, "inceptionv1": 508}  # of each model's default layer
TITLES = {"efficientnet-lite0": "EfficientNet-Lite0 (ImageNet)",
          "inceptionv1": "InceptionV1 (GoogLeNet, Lucid's inception5h)"}


def run_until(at: AppTest, done: Callable[[AppTest], bool], *, timeout_s: float = 300.0, every_s: float = 0.5,
              what: str = "the condition") -> AppTest:
    """Rerun ``at`` (as the page's polling fragment would) until ``done(at)`` holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        if at.exception:
            raise AssertionError(f"the app raised: {[e.value for e in at.exception]}")
        if done(at):
            return at
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)
        at.run()


def service():
    from featviz_core.service import get_service

    return get_service()


def submitted(at: AppTest):
    """The request the Explorer queued (or showed from the cache) last."""
    state = slot(at, "explorer")
    return service().get(state.job_id).request if state.job_id else state.result.request


def slot(at: AppTest, name: str):
    """The session's render slot ``name`` (see featviz_ui.slots.Slot)."""
    return at.session_state["featviz_slots"][name]


def render_finished(name: str) -> Callable[[AppTest], bool]:
    def done(at: AppTest) -> bool:
        if "featviz_slots" not in at.session_state or name not in at.session_state["featviz_slots"]:
            return False
        state = slot(at, name)
        return state.job_id is None and (state.result is not None or bool(state.error))

    return done


def widget_by_key(at: AppTest, key: str):
    for kind in ("number_input", "text_input", "toggle", "selectbox", "button"):
        try:
            return getattr(at, kind)(key=key)
        except KeyError:
            continue
    raise KeyError(key)


def set_form(at: AppTest, prefix: str = "ex", **values) -> AppTest:
    """Set form widgets by key suffix: ``set_form(at, first=0, last=2, steps=6)`` sets ex_first, ..."""
    for name, value in values.items():
        widget_by_key(at, f"{prefix}_{name}").set_value(value)
    return at


def press_render(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == "Render").click()
    return at.run()


def captions(at: AppTest) -> list[list[str]]:
    return [list(image.captions) for image in at.image]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def add_network(at: AppTest, name: str, random: bool) -> AppTest:
    """Name a network in the sidebar's "Any network" form (with its random-weights checkbox when ``random``)."""
    at.sidebar.text_input(key="any_network_name").input(name)
    if random:
        at.sidebar.checkbox(key="any_network_random").check()
    form_button = [b for b in at.sidebar.get("button") if b.proto.label == "Add to the picker"][0]
    form_button.click()
    return at.run()
