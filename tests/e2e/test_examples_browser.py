"""Dataset examples and heatmaps in Debian's chromium, from stores built here with the real EfficientNet-Lite0
weights: a channel's top and bottom examples on the Neuron page, where an uploaded photo fires each of its
most excited channels beside their atlas images on the Photo page, and the examples strip under each Gallery
tile with its full images and heatmaps behind "More". Every image must really be drawn (decoded by the
browser: natural width > 0), and the server log must hold no traceback."""

from __future__ import annotations

import io
import json

import pytest
from e2e_helpers import ERROR, EXCEPTION, wait_for
from PIL import Image

from atlas_sample import LAYER as GALLERY_LAYER, channels_atlas, partial_atlas
from examples_sample import LAYER as KNOWN_LAYER, examples_store, known_folder, render_file

pytestmark = pytest.mark.e2e

PHOTO_LAYER = "_blocks.10"  # the Photo page's layer (the model's default)
LISTED = 8  # channels the Photo page lists by default
KNOWN_CHANNEL = 2
TIMEOUT_S = 300  # a loaded 2-core machine: the first page pays the model's warm-up
READ_IMAGES = """(elements) => elements.map(e => {
    const img = e.querySelector('img');
    const caption = e.querySelector('[data-testid="stImageCaption"]');
    const box = img ? img.getBoundingClientRect() : {x: 0, y: 0};
    return {caption: caption ? caption.innerText.trim() : '', loaded: !!img && img.complete && img.naturalWidth > 0,
            x: box.x, y: box.y};
})"""


@pytest.fixture(scope="module")
def known_images(tmp_path_factory, effnet):
    return known_folder(tmp_path_factory.mktemp("known") / "images", model=effnet)


@pytest.fixture(scope="module")
def examples_dir(tmp_path_factory, known_images):
    """One examples store (top 3) of the known folder, for the Neuron page's layer and the Gallery's."""
    return examples_store(tmp_path_factory.mktemp("examples"), known_images, f"{KNOWN_LAYER},{GALLERY_LAYER}")


@pytest.fixture(scope="module")
def photo(known_images) -> bytes:
    """The photo uploaded to the Photo page: one of the known folder's pictures, as a JPEG."""
    buffer = io.BytesIO()
    with Image.open(known_images / render_file(1)) as image:
        image.convert("RGB").resize((160, 120)).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo_channels(photo, effnet) -> tuple[int, ...]:
    """The channels of PHOTO_LAYER the photo excites most, as the Photo page finds them."""
    from featviz_core.photos.analysis import top_channels
    from featviz_core.photos.uploads import load_upload

    found = top_channels("efficientnet-lite0", PHOTO_LAYER, load_upload(photo), LISTED, model=effnet)
    return tuple(item.channel for item in found)


@pytest.fixture(scope="module")
def atlas_dir(tmp_path_factory, photo_channels):
    """The Gallery's partly rendered atlas of GALLERY_LAYER ("effnet", listed first), and an atlas of just
    the photo's channels of PHOTO_LAYER."""
    root = partial_atlas(tmp_path_factory.mktemp("atlases"))
    channels_atlas(root / "photo", PHOTO_LAYER, photo_channels)
    return root


def examples_of(examples_dir, layer: str, channel: int) -> dict:
    data = json.loads((examples_dir / "known" / "examples.json").read_text())
    return data["layers"][layer]["examples"][channel]


def images(page, scope: str = '[data-testid="stMain"]') -> list[dict]:
    return page.locator(f'{scope} [data-testid="stImageContainer"]').evaluate_all(READ_IMAGES)


def drawn(page, wanted: list[str], scope: str = '[data-testid="stMain"]') -> list[dict]:
    """Wait until an image with each caption of ``wanted`` is on the page and decoded; returns them all."""
    def ready():
        shown = images(page, scope)
        loaded = [image["caption"] for image in shown if image["loaded"]]
        return shown if all(loaded.count(c) >= wanted.count(c) for c in set(wanted)) else None

    return wait_for(ready, timeout_s=120, what=f"images captioned {wanted[:4]}... to be drawn")


def assert_clean(page, log) -> None:
    assert page.locator(EXCEPTION).count() == 0 and page.locator(ERROR).count() == 0
    assert "Traceback" not in log.read_text()


