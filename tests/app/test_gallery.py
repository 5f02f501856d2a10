"""Gallery page: a page of tiles from an atlas store, paging, jumping to a channel, links to the Neuron page
and the Explorer, rendering the channels the atlas lacks at background priority, and each channel's dataset
examples from an examples store of the same weights (or one line saying how to get them)."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from app_helpers import captions, errors, run_until, service, slot

from atlas_sample import LAYER, partial_atlas
from examples_sample import examples_store, known_folder

GALLERY = "pages/gallery.py"


@pytest.fixture(scope="module")
def atlas_dir(tmp_path_factory):
    """A folder of atlases holding one store of ``_blocks.5`` with only channels 0-7 rendered."""
    return partial_atlas(tmp_path_factory.mktemp("atlases"))


@pytest.fixture(scope="module")
def examples_dir(tmp_path_factory, effnet):
    """A folder of examples stores with one store of ``LAYER`` (top 3) over the known folder's ten images."""
    images = known_folder(tmp_path_factory.mktemp("known") / "images", model=effnet)
    return examples_store(tmp_path_factory.mktemp("examples"), images, LAYER)


@pytest.fixture
def gallery(new_app, atlas_dir, monkeypatch):
    monkeypatch.setenv("FEATVIZ_ATLAS_DIR", str(atlas_dir))

    def open_gallery(query=None):
        at = new_app(query).run()
        return at.switch_page(GALLERY).run()

    return open_gallery


def links(at) -> list[tuple[str, str, str]]:
    return [(link.proto.label, link.proto.page, link.proto.query_string) for link in at.get("page_link")]


def test_a_page_of_tiles_links_each_channel_to_the_neuron_page(gallery):
    at = gallery()
    assert not at.exception and not errors(at)
    assert at.title[0].value == "Gallery"
    assert at.selectbox(key="ga_store").options[0].startswith("8 steps · 32 px")  # trained weights: no label
    assert not any(c.value.startswith("An untrained network") for c in at.caption)
    assert at.selectbox(key="ga_layer").value == LAYER
    assert at.selectbox(key="ga_page").options == ["channels 0-59", "channels 60-79"]
    assert len(at.image) == 60
    tiles = links(at)
    assert len(tiles) == 60
    assert tiles[:8] == [(str(c), "neuron", f"layer={LAYER}&channel={c}") for c in range(8)]
    assert tiles[8] == ("8", "neuron", f"layer={LAYER}&channel=8")
    helps = [link.proto.help for link in at.get("page_link")]
    assert all(h.startswith("final activation ") for h in helps[:8])
    assert helps[8:] == ["not in the atlas yet"] * 52
    assert any(b.label == "Render missing" for b in at.button)

    at.selectbox(key="ga_page").set_value(1).run()
    assert len(at.image) == 20 and links(at)[0] == ("60", "neuron", f"layer={LAYER}&channel=60")


def test_jump_to_a_channel_shows_its_page_and_links_to_the_neuron_page_and_the_explorer(gallery):
    at = gallery()
    at.number_input(key="ga_jump").set_value(5).run()
    assert at.selectbox(key="ga_page").value == 0
    found = links(at)
    assert (f"Open {LAYER}:5 on the Neuron page", "neuron", f"layer={LAYER}&channel=5") in found
    explorer = next(q for label, page, q in found if label == f"Open {LAYER}:5 in the Explorer (shown at once)")
    assert f"layer={LAYER}" in explorer and "channels=5" in explorer and "steps=8" in explorer and "size=32" in explorer
    assert any(m.value.startswith(f"**{LAYER}:5** · final activation ") for m in at.markdown)

    at.number_input(key="ga_jump").set_value(70).run()
    assert at.selectbox(key="ga_page").value == 1 and len(at.image) == 21  # the focus panel's image too
    assert any(m.value == f"**{LAYER}:70** · not rendered yet" for m in at.markdown)


def test_the_explorer_link_of_an_atlas_channel_is_shown_at_once_from_the_atlas(gallery, new_app):
    at = gallery()
    at.number_input(key="ga_jump").set_value(2).run()
    query = next(q for label, _, q in links(at) if label.endswith("in the Explorer (shown at once)"))
    explorer = new_app(dict(pair.split("=", 1) for pair in query.split("&"))).run()
    assert not explorer.exception and not errors(explorer)  # grid, chart and downloads of an atlas result
    state = slot(explorer, "explorer")
    assert state.job_id is None and state.result is not None  # no render: the atlas answered
    assert state.result.extra["from_atlas"].endswith("effnet")
    assert any(i.value.startswith("Shown from the atlas") for i in explorer.info)


