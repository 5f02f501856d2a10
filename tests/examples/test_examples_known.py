"""A folder where the answer is known: each rendered channel's top example is its own render, never one of
its bottom examples; the store holds what examples.json promises (crops, views, maps, boxes)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from examples_helpers import TOP, result
from examples_sample import CHANNELS, LAYER, MODEL, render_file
from PIL import Image

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def test_each_rendered_channel_is_excited_most_by_its_own_render(local_examples):
    data = result(local_examples)
    rows = data["layers"][LAYER]["examples"]
    assert data["model"] == MODEL and data["layers"][LAYER]["channels"] == len(rows) == 40
    for channel in CHANNELS:
        top = [e["image"] for e in rows[channel]["top"]]
        bottom = [e["image"] for e in rows[channel]["bottom"]]
        assert top[0] == render_file(channel), (channel, top)
        assert render_file(channel) not in bottom, (channel, bottom)
        # Ranked by the channel's mean activation, highest first on top and lowest first at the bottom.
        top_values = [e["activation"] for e in rows[channel]["top"]]
        bottom_values = [e["activation"] for e in rows[channel]["bottom"]]
        assert top_values == sorted(top_values, reverse=True) and bottom_values == sorted(bottom_values)
        assert top_values[0] > bottom_values[0]


def test_the_top_activation_is_the_channel_mean_on_the_models_view(local_examples, known_images, effnet):
    import torch

    from featviz_core.models import get_spec
    from featviz_core.models.capture import capture_layers
    from featviz_core.photos.analysis import photo_tensor

    entry = result(local_examples)["layers"][LAYER]["examples"][2]["top"][0]
    spec = get_spec(MODEL)
    x = spec.preprocess.apply(photo_tensor(Image.open(known_images / entry["image"]), spec.native_size))
    with torch.no_grad():
        acts = capture_layers(effnet, [LAYER], x)[LAYER][0, 2]
    assert entry["activation"] == pytest.approx(float(acts.mean()), rel=1e-4)
    row, col = entry["position"]
    assert (row, col) == divmod(int(acts.flatten().argmax()), acts.shape[1])
    maps = np.load(local_examples / result(local_examples)["layers"][LAYER]["maps"])
    assert maps.shape == (40, 2, TOP, 28, 28)
    np.testing.assert_allclose(maps[2, 0, 0], acts.numpy(), rtol=1e-4, atol=1e-4)


def test_boxes_crops_and_views_match_the_images(local_examples, known_images):
    data = result(local_examples)
    assert data["counts"] == {"images": 10, "used": 10, "skipped": 0}
    for channel, row in enumerate(data["layers"][LAYER]["examples"]):
        for side in ("top", "bottom"):
            assert len(row[side]) == TOP
            for entry in row[side]:
                with Image.open(known_images / entry["image"]) as image:
                    width, height = image.size
                x0, y0, x1, y1 = entry["box"]
                assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, entry
                vx0, vy0, vx1, vy1 = entry["view_box"]
                assert vx1 - vx0 == vy1 - vy0 == 112 and 0 <= vx0 and vx1 <= 224  # half the 224 px view
                # The box is centred on the position where the channel fires, unless moved inside the view.
                cy, cx = (np.asarray(entry["position"]) + 0.5) * 224 / 28
                assert vx0 <= cx <= vx1 and vy0 <= cy <= vy1
                if channel in CHANNELS:
                    with Image.open(local_examples / entry["crop"]) as crop:
                        assert crop.format == "PNG" and crop.size == (x1 - x0, y1 - y0)
                    with Image.open(local_examples / "views" / f"{entry['number']}.jpg") as view:
                        assert view.size == (224, 224)
    names = {p.name for p in (local_examples / "crops" / LAYER).iterdir()}
    assert len(names) == 40 * 2 * TOP and not [n for n in names if n.startswith(".tmp-")]


def test_a_crop_shows_the_part_of_the_image_in_its_box(local_examples, known_images):
    entry = result(local_examples)["layers"][LAYER]["examples"][0]["top"][0]
    with Image.open(known_images / entry["image"]) as image:
        expected = np.asarray(image.convert("RGB").crop(tuple(entry["box"])))
    crop = np.asarray(Image.open(io.BytesIO((local_examples / entry["crop"]).read_bytes())))
    assert crop.shape == expected.shape and (crop == expected).all()  # small boxes are kept at full size


def test_a_photos_maps_average_to_the_photo_pages_means_and_the_heatmap_marks_the_peak(known_images, effnet):
    from featviz_core.examples.heatmap import layer_maps, overlay
    from featviz_core.photos.analysis import layer_means

    photo = Image.open(known_images / render_file(1)).convert("RGB")
    view, maps = layer_maps(MODEL, LAYER, photo, model=effnet)
    assert view.shape == (224, 224, 3) and view.dtype == np.uint8 and maps.shape == (40, 28, 28)
    np.testing.assert_allclose(maps.mean(axis=(1, 2)), layer_means(MODEL, LAYER, photo, model=effnet),
                               rtol=1e-5, atol=1e-5)
    grey = np.full((224, 224, 3), 128, np.uint8)
    peak = np.zeros((28, 28), np.float32)
    peak[3, 20] = 5.0
    heat = overlay(grey, peak, box=[0, 0, 112, 112]).astype(int)
    brightness = heat.sum(axis=2)
    assert brightness[3 * 8 + 4, 20 * 8 + 4] > brightness[200, 40] + 200  # bright at the peak, dark elsewhere
    assert tuple(heat[50, 0]) == (0, 255, 255)  # the box's outline
    assert overlay(grey, -peak, suppress=True).sum() == overlay(grey, peak).sum()
