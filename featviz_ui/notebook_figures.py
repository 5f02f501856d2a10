"""The seed notebook's figures as one-click buttons: each fills in a page's form and starts the render, on the
model in use (its default layer: mixed4a for InceptionV1, _blocks.10 for EfficientNet-Lite0)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import streamlit as st


@dataclass(frozen=True)
class NotebookFigure:
    """A figure of the seed notebook: which channels of the default layer, how many steps, how large."""

    name: str
    title: str
    channels: tuple[int, ...]
    steps: int
    size: int
    compare_pixels: bool = False  # the Neuron page also optimizes the channel in plain pixels

    def request(self, model: str):
        """The RenderRequest of this figure for ``model`` (Lucid's settings otherwise)."""
        from featviz_core.models import get_spec
        from featviz_core.request import RenderRequest

        return RenderRequest(model=model, layer=get_spec(model).default_layer, channels=self.channels,
                             steps=self.steps, size=self.size)

    def label(self, model: str) -> str:
        from featviz_core.models import get_spec
        from featviz_core.objectives.targets import channels_text

        what = channels_text(self.channels)
        return f"{self.title}: {get_spec(model).default_layer} {what}, {self.steps} steps, {self.size} px"


SEED_GRID = NotebookFigure("grid", "Grid", tuple(range(10)), steps=512, size=128)
FFT_VS_PIXEL = NotebookFigure("fft_vs_pixel", "Fourier vs pixels", (5,), steps=256, size=128, compare_pixels=True)
HIGH_RES = NotebookFigure("high_res", "High resolution", (3,), steps=1024, size=256)


def buttons(figures: tuple[NotebookFigure, ...], model: str, *, key: str,
            on_pick: Callable[[NotebookFigure], object]) -> None:
    """A row of figure buttons (draw it before the form it fills). Pressing one calls ``on_pick(figure)`` in
    the button's callback, which fills in the form and starts the render (a click is never lost to an
    interrupted script run; see :mod:`featviz_ui.layout`)."""
    row = st.container(horizontal=True, vertical_alignment="center")
    row.markdown("**The seed notebook's figures:**")
    for figure in figures:
        row.button(figure.label(model), key=f"{key}_{figure.name}", icon=":material/auto_awesome:",
                   help="Fills in the form with this figure's settings and renders it.", on_click=on_pick,
                   args=(figure,))
