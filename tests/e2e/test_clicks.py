"""No click lost: a Render click starts its render even when the run it started is interrupted.

A click's script run can be interrupted by the same tab's next request (a page switch, a second click, the
settings panel folding) at any element it draws. The server here waits FEATVIZ_TEST_RUN_DELAY_S seconds in
every run before drawing the page, which holds that window open long enough for the test to land a page
switch or a second click inside it, every time. Each click must end queued, running, served or told busy:
the service's own counters (FEATVIZ_STATS_FILE) say whether a render was submitted.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from e2e_helpers import EXCEPTION, fill, fill_explorer, wait_for

pytestmark = pytest.mark.e2e

RUN_DELAY_S = "2"
GRID = "Download all (zip)"
TIMEOUT_S = 300  # a loaded 2-core machine: the first render pays the model's warm-up


def stats(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def accepted(path: Path) -> int:
    """Clicks the service took: submitted, joined to an identical running render, served from the cache
    or told busy."""
    now = stats(path)
    return sum(now.get(name, 0) for name in ("submitted", "shared", "cache_hits", "rejected"))


@pytest.fixture
def slow_runs(start_server, tmp_path):
    """A server whose every script run waits before drawing its page; yields (url, stats file, log)."""
    stats_file = tmp_path / "stats.json"
    with start_server("slow", FEATVIZ_TEST_RUN_DELAY_S=RUN_DELAY_S, FEATVIZ_STATS_FILE=str(stats_file)) as (url, log):
        yield url, stats_file, log


def open_explorer(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Render", exact=True).wait_for(timeout=TIMEOUT_S * 1000)


def switch_page(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=TIMEOUT_S * 1000)


def assert_no_traceback(page, log: Path) -> None:
    assert page.locator(EXCEPTION).count() == 0
    assert "Traceback" not in log.read_text()


def test_a_click_followed_at_once_by_a_page_switch_starts_its_render(slow_runs, new_page):
    url, stats_file, log = slow_runs
    page = new_page()
    open_explorer(page, url)
    fill_explorer(page, first=0, last=1, steps=24, size=32, seed=601, every=4)
    before = accepted(stats_file)
    page.get_by_role("button", name="Render", exact=True).click()
    # While the click's run waits, the person opens another page: that request interrupts the click's run.
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Neuron", exact=True).click()
    wait_for(lambda: accepted(stats_file) > before, timeout_s=TIMEOUT_S, what="the click's render to be submitted")
    page.get_by_role("heading", name="Neuron", exact=True).wait_for(timeout=TIMEOUT_S * 1000)
    # Back on the Explorer, the render the click started is there (it went on while another page was open).
    switch_page(page, "Explorer")
    page.get_by_role("button", name=GRID).wait_for(timeout=TIMEOUT_S * 1000)
    assert stats(stats_file)["completed"] >= 1
    assert_no_traceback(page, log)


def test_a_double_click_starts_one_render_and_shows_it(slow_runs, new_page):
    url, stats_file, log = slow_runs
    page = new_page()
    open_explorer(page, url)
    fill_explorer(page, first=2, last=3, steps=24, size=32, seed=602, every=4)
    before = stats(stats_file)
    page.get_by_role("button", name="Render", exact=True).dblclick()
    page.get_by_role("button", name=GRID).wait_for(timeout=TIMEOUT_S * 1000)
    after = stats(stats_file)
    # One render ran for the two clicks: the second joined it (or found it finished in the cache).
    assert after["submitted"] - before.get("submitted", 0) == 1
    assert_no_traceback(page, log)


def test_a_preset_click_followed_by_a_page_switch_starts_its_render(slow_runs, new_page):
    url, stats_file, log = slow_runs
    page = new_page()
    open_explorer(page, url)
    before = accepted(stats_file)
    page.get_by_role("button", name="Grid", exact=False).first.click()
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Layers", exact=True).click()
    wait_for(lambda: accepted(stats_file) > before, timeout_s=TIMEOUT_S, what="the preset's render to be submitted")
    # The figure's render is long (10 channels, 512 steps): stop it from the Explorer, keeping what it made.
    switch_page(page, "Explorer")
    page.get_by_role("button", name="Stop").click()
    wait_for(lambda: stats(stats_file).get("running", 1) == 0, timeout_s=TIMEOUT_S, what="the render to stop")
    assert stats(stats_file)["stopped"] >= 1
    assert_no_traceback(page, log)


def test_a_refused_click_keeps_the_images_on_screen_and_queues_nothing(slow_runs, new_page):
    url, stats_file, log = slow_runs
    page = new_page()
    open_explorer(page, url)
    fill_explorer(page, first=4, last=4, steps=16, size=32, seed=603, every=4)
    page.get_by_role("button", name="Render", exact=True).click()
    page.get_by_role("button", name=GRID).wait_for(timeout=TIMEOUT_S * 1000)
    page.get_by_text("Settings", exact=True).click()  # open the folded panel again
    before = accepted(stats_file)
    fill(page, "Last channel", 3)  # last before first: refused with the reason, the images stay
    page.get_by_role("button", name="Render", exact=True).click()
    page.locator('[data-testid="stAlertContentError"]').first.wait_for(timeout=TIMEOUT_S * 1000)
    time.sleep(float(RUN_DELAY_S) + 1)  # a refused click must not reach the queue late either
    assert accepted(stats_file) == before
    assert page.get_by_role("button", name=GRID).count() == 1
    assert_no_traceback(page, log)
