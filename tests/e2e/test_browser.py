"""The app in Debian's chromium: a live render with progress and changing snapshots, downloads, Stop, the
queue seen from a second browser, and every page's screenshot."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest
from e2e_helpers import (open_page_from_sidebar, CHART, ERROR, EXCEPTION, OUTPUT, captions, fill_explorer, image_sources, open_app,
                         progress, wait_for)
from PIL import Image

pytestmark = pytest.mark.e2e

LAYER = "_blocks.10"
RENDER_STEPS = 160  # long enough, even on the fast compute path, for the polls to see it change
RENDER_TIMEOUT_S = 420  # 160 steps of 3 images on 2 shared CPU cores, model warm-up included


def test_render_shows_progress_and_changing_snapshots_then_a_grid_with_working_downloads(server, new_page, shots):
    page = new_page()
    open_app(page, server)
    fill_explorer(page, first=0, last=2, steps=RENDER_STEPS, size=64, seed=301, every=4)
    clicked = time.monotonic()
    page.get_by_role("button", name="Render").click()

    progress_seen: list[float] = []
    snapshots_seen: list[tuple[str, ...]] = []
    first_snapshot_s = None
    live_shot = False
    deadline = clicked + RENDER_TIMEOUT_S
    while page.locator(CHART).count() == 0:
        assert time.monotonic() < deadline, "the render did not finish in time"
        value = progress(page)
        sources = tuple(image_sources(page))
        if value is not None and value < 100:
            if not progress_seen or value != progress_seen[-1]:
                progress_seen.append(value)
            if len(sources) == 3:
                if first_snapshot_s is None:
                    first_snapshot_s = time.monotonic() - clicked
                if not snapshots_seen or sources != snapshots_seen[-1]:
                    snapshots_seen.append(sources)
                if not live_shot and value >= 25:
                    shots(page, "live")
                    live_shot = True
        time.sleep(0.25)
    total_s = time.monotonic() - clicked

    # The bar advanced through several values and the images changed while the render ran.
    assert len([v for v in progress_seen if v > 0]) >= 2, progress_seen
    assert progress_seen == sorted(progress_seen)
    assert len(snapshots_seen) >= 2, "the live images did not change before the render ended"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "timings.json").write_text(json.dumps(
        {"render_to_first_snapshot_s": round(first_snapshot_s, 2), "render_total_s": round(total_s, 2),
         "steps": RENDER_STEPS, "snapshot_every": 4, "channels": 3, "size": 64, "progress_values_seen": progress_seen},
        indent=2))

    page.get_by_text("Download all (zip)").wait_for()
    assert captions(page) == [f"{LAYER}:0", f"{LAYER}:1", f"{LAYER}:2"]
    assert page.locator(EXCEPTION).count() == 0 and page.locator(ERROR).count() == 0
    assert "channels=0-2" in page.url and f"steps={RENDER_STEPS}" in page.url and "seed=301" in page.url
    shots(page, "done")

    with page.expect_download() as grid_download:
        page.get_by_text("Download grid (PNG)").click()
    data = open(grid_download.value.path(), "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    grid = Image.open(io.BytesIO(data))
    assert grid.width >= 3 * 64 and grid.height > 64
    assert grid_download.value.suggested_filename.endswith(".png")

    with page.expect_download() as zip_download:
        page.get_by_text("Download all (zip)").click()
    archive = zipfile.ZipFile(io.BytesIO(open(zip_download.value.path(), "rb").read()))
    assert sorted(archive.namelist()) == sorted(["grid.png", "render.json", f"{LAYER}_0.png", f"{LAYER}_1.png",
                                                 f"{LAYER}_2.png"])
    meta = json.loads(archive.read("render.json"))
    assert meta["settings"]["channels"] == [0, 1, 2] and meta["settings"]["steps"] == RENDER_STEPS
    assert meta["steps_done"] == RENDER_STEPS and meta["labels"] == [f"{LAYER}:0", f"{LAYER}:1", f"{LAYER}:2"]
    assert Image.open(io.BytesIO(archive.read(f"{LAYER}_1.png"))).size == (64, 64)


def test_stop_keeps_the_partial_grid(server, new_page, shots):
    page = new_page()
    open_app(page, server)
    fill_explorer(page, first=0, last=2, steps=2000, size=32, seed=302, every=2)
    page.get_by_role("button", name="Render").click()
    wait_for(lambda: (progress(page) or 0) > 0 and len(image_sources(page)) == 3, timeout_s=RENDER_TIMEOUT_S,
             what="the first snapshot")
    page.get_by_role("button", name="Stop").click()

    notice = page.get_by_text("Stopped at step")
    notice.wait_for(timeout=120_000)
    assert "of 2000" in notice.inner_text()
    page.locator(CHART).wait_for()
    assert captions(page) == [f"{LAYER}:0", f"{LAYER}:1", f"{LAYER}:2"]
    assert progress(page) is None
    assert page.get_by_text("Download grid (PNG)").count() == 1
    shots(page, "stopped")


def test_a_second_browser_is_told_it_is_queued_and_renders_after(server, new_page, shots):
    first = new_page()
    open_app(first, server)
    fill_explorer(first, first=0, last=2, steps=2000, size=32, seed=303, every=2)
    first.get_by_role("button", name="Render").click()
    wait_for(lambda: (progress(first) or 0) > 0, timeout_s=RENDER_TIMEOUT_S, what="the first render to run")

    second = new_page()
    open_app(second, server)
    fill_explorer(second, first=3, last=4, steps=4, size=32, seed=304, every=2)
    second.get_by_role("button", name="Render").click()
    queued = second.get_by_text("Queued: 1 ahead of you")
    queued.wait_for(timeout=60_000)
    shots(second, "queued")
    time.sleep(2)
    assert queued.count() == 1, "still queued while the first render runs"

    first.get_by_role("button", name="Stop").click()
    second.locator(CHART).wait_for(timeout=RENDER_TIMEOUT_S * 1000)
    assert captions(second) == [f"{LAYER}:3", f"{LAYER}:4"]
    first.get_by_text("Stopped at step").wait_for(timeout=120_000)


@pytest.mark.parametrize("title", ["Neuron", "Layers", "Method", "Photo", "Lecture", "Explorer"])
def test_every_page_opens_from_the_sidebar_without_errors(server, new_page, shots, title):
    page = new_page(height=2400)
    open_app(page, server)
    open_page_from_sidebar(page, title, timeout_s=RENDER_TIMEOUT_S, settle_s=1.5)
    assert page.locator(EXCEPTION).count() == 0 and page.locator(ERROR).count() == 0
    assert page.get_by_text("Device: CPU").count() == 1
    shots(page, "page")


def test_layers_link_opens_the_explorer_on_that_layer(server, new_page):
    page = new_page()
    open_app(page, server)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Layers", exact=True).click()
    page.get_by_text(f"Open {LAYER} in the Explorer").click()
    page.get_by_role("button", name="Render").wait_for()
    wait_for(lambda: f"layer={LAYER}" in page.url, timeout_s=30, what="the Explorer link")
    assert page.get_by_label("Layer", exact=True).input_value() == f"{LAYER} · 112 channels · 14×14"
    assert progress(page) is None, "a layer link presets the form without rendering"


def test_a_first_visit_straight_to_a_page_gets_the_full_app(fresh_server, new_page):
    page = new_page()
    page.goto(f"{fresh_server}/layers")
    page.get_by_role("heading", name="Layers", exact=True).wait_for()
    page.get_by_label("Model", exact=True).wait_for()  # the sidebar that app.py draws
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    for title in ("Explorer", "Neuron", "Layers", "Method", "Photo"):
        assert title in nav
    assert "app" not in nav.split()


def test_closing_the_tab_cancels_its_render(start_server, new_page, tmp_path):
    stats_file = tmp_path / "stats.json"

    def stats() -> dict:
        return json.loads(stats_file.read_text())

    # Renders nobody polled for 3 s are cancelled (the default is 20 s).
    with start_server("closing", FEATVIZ_IDLE_TIMEOUT_S="3", FEATVIZ_STATS_FILE=str(stats_file)) as (base, _):
        page = new_page()
        open_app(page, base)
        fill_explorer(page, first=0, last=2, steps=2000, size=32, seed=305, every=2)
        page.get_by_role("button", name="Render").click()
        page.get_by_text("Render queue: 1 running, 0 waiting").wait_for(timeout=120_000)
        wait_for(lambda: (progress(page) or 0) > 0, timeout_s=RENDER_TIMEOUT_S, what="the render to run")
        assert stats()["running"] == 1 and stats()["stopped"] == 0, stats()
        page.context.close()  # the tab goes away; nobody polls its render any more

        # Left alone, the render would run to its 2000 steps for minutes and end as completed, not stopped:
        # it must leave within a few idle timeouts, counted as stopped (partial result kept).
        wait_for(lambda: stats()["running"] == 0, timeout_s=60, what="the closed tab's render to stop")
        final = stats()
        assert final["stopped"] == 1 and final["completed"] == 1, final
        assert final["failed"] == 0 and final["queued"] == 0, final

        watcher = new_page()
        open_app(watcher, base)
        watcher.get_by_text("Render queue: 0 running, 0 waiting").wait_for(timeout=RENDER_TIMEOUT_S * 1000)
