"""Every page loads without an exception or an error; the shared sidebar; the light import of the UI."""

from __future__ import annotations

import subprocess
import sys

import pytest
from app_helpers import APP, DEFAULT_LAYER, LAYER, TITLES, errors

PAGES = {
    "pages/explorer.py": "Explorer",
    "pages/neuron.py": "Neuron",
    "pages/layers.py": "Layers",
    "pages/method.py": "Method",
    "pages/photo.py": None,  # its own title; it must load cleanly all the same
    "pages/lecture.py": "Lecture",
}


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_loads_with_the_shared_sidebar(new_app, page, model):
    at = new_app().run()
    at.sidebar.selectbox(key="model").set_value(model).run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not errors(at)
    if PAGES[page]:
        assert at.title[0].value == PAGES[page]
    picker = at.sidebar.selectbox(key="model")
    assert picker.options[:2] == [TITLES["inceptionv1"], TITLES["efficientnet-lite0"]]
    assert picker.options[2:] == ["EfficientNet-Lite1 (ImageNet)", "EfficientNet-Lite2 (ImageNet)"]
    assert picker.value == model
    # A model without weights here is named as such in the picker's help.
    assert (TITLES["inceptionv1"] in picker.help) == (model != "inceptionv1")
    assert any(c.value.startswith("Device: **CPU") for c in at.sidebar.caption)
    assert not at.sidebar.warning, "the model's weights are here: nothing to download"


def test_the_default_model_is_inceptionv1_when_its_weights_are_here(new_app, with_inception):
    at = new_app().run()
    assert at.sidebar.selectbox(key="model").value == "inceptionv1"
    assert at.selectbox(key="ex_layer_inceptionv1").value == "mixed4a"


def test_layers_page_lists_layers_stages_and_links_to_the_explorer(new_app):
    at = new_app().run()
    at.switch_page("pages/layers.py").run()
    table = at.dataframe[0].value
    assert list(table.columns) == ["layer", "channels", "spatial size"]
    assert len(table) == 18  # stem, 16 blocks, head
    row = table[table["layer"] == LAYER].iloc[0]
    assert (row["channels"], row["spatial size"]) == (112, "14×14")
    stages = at.dataframe[1].value
    assert list(stages.columns) == ["layers", "tend to detect"] and len(stages) == 4
    inception = at.dataframe[2].value  # the reference network's stages, in an expander
    assert "mixed4a-mixed4e" in list(inception["layers"])
    link = at.get("page_link")[0]
    assert link.value == f"Open {LAYER} in the Explorer"
    assert link.proto.query_string == f"model=efficientnet-lite0&layer={LAYER}"

    at.toggle(key="ly_main_only").set_value(False).run()
    assert len(at.dataframe[0].value) > 100


def test_layers_link_presets_the_explorer_without_rendering(new_app):
    at = new_app({"model": "efficientnet-lite0", "layer": "_blocks.4"}).run()
    assert at.selectbox(key="ex_layer_efficientnet-lite0").value == "_blocks.4"
    assert at.session_state["featviz_slots"]["explorer"].job_id is None
    assert not at.get("progress") and not errors(at)


def test_method_page_has_formulas_live_examples_and_references(new_app, model):
    at = new_app().run()
    at.sidebar.selectbox(key="model").set_value(model).run()
    at.switch_page("pages/method.py").run()
    assert not at.exception, [e.value for e in at.exception]
    latex = [item.value for item in at.latex]
    assert any(r"\lambda_{\mathrm{TV}}" in formula and r"\lambda_{L2}" in formula for formula in latex)
    noise, tiny = at.image[0], at.image[1]
    assert list(noise.captions) == ["pixels", "Fourier", "Fourier + decorrelated color"]
    assert [c.split(" · ")[0] for c in tiny.captions] == ["Fourier, decorrelated, transforms", "Plain pixels",
                                                         "No transforms"]
    assert all("objective" in c for c in tiny.captions)
    maco = at.image[2]  # MACO beside Fourier on a deep layer, and MACO's attribution map
    assert [c.split(" · ")[0] for c in maco.captions] == ["Fourier (Lucid)", "MACO: phase only", "MACO attribution"]
    assert any(f"`{DEFAULT_LAYER[model]}`" in m.value for m in at.markdown), "the examples use the model in use"
    text = " ".join(m.value for m in at.markdown)
    for reference in ("Feature Visualization", "Zoom In", "Differentiable Image Parameterizations",
                      "MAgnitude Constrained Optimization"):
        assert reference in text


def test_importing_the_ui_package_does_not_import_torch():
    code = ("import sys; import featviz_ui.slots, featviz_ui.views, featviz_ui.sidebar, featviz_ui.address_bar, "
            "featviz_ui.model_choice, featviz_ui.examples, featviz_ui.weights, featviz_ui.notebook_figures, featviz_ui.figure_downloads, "
            "featviz_ui.preload; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=APP.parent, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_page_started_without_the_entry_point_gets_the_shell_back(new_app, monkeypatch):
    monkeypatch.undo()  # let AppTest start each run in Streamlit's old multipage mode, as a cold server does
    at = new_app().run()
    at.switch_page("pages/layers.py").run()
    assert at.title[0].value == "Layers"
    assert at.sidebar.selectbox(key="model").value == "efficientnet-lite0", "app.py drew the sidebar"
    assert not at.exception
