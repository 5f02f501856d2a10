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
