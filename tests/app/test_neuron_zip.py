"""Neuron page: a visitor uploads a zip of images; it waits in the render queue behind a render already
running, then the channel's examples from the new store appear beside the shared store, in this session
only: another session sees the shared store alone, and the shared folder never holds the upload's store;
a hostile zip then gives one error line and the examples on the page stay (real EfficientNet-Lite0
weights, the app's own render service)."""

from __future__ import annotations

from app_helpers import LAYER, captions, errors, run_until, service
from examples_sample import picture_png, pictures_zip, zip_bytes

from featviz_core.request import RenderRequest

HEADING = f"**Dataset examples of {LAYER}:5**"
UPLOADER = "ne_examples_zip_file"
CHOICE = "Examples from"


def shows_examples(at) -> bool:
    return any(m.value == HEADING for m in at.markdown)


def store_choice(at):
    """The "Examples from" select box, or None when only one store is shown."""
    found = [box for box in at.selectbox if box.label == CHOICE]
    return found[0] if found else None


def wanted_captions(store) -> list[list[str]]:
    expected = store.examples(LAYER, 5)
    return [[f"{e['activation']:.3g} · {e['image']}" for e in expected[side]] for side in ("top", "bottom")]


def test_a_zip_uploaded_on_the_neuron_page_waits_its_turn_then_shows_its_examples_to_that_visitor_only(
        new_app, examples_root, tmp_path, monkeypatch):
    from featviz_core.examples.lookup import find_examples

    monkeypatch.setenv("FEATVIZ_EXAMPLES_DIR", str(examples_root))
    monkeypatch.setenv("FEATVIZ_UPLOAD_EXAMPLES_DIR", str(tmp_path / "uploads"))
    [shared] = find_examples("efficientnet-lite0", LAYER)
    at = new_app({"layer": LAYER, "channel": "5"}).run()
    at.switch_page("pages/neuron.py").run()
    assert not at.exception and shows_examples(at) and store_choice(at) is None
    uploader = at.file_uploader(key=UPLOADER)
    assert uploader.label == "Find examples in your own images (zip)"
    assert "at most 50 MB, 500 images, 200 MB unpacked" in uploader.help and "to you only" in uploader.help

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
    run_until(at, lambda at: store_choice(at) is not None, what="the zip's examples")
    assert not errors(at)
    [mine] = find_examples("efficientnet-lite0", LAYER, roots=[tmp_path / "uploads"])
    assert find_examples("efficientnet-lite0", LAYER) == [shared]  # the list every visitor sees
    choice = store_choice(at)
    assert choice.value == str(mine.path)  # the upload is the one shown, beside the shared store
    assert choice.options == [shared.label(), f"Your zip · {mine.label()}"]
    for wanted in wanted_captions(mine):
        assert captions(at).count(wanted) == 2, (wanted, captions(at))  # the crops, and the heatmaps
    assert any(i.value.startswith("Examples found in the 5 images of mine.zip (1 other file(s) skipped)")
               for i in at.info)
    shown = captions(at)

    # Another visitor on the same server: the shared store only, none of the first visitor's images.
    other = new_app({"layer": LAYER, "channel": "5"}).run()
    other.switch_page("pages/neuron.py").run()
    assert not other.exception and shows_examples(other) and store_choice(other) is None
    for wanted in wanted_captions(shared):
        assert captions(other).count(wanted) == 2, (wanted, captions(other))
    assert not [text for row in captions(other) for text in row if "pictures/p" in text]

    # A zip whose entry points outside its root: one line, and what the page showed stays.
    evil = zip_bytes({"pictures/ok.png": picture_png(1), "../../evil.png": picture_png(2)})
    at.file_uploader(key=UPLOADER).set_value(("evil.zip", evil, "application/zip")).run()
    assert not at.exception
    assert errors(at) == ["the zip entry '../../evil.png' points outside the zip's root (a '..' component); "
                          "every entry must stay inside it"]
    assert shows_examples(at) and captions(at) == shown and store_choice(at).value == str(mine.path)
    assert find_examples("efficientnet-lite0", LAYER) == [shared]
