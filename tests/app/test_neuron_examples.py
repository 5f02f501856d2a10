"""Neuron page: a channel's dataset examples (crops of the top and bottom images, full views with heatmaps)
are shown when an examples store of the model covers the layer, and nothing is shown when none does."""

from __future__ import annotations

import json

from app_helpers import LAYER


def test_neuron_page_shows_the_channels_top_and_bottom_examples(new_app, examples_root, monkeypatch):
    monkeypatch.setenv("FEATVIZ_EXAMPLES_DIR", str(examples_root))
    data = json.loads((examples_root / "pictures-store" / "examples.json").read_text())
    expected = data["layers"][LAYER]["examples"][5]
    at = new_app({"layer": LAYER, "channel": "5"}).run()
    at.switch_page("pages/neuron.py").run()
    assert not at.exception
    assert any(m.value == f"**Dataset examples of {LAYER}:5**" for m in at.markdown)
    captions = [list(image.captions) for image in at.image]
    for side in ("top", "bottom"):
        wanted = [f"{e['activation']:.3g} · {e['image']}" for e in expected[side]]
        assert captions.count(wanted) == 2, (wanted, captions)  # the crops, and the heatmaps in the expander
    assert [e.label for e in at.expander if e.label.startswith("Full")] == ["Full images and heatmaps (excite it most)",
                                                                            "Full images and heatmaps (suppress it most)"]
    assert expected["top"][0]["activation"] > expected["bottom"][0]["activation"]


def test_neuron_page_without_an_examples_store_shows_none(new_app, tmp_path, monkeypatch):
    monkeypatch.setenv("FEATVIZ_EXAMPLES_DIR", str(tmp_path))
    at = new_app({"layer": LAYER, "channel": "5"}).run()
    at.switch_page("pages/neuron.py").run()
    assert not at.exception
    assert not [m for m in at.markdown if "Dataset examples" in m.value]
