"""Any network in a real browser: a torchvision model named in the sidebar with its random-weights checkbox
renders two channels, each image labelled "random weights", without a traceback on the page or in the log."""

from __future__ import annotations

import pytest
from e2e_helpers import ERROR, EXCEPTION, captions, fill_explorer, image_sources, open_app, wait_for

pytestmark = pytest.mark.e2e

TIMEOUT_S = 300  # a loaded 2-core machine: the model's first build and trace, then the render
MODEL = "torchvision:resnet18?weights=random"


def test_a_torchvision_model_with_random_weights_renders_labelled_in_chromium(start_server, new_page, shots):
    with start_server("anynet") as (url, log):
        page = new_page()
        open_app(page, url)
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("Any network", exact=True).click()
        network = sidebar.get_by_label("Network", exact=True)
        network.fill("torchvision:resnet18")
        network.press("Tab")
        sidebar.get_by_text("Random weights (an untrained network)", exact=True).click()
        sidebar.get_by_role("button", name="Add to the picker").click()
        # The Explorer names the picked network (its default layer, resnet18's layer3.1, is preselected).
        page.get_by_text(MODEL, exact=True).wait_for(timeout=TIMEOUT_S * 1000)
        fill_explorer(page, first=0, last=1, steps=4, size=32, seed=701, every=2)
        page.get_by_role("button", name="Render", exact=True).click()
        page.get_by_role("button", name="Download all (zip)").wait_for(timeout=TIMEOUT_S * 1000)
        wait_for(lambda: len(captions(page)) == 2, timeout_s=60, what="both images")
        assert captions(page) == ["layer3.1:0 (random weights)", "layer3.1:1 (random weights)"]
        assert len([src for src in image_sources(page) if src]) >= 2
        assert "torchvision%3Aresnet18%3Fweights%3Drandom" in page.url or "weights=random" in page.url
        shots(page, "random-weights")
        assert page.locator(EXCEPTION).count() == 0 and page.locator(ERROR).count() == 0
        text = log.read_text()
        assert "Traceback" not in text and "Error" not in text, text[-3000:]
