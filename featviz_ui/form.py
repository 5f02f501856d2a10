"""Form widgets derived from the settings' declarations (:mod:`featviz_core.settings`).

A page chooses where each setting goes (``draw(container, "steps", prefix)``); the widget kind, label, help,
step and format come from the declaration, and so do the values a request puts into the form
(:func:`fill`), the form's starting values (:func:`set_defaults`) and the values read back
(:func:`values`). The page only draws itself what depends on the model (the layer, the channels).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from featviz_core.settings import BY_NAME, SETTINGS, Setting

FORM_SETTINGS = tuple(s.name for s in SETTINGS if s.widget is not None)


def key(prefix: str, name: str) -> str:
    """The session-state key of a setting's widget on a page (``ex_steps``)."""
    return f"{prefix}_{name}"


def _widget_value(setting: Setting, value: Any) -> Any:
    # number_input keeps the type of its value: floats stay floats (a float setting at 0 must not become an int)
    return float(value) if setting.kind == "float" else value


def fill(request: Any, prefix: str) -> None:
    """Put a request's settings into the form's widgets (call before they are drawn)."""
    for name in FORM_SETTINGS:
        st.session_state[key(prefix, name)] = _widget_value(BY_NAME[name], getattr(request, name))


def set_defaults(request: Any, prefix: str) -> None:
    """Start empty widgets at ``request``'s values (widgets already set keep theirs)."""
    for name in FORM_SETTINGS:
        st.session_state.setdefault(key(prefix, name), _widget_value(BY_NAME[name], getattr(request, name)))


def values(prefix: str) -> dict[str, Any]:
    """The form's settings as request values (validated by the request)."""
    out = {}
    for name in FORM_SETTINGS:
        value = st.session_state.get(key(prefix, name))
        if value is None:
            continue
        setting = BY_NAME[name]
        # Typed values as the widgets give them; text goes through the declaration's reading (trimmed, bounded)
        # exactly as a link's does.
        out[name] = int(value) if setting.kind == "int" else float(value) if setting.kind == "float" \
            else setting.parse(value)
    return out


def draw(container: Any, name: str, prefix: str, **overrides: Any) -> Any:
    """Draw setting ``name``'s widget in ``container`` (a column, a form, an expander); returns its value."""
    setting = BY_NAME[name]
    options: dict[str, Any] = {"key": key(prefix, name), "help": setting.help[:1].upper() + setting.help[1:] + "."}
    options.update(overrides)
    if setting.widget == "toggle":
        return container.toggle(setting.label, **options)
    if setting.widget == "select":
        return container.selectbox(setting.label, setting.allowed(), **options)
    if setting.widget == "text":
        if setting.note:
            options.setdefault("placeholder", "e.g. " + setting.note.strip().strip("'"))
        return container.text_input(setting.label, **options)
    if setting.widget == "number":
        # Only "cannot be negative" is left to the widget; every other bound is the request's, so an input
        # out of range gets its message (what was wrong and what is allowed) instead of being clamped.
        if setting.low == 0 and not setting.low_open:
            options.setdefault("min_value", 0.0 if setting.kind == "float" else 0)
        if setting.step is not None:
            options.setdefault("step", float(setting.step) if setting.kind == "float" else int(setting.step))
        if setting.format:
            options.setdefault("format", setting.format)
        return container.number_input(setting.label, **options)
    raise ValueError(f"setting {name} has no widget")  # a page asked for a setting it must draw itself


Row = tuple[tuple[str, ...], tuple[int, ...]]  # setting names and their columns' relative widths

#: The Explorer's folded panels: (title, rows). A setting declared with a widget goes in one of them or in
#: the form's first rows; the settings round-trip test checks that every one is drawn.
OBJECTIVE_PANEL: tuple[str, tuple[Row, ...]] = (
    "Objective: neuron, whole layer, negation, free expression",
    ((("objective", "position", "negate"), (2, 2, 1)), (("expression",), (1,))),
)
BEYOND_PANEL: tuple[str, tuple[Row, ...]] = (
    "Beyond one image per channel: negatives, diversity, interpolation, transparency",
    ((("negative", "diversity", "diversity_weight"), (2, 1, 1)), (("interpolate", "frames"), (3, 1)),
     (("alpha", "alpha_weight", "upsample"), (1, 1, 2))),
)


def draw_rows(container: Any, rows: tuple[Row, ...], prefix: str) -> None:
    """Each row's settings side by side in columns of the given widths."""
    for names, widths in rows:
        for column, name in zip(container.columns(list(widths)), names):
            draw(column, name, prefix)