def test_a_neuron_link_presets_the_neuron_page(gallery):
    at = gallery({"layer": LAYER, "channel": "3"})
    at.switch_page("pages/neuron.py").run()
    assert at.selectbox(key="ne_layer_efficientnet-lite0").value == LAYER
    assert at.number_input(key="ne_channel").value == 3


def test_render_missing_queues_the_page_at_background_priority_and_fills_the_tiles(gallery):
    from featviz_ui.gallery_tiles import BACKGROUND_PRIORITY

    at = gallery()
    at.selectbox(key="ga_page").set_value(1).run()
    next(b for b in at.button if b.label == "Render missing").click().run()
    run_until(at, lambda a: slot(a, "gallery").job_id is None and slot(a, "gallery").result is not None,
              what="the missing channels to render")
    result = slot(at, "gallery").result
    assert result.request.channels == tuple(range(60, 80)) and result.request.steps == 8
    jobs = [job for job in service()._jobs.values() if job.request == result.request]
    assert jobs and all(job.priority == BACKGROUND_PRIORITY for job in jobs)  # queued behind visitors
    assert not errors(at)
    assert [label for label, _, _ in links(at)] == [str(c) for c in range(60, 80)]
    assert all(link.proto.help.endswith("(rendered here)") for link in at.get("page_link"))
    assert not any(b.label == "Render missing" for b in at.button)


def test_an_empty_gallery_renders_a_layer_into_the_atlas_on_a_click(new_app, tmp_path, monkeypatch):
    """No atlas yet: no server path and no command, but "Render this layer now", which has the server's
    atlas filler (automatic filling is off in tests) render the layer into a store the page then shows."""
    from featviz_core.service.filler import FILL_PRIORITY

    root = tmp_path / "empty"
    monkeypatch.setenv("FEATVIZ_ATLAS_DIR", str(root))
    at = new_app().run()
    at.switch_page(GALLERY).run()
    assert not at.exception and not at.image
    text = at.info[0].value
    assert text.startswith("No atlas of efficientnet-lite0 on this server yet.")
    assert str(root) not in text and "python -m" not in text
    assert not any("python -m" in c.value or str(root) in c.value for c in at.caption)
    filler = service().filler
    assert filler is not None and not filler.auto
    monkeypatch.setattr(filler, "settings", {"steps": 4, "size": 32, "upsample": False})  # a quick atlas
    at.selectbox(key="ga_fill_layer").set_value("_conv_stem").run()
    next(b for b in at.button if b.label == "Render this layer now").click().run()
    assert not at.exception

    def all_rendered(a) -> bool:  # every tile of the page from the atlas (its batches arrive one by one)
        helps = [link.proto.help for link in a.get("page_link")]
        return len(helps) == 32 and all(h.startswith("final activation ") and not h.endswith("(rendered here)")
                                        for h in helps)

    run_until(at, all_rendered, timeout_s=300, what="the Gallery to show the 32 rendered channels")
    assert at.selectbox(key="ga_layer").value == "_conv_stem" and len(at.image) == 32 and not errors(at)
    jobs = [job for job in service()._jobs.values() if job.request.layer == "_conv_stem" and job.request.steps == 4]
    assert jobs and all(job.priority == FILL_PRIORITY and job.preemptible for job in jobs)
    (store,) = [p for p in root.iterdir() if p.is_dir()]
    assert store.name.endswith("-filled") and len(list((store / "images" / "_conv_stem").glob("*.png"))) == 32


def crop_captions(at) -> list[list[str]]:
    """Captions of the tiles' crops (the atlas tiles have none; the dialog's heatmaps name their image)."""
    return [c for c in captions(at) if c and c[0] and " · " not in c[0]]


