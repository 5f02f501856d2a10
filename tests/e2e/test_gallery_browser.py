"""The Gallery in Debian's chromium: a page of 60 tiles read from an atlas store (the pixels of the store),
and a click on a channel that opens it on the Neuron page."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
from e2e_helpers import ERROR, EXCEPTION, OUTPUT, wait_for
from PIL import Image

from atlas_sample import LAYER, partial_atlas

pytestmark = pytest.mark.e2e

TILES = '[data-testid="stMain"] [data-testid="stImage"] img'


@pytest.fixture(scope="module")
def atlas_dir(tmp_path_factory):
    """A folder of atlases with one store of ``_blocks.5``: channels 0-7 rendered, the rest missing."""
    return partial_atlas(tmp_path_factory.mktemp("atlases"))


def test_a_page_of_tiles_from_the_store_and_a_click_that_opens_the_neuron_page(atlas_server, atlas_dir, new_page,
                                                                               shots):
    from featviz_core.atlas.store import AtlasStore, read_entry

    store = AtlasStore.open(atlas_dir / "effnet")
    page = new_page()
    page.goto(f"{atlas_server}/gallery")
    page.get_by_role("heading", name="Gallery", exact=True).wait_for(timeout=120_000)
    opened = time.monotonic()
    wait_for(lambda: page.locator(TILES).count() == 60 and page.locator(TILES).evaluate_all(
        "images => images.every(i => i.complete && i.naturalWidth > 0)"), timeout_s=60, what="60 tiles")
    tiles_s = time.monotonic() - opened
    assert page.locator(EXCEPTION).count() == 0 and page.locator(ERROR).count() == 0
    shots(page, "gallery")

    # The tiles are the store's pixels: the first one, fetched as the browser got it, decodes to channel 0.
    source = page.locator(TILES).first.get_attribute("src")
    served = page.request.get(source if source.startswith("http") else atlas_server + source).body()
    shown = np.asarray(Image.open(io.BytesIO(served)).convert("RGB"))
    assert (shown == read_entry(store.image_path(LAYER, 0))[0]).all()
    assert page.get_by_role("link", name="8", exact=True).count() == 1  # a missing channel: placeholder tile
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "gallery_timing.json").write_text(json.dumps({"heading_to_60_tiles_loaded_s": round(tiles_s, 3)}))

    link = page.get_by_role("link", name="3", exact=True)
    assert link.get_attribute("href") == f"neuron?layer={LAYER}&channel=3"
    link.click()
    page.get_by_role("heading", name="Neuron", exact=True).wait_for(timeout=60_000)
    wait_for(lambda: page.get_by_label("Channel", exact=True).input_value() == "3", timeout_s=30,
             what="the Neuron form to show channel 3")
    assert page.get_by_label("Layer", exact=True).input_value().startswith(f"{LAYER} · 80 channels")
    assert page.locator(EXCEPTION).count() == 0
