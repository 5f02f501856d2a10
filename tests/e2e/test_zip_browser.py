"""The visitor zip upload in Debian's chromium: a zip chosen with the Neuron page's uploader waits in the
queue behind another visitor's render, shows its progress, then the channel's examples images (loaded, of
real width); a hostile zip (a ``../`` entry) then gives one error line and the examples stay; the server
log holds no traceback."""

from __future__ import annotations

import pytest
from e2e_helpers import CAPTIONS, ERROR, EXCEPTION, IMAGES, fill_explorer, open_app, progress, wait_for
from examples_sample import picture_png, pictures_zip, zip_bytes

pytestmark = pytest.mark.e2e

LAYER, CHANNEL = "_blocks.10", 5
TIMEOUT_S = 420  # a loaded 2-core machine: the model's warm-up, a render, then the zip's images
UPLOADER = '[data-testid="stFileUploader"]'
ZIP_LABEL = "Find examples in your own images (zip)"


def open_neuron(page, url: str) -> None:
    page.goto(f"{url}/neuron?layer={LAYER}&channel={CHANNEL}")
    page.get_by_role("button", name="Render", exact=True).wait_for(timeout=TIMEOUT_S * 1000)


def choose_zip(page, name: str, data: bytes) -> None:
    uploader = page.locator(UPLOADER).filter(has_text=ZIP_LABEL)
    uploader.locator('input[type="file"]').set_input_files(
        files=[{"name": name, "mimeType": "application/zip", "buffer": data}])


def visible_captions(page) -> list[str]:
    """The captions shown (those in a folded expander read as empty)."""
    return [text for text in page.locator(CAPTIONS).all_inner_texts() if text]


def loaded_widths(page) -> list[int]:
    """naturalWidth of every image on the page (0 while one has not loaded or failed to)."""
    return page.locator(IMAGES).evaluate_all("images => images.map(image => image.naturalWidth)")


def test_a_zip_waits_in_the_queue_shows_progress_then_its_examples_and_a_hostile_zip_is_one_line(
        start_server, new_page, shots):
    with start_server("zip") as (url, log):
        other = new_page()  # another visitor's long render (one job) holds the only worker
        open_app(other, url)
        fill_explorer(other, first=0, last=1, steps=4000, size=32, seed=4401, every=50)
        other.get_by_role("button", name="Render", exact=True).click()
        wait_for(lambda: (progress(other) or 0) > 0, timeout_s=TIMEOUT_S, what="the other visitor's render")

        page = new_page()
        open_neuron(page, url)
        choose_zip(page, "mine.zip", pictures_zip(160, seed=500, **{"notes.txt": b"not an image"}))
        queued = page.get_by_text("Your zip is queued: 1 ahead of you")
        queued.wait_for(timeout=120_000)
        shots(page, "queued")

        other.get_by_role("button", name="Stop", exact=True).click()
        wait_for(lambda: progress(page) is not None, timeout_s=TIMEOUT_S, what="the zip's progress")
        shots(page, "progress")
        heading = page.get_by_text(f"Dataset examples of {LAYER}:{CHANNEL}")
        heading.wait_for(timeout=TIMEOUT_S * 1000)
        page.get_by_text("Examples found in the 160 images of mine.zip (1 other file(s) skipped)").wait_for()
        wait_for(lambda: len(loaded_widths(page)) >= 2 and min(loaded_widths(page)) > 0, timeout_s=60,
                 what="the examples images to load")
        shots(page, "examples")
        shown = visible_captions(page)
        assert len(shown) >= 2 and all("pictures/p" in text for text in shown), shown
        assert progress(page) is None and page.locator(ERROR).count() == 0

        evil = zip_bytes({"pictures/ok.png": picture_png(1), "../../evil.png": picture_png(2)})
        choose_zip(page, "evil.zip", evil)
        error = page.locator(ERROR)
        error.wait_for(timeout=60_000)
        shots(page, "hostile")
        assert error.count() == 1  # one line, after the alert's icon name
        assert error.inner_text().split("\n")[-1] == ("the zip entry '../../evil.png' points outside the zip's root "
                                                      "(a '..' component); every entry must stay inside it")
        assert visible_captions(page) == shown and min(loaded_widths(page)) > 0
        assert heading.count() == 1 and page.locator(EXCEPTION).count() == 0
        assert other.locator(EXCEPTION).count() == 0
    text = log.read_text()
    assert "Traceback" not in text, text[-4000:]
