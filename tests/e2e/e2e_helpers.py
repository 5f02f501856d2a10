"""Reading and driving the app's page in a real browser (Streamlit's data-testid hooks and labels)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "e2e"  # screenshots and timings (git-ignored)

PROGRESS = '[data-testid="stProgress"] [role="progressbar"]'
IMAGES = '[data-testid="stImage"] img'
CAPTIONS = '[data-testid="stImageCaption"]'
CHART = '[data-testid="stPlotlyChart"]'
EXCEPTION = '[data-testid="stException"]'
ERROR = '[data-testid="stAlertContentError"]'


def open_app(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Render").wait_for()


def fill(page, label: str, value) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Tab")


def fill_explorer(page, *, first: int, last: int, steps: int, size: int, seed: int, every: int) -> None:
    fill(page, "First channel", first)
    fill(page, "Last channel", last)
    fill(page, "Steps", steps)
    fill(page, "Image size (px)", size)
    fill(page, "Seed", seed)
    fill(page, "Snapshot every (steps)", every)


def progress(page) -> float | None:
    """The progress bar's value (0-100), or None when no bar is shown."""
    bar = page.locator(PROGRESS)
    if bar.count() == 0:
        return None
    value = bar.first.get_attribute("aria-valuenow")
    return float(value) if value is not None else None


def image_sources(page) -> list[str]:
    images = page.locator(IMAGES)
    return [images.nth(i).get_attribute("src") or "" for i in range(images.count())]


def captions(page) -> list[str]:
    return page.locator(CAPTIONS).all_inner_texts()


def wait_for(condition: Callable[[], object], *, timeout_s: float, every_s: float = 0.25, what: str = "") -> object:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what or condition}")
        time.sleep(every_s)


def open_page_from_sidebar(page, title: str, *, timeout_s: float, settle_s: float = 1.0) -> None:
    """Click ``title`` in the sidebar, wait until that page has drawn (the Method page renders its examples
    first), and let it settle; then the caller checks it for exceptions and errors."""
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    if title == "Photo":  # the upload page, with its own heading
        page.locator('[data-testid="stFileUploader"]').wait_for()
    else:
        page.get_by_role("heading", name=title, exact=True).wait_for()
    if title == "Method":
        page.get_by_text("Plain pixels · objective").wait_for(timeout=timeout_s * 1000)
    time.sleep(settle_s)
