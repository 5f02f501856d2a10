"""The seed's figures: the detailed view (Lanczos, at least 512 px per image, labelled), the titled grid,
the summary figure with the method under it, and what ``render --out DIR --title TEXT`` writes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from featviz_core.outputs.export import png_bytes, result_files
from featviz_core.outputs.figures import detail_image, grid_image, lanczos, summary_figure
from featviz_core.render import RenderResult
from featviz_core.request import RenderRequest
from featviz_core.words import method_note

GAP = 16  # detail_image's default gap


def tiles(count: int, side: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, side, side, 3), dtype=np.uint8)


def labels(count: int) -> list[str]:
    return [f"mixed4a:{i}" for i in range(count)]


def test_lanczos_is_pils_lanczos_resize():
    image = tiles(1, 40)[0]
    expected = np.asarray(Image.fromarray(image).resize((512, 512), Image.LANCZOS))
    assert np.array_equal(lanczos(image, 512), expected)
    # and differs from a nearest-neighbour enlargement (it really resamples)
    nearest = np.asarray(Image.fromarray(image).resize((512, 512), Image.NEAREST))
    assert not np.array_equal(lanczos(image, 512), nearest)


@pytest.mark.parametrize("count, shown", [(10, 4), (4, 4), (3, 3), (1, 1)])
def test_detail_shows_the_first_four_or_fewer_each_512_px_lanczos(count, shown):
    images = tiles(count)
    figure = np.asarray(detail_image(images, labels(count)))
    assert figure.shape[1] == shown * 512 + (shown + 1) * GAP
    for i in range(shown):  # each enlarged image sits in its place, equal to PIL's Lanczos of its tile
        x = GAP + i * (512 + GAP)
        assert np.array_equal(figure[GAP:GAP + 512, x:x + 512], lanczos(images[i], 512))
    caption_band = figure[GAP + 512: GAP + 512 + 40, GAP:GAP + 512]
    assert (caption_band < 128).any(), "each image is labelled under it"
    assert figure.shape[0] > 512 + 2 * GAP


def test_detail_keeps_images_larger_than_512_at_their_own_size():
    figure = detail_image(tiles(2, 600), labels(2))
    assert figure.width == 2 * 600 + 3 * GAP


def test_detail_refuses_mismatched_labels():
    with pytest.raises(ValueError, match="2 images but 1 labels"):
        detail_image(tiles(2), labels(1))


def test_a_title_adds_a_band_with_text_above_the_same_grid():
    images = tiles(10)
    plain = np.asarray(grid_image(images, labels(10)))
    titled = np.asarray(grid_image(images, labels(10), title="Channels of mixed4a"))
    band = titled.shape[0] - plain.shape[0]
    assert band > 10 and titled.shape[1] == plain.shape[1]
    assert (titled[:band] < 128).any(), "the title is written in the top band"
    assert (plain[:8] == 255).all()
    assert np.array_equal(titled[band:], plain), "below the title the grid is unchanged"


def _request(**changes) -> RenderRequest:
    base = dict(model="efficientnet-lite0", layer="_blocks.10", channels=tuple(range(10)), steps=512, size=128)
    return RenderRequest(**{**base, **changes})


def test_the_method_note_states_the_settings():
    note = method_note(_request(tv=0.0005, seed=7))
    for words in ("EfficientNet-Lite0", "layer _blocks.10", "Adam (lr 0.05) for 512 steps", "128 px",
                  "Fourier parameterization", "decorrelated color", "upsampled to 224 px",
                  "standard transforms (pad 12 px, jitter 8 px, scale 0.9-1.1, rotate -10 to 10 degrees, jitter 4 px)",
                  "TV weight 0.0005", "Seed 7"):
        assert words in note, (words, note)
    plain = method_note(_request(fft=False, decorrelate=False, transforms="none", upsample=False), steps_done=100)
    assert "pixel parameterization" in plain and "no random transforms" in plain and "stopped after 100" in plain
    assert "decorrelated" not in plain and "upsampled" not in plain


def test_the_summary_figure_is_the_titled_grid_with_the_method_under_it():
    images, request = tiles(10), _request()
    figure = np.asarray(summary_figure(images, labels(10), request, title="Seed figure"))
    titled = np.asarray(grid_image(images, labels(10), title="Seed figure"))
    assert figure.shape[1] == titled.shape[1] and figure.shape[0] > titled.shape[0]
    assert np.array_equal(figure[: titled.shape[0] - 20], titled[: titled.shape[0] - 20])
    assert (figure[titled.shape[0]:] < 200).any(), "the method is written under the grid"


def _result(count: int, side: int = 32) -> RenderResult:
    request = RenderRequest(model="efficientnet-lite0", layer="_blocks.10", channels=tuple(range(count)), steps=4,
                            size=side)
    return RenderResult(request=request, images=tiles(count, side), labels=request.labels(),
                        scores=np.zeros(count, np.float32), history=np.zeros((4, count), np.float32), steps_done=4,
                        elapsed_s=1.0, device="cpu")


def test_result_files_add_the_detail_and_title_only_when_asked():
    result = _result(6)
    plain = result_files(result)
    assert "detail.png" not in plain  # the app's zip stays as it was
    files = result_files(result, title="My figure", detail=True)
    detail = Image.open(io.BytesIO(files["detail.png"]))
    assert detail.width == 4 * 512 + 5 * GAP
    assert files["detail.png"] == png_bytes(detail_image(result.images, result.labels))
    assert Image.open(io.BytesIO(files["grid.png"])).height > Image.open(io.BytesIO(plain["grid.png"])).height


def test_render_command_writes_detail_png_and_titles_the_grid(tmp_path):
    from featviz_core.cli.dispatch import main

    common = ["render", "--model", "efficientnet-lite0", "--layer", "_blocks.1", "--channels", "0-2", "--steps",
              "2", "--size", "32", "--no-upsample", "--quiet"]
    assert main(common + ["--out", str(tmp_path / "plain")]) == 0
    assert main(common + ["--title", "Three channels", "--out", str(tmp_path / "titled")]) == 0
    detail = np.asarray(Image.open(tmp_path / "titled" / "detail.png"))
    assert detail.shape[1] == 3 * 512 + 4 * GAP  # three channels, each 512 px wide
    first = np.asarray(Image.open(tmp_path / "titled" / "_blocks.1_0.png"))
    assert np.array_equal(detail[GAP:GAP + 512, GAP:GAP + 512], lanczos(first, 512))
    plain = np.asarray(Image.open(tmp_path / "plain" / "grid.png"))
    titled = np.asarray(Image.open(tmp_path / "titled" / "grid.png"))
    band = titled.shape[0] - plain.shape[0]
    assert band > 10 and (titled[:band] < 128).any()
