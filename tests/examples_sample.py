"""A folder of images whose dataset examples are known, shared by the examples tests and the app tests.

Feature visualizations of a few channels of EfficientNet-Lite0 ``_blocks.4`` (real weights), each made to
excite its own channel, mixed with noise and flat grey pictures of other sizes: the image that excites
channel c most must be channel c's own render, and it must not be among c's most suppressing images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MODEL, LAYER = "efficientnet-lite0", "_blocks.4"
CHANNELS = (0, 1, 2, 3)
RENDER = dict(steps=32, size=64, seed=0)


def render_file(channel: int) -> str:
    return f"renders/{LAYER}_{channel}.png"


def known_folder(root: Path, model=None) -> Path:
    """``root`` filled with the renders of CHANNELS, four noise images and two grey ones (PNG and JPEG,
    non-square, of other sizes). Returns ``root``."""
    from PIL import Image

    from featviz_core.render import render
    from featviz_core.request import RenderRequest

    result = render(RenderRequest(model=MODEL, layer=LAYER, channels=CHANNELS, **RENDER), model=model)
    (root / "renders").mkdir(parents=True)
    for channel, image in zip(CHANNELS, result.images):
        Image.fromarray(image).save(root / render_file(channel))
    generator = np.random.default_rng(0)
    (root / "other").mkdir()
    for i, (h, w) in enumerate([(64, 64), (80, 120), (120, 72), (96, 96)]):
        Image.fromarray(generator.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / f"other/noise{i}.png")
    Image.new("RGB", (90, 60), (128, 128, 128)).save(root / "other/grey.jpg", quality=95)
    Image.new("RGB", (50, 70), (60, 60, 60)).save(root / "grey-dark.png")
    return root


def examples_store(root: Path, images: Path, layers: str, top: int = 3) -> Path:
    """A folder of examples stores: ``root`` with one store, ``known``, of MODEL's ``layers`` (names separated
    by commas) over the images of ``images`` (real weights, top ``top``). Returns ``root``."""
    from featviz_core.examples.runner import build_examples

    last = build_examples(root / "known", MODEL, layers, images, top=top, batch=5)
    assert last.finished, last
    return root


def picture_png(seed: int, size: tuple[int, int] = (48, 64)) -> bytes:
    """A small random-noise PNG (``size`` is height, width)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def zip_bytes(files: dict[str, bytes], compression: int | None = None) -> bytes:
    """A real zip (``zipfile``) of ``files``: path inside the zip -> content (deflated unless told)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression if compression is not None else zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def pictures_zip(count: int, seed: int = 0, **others: bytes) -> bytes:
    """A zip of ``count`` small noise PNGs under ``pictures/`` (and ``others``: more files by path)."""
    files = {f"pictures/p{i:03d}.png": picture_png(seed + i, (40 + 8 * (i % 4), 56)) for i in range(count)}
    return zip_bytes({**files, **others})


# ----- damaged stores: what a hand-edited or broken examples.json can hold, and the line that says so ---------
def _first(data: dict, layer: str, side: str = "top") -> dict:
    return data["layers"][layer]["examples"][0][side][0]


def _outside_png(store: Path) -> Path:
    """A real PNG next to the store (outside it), for paths that try to reach it."""
    outside = store.parent / f"{store.name}-outside.png"
    outside.write_bytes(picture_png(0, (8, 8)))
    return outside


def _linked_crop(store: Path, data: dict, layer: str) -> None:
    crop = store / _first(data, layer)["crop"]
    crop.unlink()
    crop.symlink_to(_outside_png(store))


def _replace(key: str, value):
    def damage(store: Path, data: dict, layer: str) -> None:
        _first(data, layer)[key] = value(store) if callable(value) else value
    return damage


def _crop_bytes(content: bytes | None):
    def damage(store: Path, data: dict, layer: str) -> None:
        crop = store / _first(data, layer)["crop"]
        crop.unlink() if content is None else crop.write_bytes(content)
    return damage


def _layer_entry(value):
    def damage(store: Path, data: dict, layer: str) -> None:
        data["layers"][layer] = value
    return damage


def _channel_without_top(store: Path, data: dict, layer: str) -> None:
    del data["layers"][layer]["examples"][0]["top"]


def _maps(value: str):
    def damage(store: Path, data: dict, layer: str) -> None:
        data["layers"][layer]["maps"] = value
    return damage


# name -> (how the store is damaged: f(store, data, layer) edits data (written back) or files, what the line says)
DAMAGES = {
    "layer-not-a-table": (_layer_entry(["not", "a", "table"]), "layer {layer} is ['not', 'a', 'table'], not a table"),
    "channel-without-top": (_channel_without_top,
                            "layer {layer}, channel 0 is not a table with 'top' and 'bottom' lists"),
    "image-up": (_replace("image", "../../secret.png"),
                 "its image '../../secret.png' is not a path inside the images folder"),
    "image-absolute": (_replace("image", "/etc/passwd"), "its image '/etc/passwd' is not a path inside the images"),
    "crop-up": (_replace("crop", lambda store: f"../{_outside_png(store).name}"),
                "its crop '../known-crop-up-outside.png' is not a file inside the store's crops/ folder"),
    "crop-absolute": (_replace("crop", lambda store: str(_outside_png(store))),
                      "its crop '/", ),
    "crop-linked-out": (_linked_crop, "is not a file inside the store's crops/ folder"),
    "crop-missing": (_crop_bytes(None), "is not in the store (crops are PNG files under crops/)"),
    "crop-not-png": (_crop_bytes(b"\xff\xd8\xff\xe0 a JPEG, not a PNG"), "is not a PNG file"),
    "activation-text": (_replace("activation", "high"), "its activation 'high' is not a number"),
    "box-short": (_replace("box", [0, 0, 5]), "its box [0, 0, 5] is not a list of 4 whole numbers"),
    "view-box-long": (_replace("view_box", [0, 0, 5, 5, 5]), "its view_box [0, 0, 5, 5, 5] is not a list of 4"),
    "maps-up": (_maps("../../maps.npy"), "its maps file '../../maps.npy' is not a file inside the store's maps/"),
    "not-json": (None, "its examples.json cannot be read as JSON"),
}


def damaged_store(good: Path, root: Path, name: str, layer: str) -> tuple[Path, str]:
    """A copy of store ``good`` as ``root/known-NAME`` damaged as DAMAGES[name] says. Returns the copy and what
    the line about it must say."""
    import json
    import shutil

    store = root / f"known-{name}"
    shutil.copytree(good, store, symlinks=True)
    damage, says = DAMAGES[name]
    result = store / "examples.json"
    if damage is None:
        result.write_text(result.read_text()[:-40])
    else:
        data = json.loads(result.read_text())
        damage(store, data, layer)
        result.write_text(json.dumps(data))
    return store, says.format(layer=layer)
