"""Transparent renders in figures and exports (RGBA PNGs, RGBA grid and detail view, the screen's
checkerboard), and how the app lays out the renders beyond one image per channel."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from featviz_core.outputs.arrange import arrange
from featviz_core.outputs.export import result_files
from featviz_core.outputs.figures import detail_image, grid_image, on_checkerboard, summary_figure
from featviz_core.render import RenderResult
from featviz_core.request import RenderRequest
from featviz_core.words import describe_settings, heading
from featviz_core.words import method_note

EARLY = "_blocks.4"


def rgba(count: int, side: int = 32) -> np.ndarray:
    images = np.random.default_rng(0).integers(0, 256, (count, side, side, 4), dtype=np.uint8)
    images[:, : side // 2, :, 3] = 0  # the top half fully transparent
    images[:, side // 2:, :, 3] = 255
    return images


def request(**changes) -> RenderRequest:
    return RenderRequest(**{"model": "efficientnet-lite0", "layer": EARLY, "channels": (0, 1), "steps": 2,
                            "size": 32, **changes})


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_a_transparent_renders_pngs_and_grid_keep_their_alpha():
    req = request(alpha=True)
    images = rgba(2)
    result = RenderResult(request=req, images=images, labels=req.labels(), scores=np.zeros(2, np.float32),
                          history=np.zeros((2, 2), np.float32), steps_done=2, elapsed_s=0.1, device="cpu")
    files = result_files(result, detail=True)
    single = decoded(files[f"{EARLY}_0.png"])
    assert single.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(single), images[0])
    for name in ("grid.png", "detail.png"):
        figure = decoded(files[name])
        assert figure.mode == "RGBA", name
        alpha = np.asarray(figure)[..., 3]
        assert alpha.min() == 0 and alpha.max() == 255, "transparent tiles on an opaque page"
    for text in (describe_settings(req), method_note(req)):  # the figures' notes say so
        assert "transparent (alpha over random backgrounds, pressure 1)" in text, text


def test_the_grid_keeps_each_tiles_alpha_where_the_tile_is():
    images = rgba(3)
    grid = np.asarray(grid_image(images, ["a", "b", "c"], columns=3, gap=8))
    tile = grid[8: 8 + 32, 8: 8 + 32]
    np.testing.assert_array_equal(tile, images[0])
    assert (grid[:8, :, 3] == 255).all(), "the margin is opaque"
    assert np.asarray(detail_image(images, ["a", "b", "c"])).shape[-1] == 4
    assert np.asarray(summary_figure(images, ["a", "b", "c"], request(alpha=True), title="T")).shape[-1] == 4


def test_the_checkerboard_shows_through_transparent_pixels_only():
    image = rgba(1, side=16)[0]
    shown = on_checkerboard(image, square=4)
    assert shown.shape == (16, 16, 3)
    np.testing.assert_array_equal(shown[8:], image[8:, :, :3])  # opaque: the image itself
    assert shown[0, 0].tolist() == [255, 255, 255] and shown[0, 4].tolist() == [204, 204, 204]
    opaque = image[..., :3]
    assert on_checkerboard(opaque) is opaque


def test_the_layout_pairs_negatives_groups_diverse_images_and_lines_up_frames():
    plain = arrange(request(channels=(0, 1, 2)))
    assert [row.indices for block in plain.blocks for row in block.rows] == [(0, 1, 2)] and not plain.explanation

    pairs = arrange(request(negative=True))
    assert pairs.side_by_side
    assert [(b.title, [r.indices for r in b.rows]) for b in pairs.blocks] == [
        (f"{EARLY}:0", [(0, 1)]), (f"{EARLY}:1", [(2, 3)])]

    diverse = arrange(request(diversity=3, negative=True))
    assert not diverse.side_by_side
    assert [(b.title, [(r.label, r.indices) for r in b.rows]) for b in diverse.blocks] == [
        (f"{EARLY}:0", [("excites (maximized)", (0, 1, 2)), ("suppresses (negated)", (3, 4, 5))]),
        (f"{EARLY}:1", [("excites (maximized)", (6, 7, 8)), ("suppresses (negated)", (9, 10, 11))])]

    frames = arrange(request(interpolate=f"{EARLY}:1,{EARLY}:2", frames=4))
    assert [(b.title, [r.indices for r in b.rows]) for b in frames.blocks] == [
        ("", [(0, 1, 2, 3)])]
    with_negatives = arrange(request(interpolate=f"{EARLY}:1,{EARLY}:2", frames=3, negative=True))
    assert [r.indices for r in with_negatives.blocks[0].rows] == [(0, 2, 4), (1, 3, 5)]
    for layout, req in ((pairs, request(negative=True)), (diverse, request(diversity=3, negative=True))):
        assert sorted(layout.order) == list(range(len(req.labels())))


def test_the_heading_says_what_the_images_optimize():
    assert heading(request(channels=(3,))) == f"{EARLY}, channel 3"
    assert heading(request(objective="neuron", position="2,3")) == f"{EARLY}, the neuron at 2,3 of channels 0-1"
    assert heading(request(objective="neuron")) == f"{EARLY}, the centre neuron of channels 0-1"
    assert heading(request(objective="layer", alpha=True)) == f"{EARLY}, the whole layer (DeepDream) · transparent"
    assert heading(request(expression=f"{EARLY}:3", negate=True)) == f"Free objective: {EARLY}:3 · negated (minimized)"
    assert heading(request(negative=True, diversity=2)) == \
        f"{EARLY}, channels 0-1 · with negatives, 2 diverse images each"
