"""Missing weights from inside the app, against a real HTTP server on localhost: the sidebar offers the
file with its size, shows a progress bar, verifies it as ``fetch-weights`` does, and explains a failure
with the file and the place to put it. A link naming a model without weights waits for them and never
renders another model in its place."""

from __future__ import annotations

import hashlib
import time

import pytest
from app_helpers import captions, render_finished, run_until, slot
from weight_server import Holds, closed_port_url, serve_file

LINK = {"model": "inceptionv1", "layer": "mixed4a", "channels": "0-1", "steps": "2", "size": "32", "seed": "501"}
BUTTON = "weights_download_inceptionv1"


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """A weights cache without inception5h.pth (downloads land here, not in the run's shared cache)."""
    from featviz_ui import model_choice

    monkeypatch.setenv("FEATVIZ_CACHE_DIR", str(tmp_path))
    model_choice.weights_arrived()  # the app's cached availability (30 s) must not remember an earlier test's weights
    return tmp_path / "weights"


def download_ended(at) -> bool:
    from featviz_ui import weights

    download = weights.current("inceptionv1")
    return download is not None and download.finished


def wait_for(condition, *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.02)


def download_received() -> int:
    from featviz_ui import weights

    download = weights.current("inceptionv1")
    return download.received if download is not None else 0


def progress_texts(at) -> list[str]:
    return [bar.proto.text for bar in at.get("progress") if "Downloading" in bar.proto.text]


def sidebar_text(at) -> str:
    return " ".join([w.value for w in at.sidebar.warning] + [e.value for e in at.sidebar.error])


def test_a_link_waits_for_its_weights_then_renders_its_own_model(new_app, empty_cache, inception_weights_file,
                                                               monkeypatch):
    # The server stops at a third and at two thirds of the file until the test has seen the bar there.
    holds = Holds(1 / 3, 2 / 3)
    with serve_file(inception_weights_file(), seconds=1.0, holds=holds) as (base, requests):
        monkeypatch.setenv("FEATVIZ_INCEPTIONV1_URL", f"{base}/inception5h.pth")
        at = new_app(LINK).run()

        # No render of another model: nothing submitted, nothing shown, the link's model is picked.
        assert slot(at, "explorer").job_id is None and slot(at, "explorer").result is None
        assert captions(at) == []
        assert at.sidebar.selectbox(key="model").value == "inceptionv1"
        notice = " ".join(w.value for w in at.main.warning)
        assert "channels 0-1 of mixed4a" in notice and "Download them in the sidebar" in notice
        button = at.sidebar.button(key=BUTTON)
        assert button.label == "Download inception5h.pth (27 MB)"
        assert "inception5h.pth" in sidebar_text(at) and str(empty_cache / "inception5h.pth") in sidebar_text(at)

        button.click().run()
        bars = [bar for bar in at.get("progress") if "Downloading the weights" in bar.proto.text]
        assert bars, "a progress bar follows the download"
        from featviz_ui.weights import megabytes

        total = inception_weights_file().stat().st_size
        texts = []
        for hold in range(2):
            sent = holds.reached(hold)
            wait_for(lambda: download_received() == sent, timeout_s=60,
                     what=f"the app to receive the first {sent} bytes")
            at.run()
            texts += progress_texts(at)
            holds.release(hold)
            assert texts[-1:] == [f"Downloading the weights: {megabytes(sent)} of {megabytes(total)}"], texts
        assert len(set(texts)) >= 2, f"the bar moved: {texts}"
        run_until(at, download_ended, timeout_s=120, what="the download to end")
        run_until(at, render_finished("explorer"), what="the link's render once the weights are here")

    assert requests == ["/inception5h.pth"]
    data = inception_weights_file().read_bytes()
    assert (empty_cache / "inception5h.pth").read_bytes() == data
    assert (empty_cache / "inception5h.pth.sha256").read_text().split()[0] == hashlib.sha256(data).hexdigest()
    assert captions(at) == [["mixed4a:0", "mixed4a:1"]]
    result = slot(at, "explorer").result
    assert result.request.model == "inceptionv1" and result.request.seed == 501
    assert not at.sidebar.warning and not at.sidebar.error and not at.main.warning
    assert not at.exception


