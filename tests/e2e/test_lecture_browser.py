"""Lecture-ready in chromium at a projector's 1280x720: the live images are in view from pressing Render on,
and the presentation view fills the screen with a prepared deck."""

from __future__ import annotations

import pytest
from e2e_helpers import IMAGES, PROGRESS, fill, fill_explorer, image_sources, open_app, progress, wait_for

pytestmark = pytest.mark.e2e

WIDTH, HEIGHT = 1280, 720
M, LAYER = "efficientnet-lite0", "_blocks.10"
RENDER_TIMEOUT_S = 420


def inside_viewport(page, selector: str) -> list[dict]:
    """Bounding boxes of every match; each must lie wholly inside the 1280x720 viewport."""
    items = page.locator(selector)
    boxes = [items.nth(i).bounding_box() for i in range(items.count())]
    for box in boxes:
        assert box is not None and box["x"] >= 0 and box["y"] >= 0, boxes
        assert box["x"] + box["width"] <= WIDTH and box["y"] + box["height"] <= HEIGHT, boxes
    return boxes


def test_the_explorer_shows_its_first_snapshot_in_view(lecture_server, new_page, shots):
    page = new_page(WIDTH, HEIGHT)
    open_app(page, lecture_server)
    fill_explorer(page, first=0, last=9, steps=600, size=32, seed=4302, every=2)  # ten tiles: two rows
    page.get_by_role("button", name="Render").click()
    wait_for(lambda: len(image_sources(page)) == 10 and (progress(page) or 0) < 100, timeout_s=RENDER_TIMEOUT_S,
             what="the first snapshot")
    shots(page, "live")
    assert len(inside_viewport(page, IMAGES)) == 10
    inside_viewport(page, PROGRESS)
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped at step").wait_for(timeout=120_000)


def test_the_neuron_page_shows_its_first_snapshot_in_view(lecture_server, new_page, shots):
    page = new_page(WIDTH, HEIGHT)
    page.goto(f"{lecture_server}/neuron")
    page.get_by_role("button", name="Render").wait_for()
    for label, value in (("Channel", 3), ("Steps", 600), ("Image size (px)", 64), ("Seed", 4303)):
        fill(page, label, value)
    page.get_by_role("button", name="Render").click()
    wait_for(lambda: len(image_sources(page)) >= 1 and (progress(page) or 0) < 100, timeout_s=RENDER_TIMEOUT_S,
             what="the first snapshot")
    shots(page, "live")
    assert inside_viewport(page, IMAGES)
    inside_viewport(page, PROGRESS)
    page.get_by_role("button", name="Stop").click()


def test_the_presentation_view_fills_the_screen_and_steps_through_the_deck(lecture_server, new_page, shots):
    page = new_page(WIDTH, HEIGHT)
    page.goto(f"{lecture_server}/?present=1&deck=lecture&slide=1")
    tiles = page.locator(".featviz-grid img")
    wait_for(lambda: tiles.count() == 2, timeout_s=120, what="the first slide")
    shots(page, "slide1")
    boxes = inside_viewport(page, ".featviz-grid img")
    assert all(box["height"] >= 400 for box in boxes), boxes  # 32 px renders, shown as large as they fit
    size = float(page.locator(".featviz-caption").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    assert size >= 24, f"captions of {size} px are not readable from the back of a room"
    assert page.locator('[data-testid="stSidebar"]').count() == 0  # folded away entirely: nothing to open
    assert page.get_by_role("button", name="Render").count() == 0
    assert page.locator(".featviz-caption").all_inner_texts() == [f"{LAYER}:0", f"{LAYER}:1"]

    page.get_by_role("button", name="Next").click()
    wait_for(lambda: page.locator(".featviz-caption").all_inner_texts() == [f"{LAYER}:5"], timeout_s=60,
             what="the second slide")
    assert "slide=2" in page.url
    (box,) = inside_viewport(page, ".featviz-grid img")
    assert box["height"] >= 500, box
    shots(page, "slide2")