def test_each_tile_shows_its_top_examples_and_more_shows_full_images_with_heatmaps(gallery, examples_dir,
                                                                                   monkeypatch):
    from featviz_ui.dataset_examples import GALLERY_HINT, short_activation

    monkeypatch.setenv("FEATVIZ_EXAMPLES_DIR", str(examples_dir))
    rows = json.loads((examples_dir / "known" / "examples.json").read_text())["layers"][LAYER]["examples"]
    at = gallery()
    assert not at.exception and not errors(at)
    assert not any(c.value == GALLERY_HINT for c in at.caption)
    top = [[short_activation(e["activation"])] for row in rows[:60] for e in row["top"][:3]]
    assert len(top) == 180 and crop_captions(at) == top  # three crops under each of the 60 tiles, in order
    assert len(at.image) == 60 + 180 and len(links(at)) == 60
    assert not any(c.value == "Suppress it most" for c in at.caption)

    at.toggle(key="ga_bottom").set_value(True).run()  # the bottom crops are read only when asked for
    bottom = [[short_activation(e["activation"])] for row in rows[:60] for e in row["bottom"][:3]]
    shown = crop_captions(at)
    assert len(shown) == 360 and shown[3:6] == bottom[:3] and shown[:3] == top[:3]
    assert sum(c.value == "Suppress it most" for c in at.caption) == 60
    assert rows[2]["top"][0]["activation"] > rows[2]["bottom"][0]["activation"]

    at.button(key="ga_more_2").click().run()
    assert not at.exception and not errors(at)
    views = [c for c in captions(at) if c and " · " in c[0]]  # the dialog's full images with heatmaps
    assert views == [[f"{e['activation']:.3g} · {e['image']}" for e in rows[2][side]] for side in ("top", "bottom")]
    assert any(m.value.startswith(f"**{LAYER}:2** · final activation ") for m in at.markdown)
    assert (f"Open {LAYER}:2 on the Neuron page", "neuron", f"layer={LAYER}&channel=2") in links(at)
    at.run()  # any later run closes it
    assert not [c for c in captions(at) if c and " · " in c[0]]


def test_a_gallery_without_examples_says_in_one_line_how_to_get_them(gallery, examples_dir, tmp_path, monkeypatch):
    from featviz_ui.dataset_examples import GALLERY_HINT

    monkeypatch.setenv("FEATVIZ_EXAMPLES_DIR", str(tmp_path))
    at = gallery()
    assert not at.exception and not errors(at)
    hints = [c.value for c in at.caption if "examples" in c.value]
    assert hints == [GALLERY_HINT] and "`examples` command" in GALLERY_HINT and "docs/examples.md" in GALLERY_HINT
    assert str(tmp_path) not in GALLERY_HINT and "python -m" not in GALLERY_HINT
    assert len(at.image) == 60 and not crop_captions(at) and not [b for b in at.button if b.label == "More"]

    # A store of other weights than the atlas's is not shown beside it either; the line says why.
    other = tmp_path / "other-weights"
    shutil.copytree(examples_dir / "known", other)
    data = json.loads((other / "examples.json").read_text())
    data["weights_sha256"] = "0" * 64
    (other / "examples.json").write_text(json.dumps(data))
    at.run()
    assert [c.value for c in at.caption if "examples" in c.value] == [
        "The dataset examples of this layer were found with other weights than this atlas's."]
    assert not crop_captions(at)


def test_examples_json_is_read_once_per_store_and_change(examples_dir, tmp_path):
    """Every Gallery run looks the stores up: an unchanged examples.json is not read again, a changed one is."""
    from featviz_core.examples.lookup import find_examples

    root = tmp_path / "stores"
    shutil.copytree(examples_dir, root)
    (first,) = find_examples("efficientnet-lite0", LAYER, roots=[root])
    (again,) = find_examples("efficientnet-lite0", LAYER, roots=[root])
    assert again is first
    result = root / "known" / "examples.json"
    stamp = result.stat().st_mtime_ns
    os.utime(result, ns=(stamp + 10**9, stamp + 10**9))
    (changed,) = find_examples("efficientnet-lite0", LAYER, roots=[root])
    assert changed is not first and changed.data == first.data


def test_an_atlas_of_a_random_weights_network_says_so(new_app, tmp_path, monkeypatch):
    from app_helpers import add_network

    from featviz_core.atlas.runner import build_atlas

    model = "torchvision:resnet18?weights=random"
    root = tmp_path / "untrained"
    build_atlas(root / "r18", model, "layer1", {"steps": 2, "size": 32}, batch=2, max_batches=1)
    monkeypatch.setenv("FEATVIZ_ATLAS_DIR", str(root))
    at = add_network(new_app().run(), "torchvision:resnet18", random=True)
    assert at.sidebar.selectbox(key="model").value == model
    at.switch_page(GALLERY).run()
    assert not at.exception and not errors(at)
    (label,) = at.selectbox(key="ga_store").options
    assert label.startswith("random weights · 2 steps · 32 px · seed 0 · 2/64 channels · r18"), label
    assert [c.value for c in at.caption if c.value.startswith("An untrained network")] == [
        "An untrained network: every image of this atlas was rendered with random weights (seed 0), not learned "
        "ones (a baseline to compare the trained network with)."]
    helps = [link.proto.help for link in at.get("page_link")]
    assert len(helps) == 60 and all(h.startswith("final activation ") for h in helps[:2])
    assert helps[2:] == ["not in the atlas yet"] * 58
    assert any(b.label == "Render missing" and not b.disabled for b in at.button)  # its weights are these