def test_an_offline_download_says_which_file_to_put_where(new_app, empty_cache, monkeypatch):
    url = closed_port_url()
    monkeypatch.setenv("FEATVIZ_INCEPTIONV1_URL", url)
    at = new_app(LINK).run()
    at.sidebar.button(key=BUTTON).click().run()
    run_until(at, download_ended, what="the download to fail")
    at.run()
    message = " ".join(e.value for e in at.sidebar.error)
    assert f"could not download {url}" in message
    assert f"Download inception5h.pth (about 27 MB) from {url} and place it at {empty_cache / 'inception5h.pth'}" \
        in message
    assert "FEATVIZ_INCEPTIONV1_WEIGHTS=/path/to/inception5h.pth" in message
    # Still nothing rendered in its place; the offer stays for another try.
    assert slot(at, "explorer").result is None and captions(at) == []
    assert at.sidebar.button(key=BUTTON).label == "Download inception5h.pth (27 MB)"
    assert not (empty_cache / "inception5h.pth").exists()
    assert not at.exception


def test_a_download_with_the_wrong_digest_is_discarded(new_app, empty_cache, inception_weights_file, monkeypatch):
    with serve_file(inception_weights_file(), seconds=0.2) as (base, _):
        monkeypatch.setenv("FEATVIZ_INCEPTIONV1_URL", f"{base}/inception5h.pth")
        monkeypatch.setenv("FEATVIZ_INCEPTIONV1_SHA256", "0" * 64)
        at = new_app().run()
        at.sidebar.selectbox(key="model").set_value("inceptionv1").run()
        at.sidebar.button(key=BUTTON).click().run()
        run_until(at, download_ended, what="the download to be checked")
        at.run()
    message = " ".join(e.value for e in at.sidebar.error)
    assert f"expected SHA-256 {'0' * 64}" in message and "the file was discarded" in message
    assert f"place it at {empty_cache / 'inception5h.pth'}" in message
    assert list(empty_cache.iterdir()) == []
    # The Explorer meanwhile works with the offline model, as the sidebar says.
    assert at.selectbox(key="ex_layer_efficientnet-lite0").value == "_blocks.10"
    assert not at.exception


def test_a_slide_whose_model_has_no_weights_offers_them_and_renders_nothing_else(new_app, empty_cache,
                                                                               inception_weights_file,
                                                                               tmp_path, monkeypatch):
    decks = tmp_path / "decks"
    decks.mkdir()
    (decks / "talk.txt").write_text("?" + "&".join(f"{k}={v}" for k, v in LINK.items()) + "  # InceptionV1\n")
    monkeypatch.setenv("FEATVIZ_DECKS_DIR", str(decks))
    with serve_file(inception_weights_file(), seconds=1.0) as (base, requests):
        monkeypatch.setenv("FEATVIZ_INCEPTIONV1_URL", f"{base}/inception5h.pth")
        at = new_app({"present": "1", "deck": "talk", "slide": "1"}).run()
        # The slide waits with the download offer in its place: nothing queued, nothing downloaded silently.
        slots = at.session_state["featviz_slots"] if "featviz_slots" in at.session_state else {}
        assert ("present" not in slots or slots["present"].job_id is None) and requests == []
        # (an earlier download's failure in this process is an error in its place, with the same offer)
        notice = " ".join([w.value for w in at.main.warning] + [e.value for e in at.main.error])
        assert "InceptionV1" in notice and "nothing is shown with another model" in notice
        at.button(key=BUTTON).click().run()
        run_until(at, download_ended, timeout_s=120, what="the download to end")
        assert requests == ["/inception5h.pth"]
        run_until(at, render_finished("present"), what="the slide's render once the weights are here")
        shown = slot(at, "present").result
        assert shown.request.model == "inceptionv1" and shown.labels == ["mixed4a:0", "mixed4a:1"]
