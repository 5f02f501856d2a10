"""Neuron page: a visitor uploads a zip of images; it waits in the render queue behind a render already
running, then the channel's examples from the new store appear; a hostile zip then gives one error line
and the examples on the page stay (real EfficientNet-Lite0 weights, the app's own render service)."""

from __future__ import annotations

from app_helpers import LAYER, captions, errors, run_until, service
from examples_sample import picture_png, pictures_zip, zip_bytes

from featviz_core.request import RenderRequest

HEADING = f"**Dataset examples of {LAYER}:5**"
UPLOADER = "ne_examples_zip_file"


def shows_examples(at) -> bool:
    return any(m.value == HEADING for m in at.markdown)


def test_a_zip_uploaded_on_the_neuron_page_waits_its_turn_then_shows_its_examples(new_app, tmp_path, monkeypatch):
    from featviz_core.examples.lookup import find_examples

    monkeypatch.setenv("FEATVIZ_EXAMPLES_DIR", str(tmp_path / "examples"))
    at = new_app({"layer": LAYER, "channel": "5"}).run()
    at.switch_page("pages/neuron.py").run()
    assert not at.exception and not shows_examples(at)
    uploader = at.file_uploader(key=UPLOADER)
    assert uploader.label == "Find examples in your own images (zip)"
    assert "at most 50 MB, 500 images, 200 MB unpacked" in uploader.help

    # Another visitor's render holds every worker: the zip waits behind it.
    blockers = [service().submit(RenderRequest(model="efficientnet-lite0", layer="_blocks.1", channels=(0,),
                                               steps=4000, size=32, upsample=False, seed=700 + i), f"other-{i}")
                for i in range(service().stats()["workers"])]
    data = pictures_zip(5, seed=100, **{"notes.txt": b"not an image"})
    at.file_uploader(key=UPLOADER).set_value(("mine.zip", data, "application/zip")).run()
    assert not errors(at) and not at.exception
    assert any(i.value.startswith("Your zip is queued: ") and "ahead of you" in i.value for i in at.info), \
        [i.value for i in at.info]
    for blocker in blockers:
        blocker.cancel("the other visitor stopped")
    run_until(at, shows_examples, what="the zip's examples")
    assert not errors(at)
    [store] = find_examples("efficientnet-lite0", LAYER)
    expected = store.examples(LAYER, 5)
    for side in ("top", "bottom"):
        wanted = [f"{e['activation']:.3g} · {e['image']}" for e in expected[side]]
        assert captions(at).count(wanted) == 2, (wanted, captions(at))  # the crops, and the heatmaps
    assert any(i.value.startswith("Examples found in the 5 images of mine.zip (1 other file(s) skipped)")
               for i in at.info)
    shown = captions(at)

    # A zip whose entry points outside its root: one line, and what the page showed stays.
    evil = zip_bytes({"pictures/ok.png": picture_png(1), "../../evil.png": picture_png(2)})
    at.file_uploader(key=UPLOADER).set_value(("evil.zip", evil, "application/zip")).run()
    assert not at.exception
    assert errors(at) == ["the zip entry '../../evil.png' points outside the zip's root (a '..' component); "
                          "every entry must stay inside it"]
    assert shows_examples(at) and captions(at) == shown
    assert len(find_examples("efficientnet-lite0", LAYER)) == 1
