import io
import json
import zipfile

import numpy as np
from PIL import Image

from featviz_core.outputs.export import png_bytes, result_zip, safe_filename
from featviz_core.outputs.figures import grid_image
from featviz_core.render import RenderResult
from featviz_core.request import RenderRequest


def _result(count=3):
    request = RenderRequest(model="efficientnet-lite0", channels=tuple(range(count)), steps=4, size=16)
    images = np.stack([np.full((16, 16, 3), 40 * i, dtype=np.uint8) for i in range(count)])
    return RenderResult(request=request, images=images, labels=request.labels(), scores=np.arange(count, dtype=np.float32),
                        history=np.zeros((4, count), np.float32), steps_done=4, elapsed_s=1.5, device="cpu")


def test_grid_layout_is_five_per_row_with_captions():
    images = np.stack([np.full((20, 20, 3), 25 * i, dtype=np.uint8) for i in range(10)])
    grid = grid_image(images, [f"mixed4a:{i}" for i in range(10)], gap=8)
    assert grid.width == 5 * 20 + 6 * 8
    arr = np.asarray(grid)
    assert (arr[8:28, 8:28] == 0).all()  # first tile in place
    assert (arr[8:28, 8 + 4 * 28: 28 + 4 * 28] == 100).all()  # fifth tile ends the first row
    caption_band = arr[28:28 + 10, 8:28]
    assert (caption_band < 128).any()  # caption text drawn under the tile


def test_png_round_trip_and_safe_names():
    image = np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(image)))), image)
    assert safe_filename("mixed4a:3") == "mixed4a_3"
    assert safe_filename("_blocks.10:7") == "_blocks.10_7"
    assert safe_filename("-mixed4a:3") == "negmixed4a_3"  # never taken for a command-line option
    assert safe_filename("../../etc/passwd") == "_.._etc_passwd"


def test_zip_holds_grid_pngs_and_render_json():
    archive = zipfile.ZipFile(io.BytesIO(result_zip(_result())))
    assert sorted(archive.namelist()) == ["_blocks.10_0.png", "_blocks.10_1.png", "_blocks.10_2.png", "grid.png", "render.json"]
    meta = json.loads(archive.read("render.json"))
    assert meta["final_objective"] == {"_blocks.10:0": 0.0, "_blocks.10:1": 1.0, "_blocks.10:2": 2.0}
    assert meta["settings"]["size"] == 16 and "featviz" in meta["versions"]
