"""The seed's model in a real browser: fresh servers render at once without a traceback (both models),
InceptionV1's weights downloaded from inside the app (a localhost server stands in for the internet) let
a shared link render its own model and every page work, and a render in an open but hidden tab goes on
while a closed tab's render still leaves."""

from __future__ import annotations

import json
import time

import pytest
from e2e_helpers import (CHART, ERROR, EXCEPTION, captions, fill_explorer, image_sources, open_app,
                         open_page_from_sidebar, progress, wait_for)
from weight_server import serve_file

pytestmark = pytest.mark.e2e

RENDER_TIMEOUT_S = 420
LAYER = {"efficientnet-lite0": "_blocks.10", "inceptionv1": "mixed4a"}
PAGES = ("Neuron", "Layers", "Method", "Photo", "Explorer")


def assert_clean_log(log_path) -> None:
    text = log_path.read_text()
    assert "Traceback" not in text and "partially initialized" not in text, text[-4000:]


def render_small(page, model: str) -> None:
    fill_explorer(page, first=0, last=1, steps=4, size=32, seed=701, every=2)
    page.get_by_role("button", name="Render").click()
    page.locator(CHART).wait_for(timeout=RENDER_TIMEOUT_S * 1000)
    assert captions(page) == [f"{LAYER[model]}:0", f"{LAYER[model]}:1"]
    assert page.locator(EXCEPTION).count() == 0 and page.locator(ERROR).count() == 0


def test_fresh_servers_render_at_once_without_a_traceback(start_server, new_page, inception_weights_file):
    # Three cold starts (bounded): the first render of a fresh server must never meet a half-imported library.
    for start, model in enumerate(("efficientnet-lite0", "inceptionv1", "efficientnet-lite0")):
        settings = {"FEATVIZ_INCEPTIONV1_WEIGHTS": str(inception_weights_file())} if model == "inceptionv1" else {}
        with start_server(f"start-{start}", **settings) as (base, log_path):
            page = new_page()
            open_app(page, base)
            assert page.get_by_label("Model", exact=True).input_value().split(" (")[0] in (
                "EfficientNet-Lite0", "InceptionV1")
            render_small(page, model)
            page.context.close()
        assert_clean_log(log_path)


def test_a_link_downloads_its_model_renders_it_and_every_page_works(start_server, new_page, shots,
                                                                    inception_weights_file):
    with serve_file(inception_weights_file(), seconds=4.0) as (weights_url, requests):
        settings = {"FEATVIZ_INCEPTIONV1_URL": f"{weights_url}/inception5h.pth", "FEATVIZ_INCEPTIONV1_WEIGHTS": ""}
        with start_server("download", **settings) as (base, log_path):
            page = new_page(height=2400)
            page.goto(f"{base}/?model=inceptionv1&layer=mixed4a&channels=0-1&steps=4&size=32&seed=702")
            button = page.get_by_role("button", name="Download inception5h.pth (27 MB)")
            button.wait_for()
            page.get_by_text("Download them in the sidebar").wait_for()
            assert page.locator(CHART).count() == 0 and captions(page) == [], "nothing rendered in its place"
            shots(page, "offer")

            button.click()
            seen = wait_for(lambda: progress(page), timeout_s=60, what="the download's progress bar")
            assert 0 <= seen < 100
            shots(page, "downloading")
            page.locator(CHART).wait_for(timeout=RENDER_TIMEOUT_S * 1000)
            assert captions(page) == ["mixed4a:0", "mixed4a:1"]
            assert requests == ["/inception5h.pth"]
            assert page.get_by_label("Model", exact=True).input_value().startswith("InceptionV1")

            for title in PAGES:  # every page with the downloaded model
                open_page_from_sidebar(page, title, timeout_s=RENDER_TIMEOUT_S)
                assert page.locator(EXCEPTION).count() == 0 and page.locator(ERROR).count() == 0, title
                shots(page, f"inceptionv1-{title.lower()}")
        assert_clean_log(log_path)


def test_a_hidden_tab_keeps_its_render_and_a_closed_tab_frees_the_queue(start_server, new_page, tmp_path):
    stats_file = tmp_path / "stats.json"
    idle_s = 3

    def stats() -> dict:
        return json.loads(stats_file.read_text())

    with start_server("hidden", FEATVIZ_IDLE_TIMEOUT_S=str(idle_s), FEATVIZ_STATS_FILE=str(stats_file)) as (base, _):
        page = new_page()
        page.clock.install()  # the page's timers, under the test's control; time flows as usual until paused
        open_app(page, base)
        # The most steps, at 64 px: minutes of rendering here, so it is still running after the quiet
        # period below on a CPU many times faster (the check below fails, not passes, if it ever ends).
        fill_explorer(page, first=0, last=1, steps=4096, size=64, seed=703, every=2)
        page.get_by_role("button", name="Render").click()
        wait_for(lambda: (progress(page) or 0) > 0, timeout_s=RENDER_TIMEOUT_S, what="the render to run")

        # Stop the tab's timers, as a browser throttles a background tab's: it polls no more, but its
        # connection stays open. Every poll would show new snapshot images (one every 2 steps), so the
        # page standing still shows that the tab is silent; it must stay silent for four idle timeouts,
        # and the render must go on throughout.
        page.clock.pause_at(time.time() + 0.5)
        quiet_s, deadline = 4 * idle_s, time.monotonic() + 120
        shown = (progress(page), tuple(image_sources(page)))
        since = time.monotonic()
        while time.monotonic() - since < quiet_s:
            now = stats()
            assert now["running"] == 1 and now["stopped"] == 0 and now["cancelled"] == 0, now
            if (progress(page), tuple(image_sources(page))) != shown:  # a last poll: the quiet starts again
                shown, since = (progress(page), tuple(image_sources(page))), time.monotonic()
            assert time.monotonic() < deadline, "the paused tab kept polling: its timers were not held"
            time.sleep(0.25)
        now = stats()
        assert now["running"] == 1 and now["stopped"] == 0 and now["cancelled"] == 0, now
        before = progress(page)
        page.clock.resume()
        assert before is not None, "the paused tab still shows its running render"
        wait_for(lambda: (progress(page) or 0) > before, timeout_s=60, what="the render to go on")

        page.context.close()  # now the tab is gone: the render stops within seconds
        wait_for(lambda: stats()["running"] == 0, timeout_s=60, what="the closed tab's render to leave")
        final = stats()
        assert final["stopped"] == 1 and final["completed"] == 1, final
