"""The seed's figures, one click each, on the model in use: the grid preset on the Explorer, the Fourier
versus pixels and the high-resolution presets on the Neuron page, and under a result the detailed view
(Lanczos, 512 px per image) and the titled summary figure."""

from __future__ import annotations

import io

from app_helpers import DEFAULT_LAYER, errors, press_render, render_finished, run_until, service, set_form, slot
from PIL import Image


def job_of(at, name: str):
    state = slot(at, name)
    return service().get(state.job_id) if state.job_id else None


def test_the_grid_preset_renders_channels_0_9_of_the_default_layer(new_app, model):
    from featviz_core.request import RenderRequest

    at = new_app().run()
    at.sidebar.selectbox(key="model").set_value(model).run()
    button = at.button(key="ex_preset_grid")
    assert button.label == f"Grid: {DEFAULT_LAYER[model]} channels 0-9, 512 steps, 128 px"
    button.click().run()
    assert not errors(at) and not at.exception
    job = job_of(at, "explorer")
    assert job is not None, "one click starts the render"
    assert job.request == RenderRequest(model=model, layer=DEFAULT_LAYER[model], channels=tuple(range(10)),
                                        steps=512, size=128)
    # The form shows the figure's settings.
    assert (at.number_input(key="ex_first").value, at.number_input(key="ex_last").value) == (0, 9)
    assert (at.number_input(key="ex_steps").value, at.number_input(key="ex_size").value) == (512, 128)
    assert at.selectbox(key=f"ex_layer_{model}").value == DEFAULT_LAYER[model]


def test_the_neuron_presets_render_fourier_vs_pixels_and_the_high_resolution_neuron(new_app, model):
    at = new_app().run()
    at.sidebar.selectbox(key="model").set_value(model).run()
    at.switch_page("pages/neuron.py").run()
    layer = DEFAULT_LAYER[model]

    at.button(key="ne_preset_fft_vs_pixel").click().run()
    main, pixel = job_of(at, "neuron"), job_of(at, "neuron_pixel")
    assert (main.request.layer, main.request.channels, main.request.steps, main.request.size) == (layer, (5,), 256, 128)
    assert main.request.fft and main.request.decorrelate and main.request.model == model
    assert pixel.request == main.request.replace(fft=False, decorrelate=False)

    at.button(key="ne_preset_high_res").click().run()
    main = job_of(at, "neuron")
    assert (main.request.layer, main.request.channels, main.request.steps, main.request.size) == (layer, (3,), 1024, 256)
    assert job_of(at, "neuron_pixel") is None, "the high-resolution figure is the Fourier render alone"
    assert at.toggle(key="ne_compare").value is False
    assert (at.number_input(key="ne_channel").value, at.number_input(key="ne_size").value) == (3, 256)
    assert not errors(at) and not at.exception


def figure_png(at, kind: str, title: str = "") -> Image.Image:
    cache = at.session_state["featviz_figures"]
    [data] = [png for key, png in cache.items() if key[0] == kind and key[-1] == title]
    return Image.open(io.BytesIO(data))


def test_the_detailed_view_and_the_titled_summary_figure_of_a_result(new_app, model):
    at = new_app().run()
    at.sidebar.selectbox(key="model").set_value(model).run()
    set_form(at, first=0, last=5, list="", steps=2, size=32, seed=601, every=2)
    press_render(at)
    run_until(at, render_finished("explorer"), what="the render")
    images_before = len(at.image)
    labels = [f"{DEFAULT_LAYER[model]}:{i}" for i in range(6)]
    assert slot(at, "explorer").result.labels == labels

    at.toggle(key="ex_figures_detail").set_value(True).run()
    detail = figure_png(at, "detail")
    assert detail.size[0] == 4 * 512 + 5 * 16, "the first four channels, each 512 px wide"
    assert len(at.image) == images_before + 1
    labels_shown = [d.label for d in at.get("download_button")]
    assert "Download detailed view (PNG)" in labels_shown

    at.toggle(key="ex_figures_summary").set_value(True).run()
    assert at.text_input(key="ex_figures_title").value.startswith("Feature visualization: ")
    at.text_input(key="ex_figures_title").input("Channels for the lecture").run()
    summary = figure_png(at, "summary", "Channels for the lecture")
    assert summary.width == 5 * 32 + 6 * 8 and summary.height > 2 * 32 + 60
    assert "Download summary figure (PNG)" in [d.label for d in at.get("download_button")]
    assert not errors(at) and not at.exception
