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


def test_damaged_stores_are_skipped_with_one_line_each_and_the_good_one_is_still_shown(new_app, examples_root,
                                                                                       tmp_path, monkeypatch):
    """Every damaged shape of examples.json (tests/examples_sample.py DAMAGES) beside a good store: the page
    raises nothing, says in one line per damaged store which one and what is wrong, and shows the good one."""
    import shutil

    from examples_sample import DAMAGES, damaged_store

    good = examples_root / "pictures-store"
    root = tmp_path / "stores"
    root.mkdir()
    says = dict(damaged_store(good, root, name, LAYER) for name in sorted(DAMAGES))
    monkeypatch.setenv("FEATVIZ_EXAMPLES_DIR", str(root))
    at = new_app({"layer": LAYER, "channel": "5"}).run()
    at.switch_page("pages/neuron.py").run()
    assert not at.exception

    def lines() -> dict[str, str]:
        skipped = [w.value for w in at.warning if "is skipped:" in w.value]
        assert all("\n" not in line for line in skipped) and len(skipped) == len(DAMAGES), skipped
        return {line.split(" is skipped:")[0].removeprefix("The examples store "): line for line in skipped}

    shown = lines()
    for store, fragment in says.items():
        assert fragment in shown[store.name], (fragment, shown[store.name])
    assert not [m for m in at.markdown if "Dataset examples" in m.value]  # none of them is shown

    shutil.copytree(good, root / "a-good-store")
    at.run()
    assert not at.exception and lines() == shown
    assert any(m.value == f"**Dataset examples of {LAYER}:5**" for m in at.markdown)
    assert len([c for image in at.image for c in image.captions if " · p" in c]) >= 4  # its crops and heatmaps