def test_the_neuron_page_shows_a_channels_top_and_bottom_examples(examples_server, examples_dir, new_page, shots):
    base, log = examples_server
    expected = examples_of(examples_dir, KNOWN_LAYER, KNOWN_CHANNEL)
    page = new_page()
    page.goto(f"{base}/neuron?layer={KNOWN_LAYER}&channel={KNOWN_CHANNEL}")
    page.get_by_text(f"Dataset examples of {KNOWN_LAYER}:{KNOWN_CHANNEL}", exact=True).wait_for(
        timeout=TIMEOUT_S * 1000)
    crops = {side: [f"{e['activation']:.3g} · {e['image']}" for e in expected[side]] for side in ("top", "bottom")}
    assert len(crops["top"]) == len(crops["bottom"]) == 3
    drawn(page, crops["top"] + crops["bottom"])
    # The image that excites the channel most is its own feature visualization (the known folder's design).
    assert crops["top"][0].endswith(render_file(KNOWN_CHANNEL))
    assert expected["top"][0]["activation"] > expected["bottom"][0]["activation"]

    # The full images with their heatmaps open under the crops.
    page.get_by_text("Full images and heatmaps (excite it most)", exact=True).click()
    page.get_by_text("Full images and heatmaps (suppress it most)", exact=True).click()
    views = wait_for(lambda: [i for i in images(page, '[data-testid="stExpander"]') if i["loaded"]] or None,
                     timeout_s=60, what="the heatmaps in the expanders")
    assert [i["caption"] for i in views] == crops["top"] + crops["bottom"]
    shots(page, "neuron-examples")
    assert_clean(page, log)


def test_the_photo_page_shows_where_the_photo_fires_beside_the_atlas_images(examples_server, photo, photo_channels,
                                                                            new_page, shots):
    base, log = examples_server
    page = new_page()
    page.goto(f"{base}/photo")
    page.locator('[data-testid="stFileUploader"]').wait_for(timeout=TIMEOUT_S * 1000)
    page.locator("input[type=file]").set_input_files(
        files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": photo}])
    page.get_by_text("Where each channel fires in your photo").wait_for(timeout=TIMEOUT_S * 1000)
    wanted = [text for c in photo_channels for text in (f"{PHOTO_LAYER}:{c} in your photo", "its atlas image")]
    shown = drawn(page, wanted)
    # Each channel's heatmap is drawn beside (right before) its atlas image, in the order the page lists them.
    pairs = [image for image in shown if image["caption"] in wanted]
    assert [image["caption"] for image in pairs] == wanted
    for heat, atlas in zip(pairs[::2], pairs[1::2]):  # beside: on the same line, to the right
        assert atlas["x"] > heat["x"] and abs(atlas["y"] - heat["y"]) < 2, (heat, atlas)
    shots(page, "photo-heatmaps")
    assert_clean(page, log)


def test_the_gallery_shows_each_channels_examples_and_their_heatmaps(examples_server, examples_dir, new_page, shots):
    from featviz_ui.dataset_examples import short_activation

    base, log = examples_server
    rows = [examples_of(examples_dir, GALLERY_LAYER, c) for c in range(60)]
    page = new_page()
    page.goto(f"{base}/gallery")
    page.get_by_role("heading", name="Gallery", exact=True).wait_for(timeout=TIMEOUT_S * 1000)
    strips = [short_activation(e["activation"]) for row in rows for e in row["top"][:3]]
    shown = drawn(page, strips)
    assert [i["caption"] for i in shown if i["caption"]] == strips  # three crops under each of the 60 tiles
    assert sum(1 for i in shown if not i["caption"] and i["loaded"]) == 60  # and the 60 atlas tiles
    shots(page, "gallery-examples")

    page.get_by_role("button", name="More").nth(3).click()
    dialog = '[role="dialog"]'
    page.locator(dialog).get_by_text(f"{GALLERY_LAYER}:3", exact=True).first.wait_for()
    views = [f"{e['activation']:.3g} · {e['image']}" for side in ("top", "bottom") for e in rows[3][side]]
    shown = drawn(page, views, scope=dialog)
    assert [i["caption"] for i in shown if " · " in i["caption"]] == views
    shots(page, "gallery-more")
    assert_clean(page, log)
