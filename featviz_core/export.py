"""Grids, PNG bytes, zips and metadata: pure functions over rendered images."""

from __future__ import annotations

import io
import json
import platform
import zipfile
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def grid_image(
    images: np.ndarray,
    labels: Sequence[str],
    *,
    columns: int = 5,
    title: str | None = None,
    note: str | None = None,
    tile: int | None = None,
    gap: int = 8,
) -> Image.Image:
    """A labelled grid like the seed notebook's 2x5 figure.

    Args:
        images: (B, H, W, 3) uint8.
        labels: one caption per image (``mixed4a:3``).
        columns: images per row (5, as in the Distill-style figure).
        title: optional heading above the grid.
        note: optional line below the grid (e.g. the method and settings).
        tile: side each image is resized to (default: the images' own size).
    """
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (B, H, W, 3), got {images.shape}")
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    count = len(images)
    columns = max(1, min(columns, count))
    rows = (count + columns - 1) // columns
    side = tile or images.shape[1]
    label_font = _font(max(11, side // 10))
    label_h = label_font.size + 8 if hasattr(label_font, "size") else 20
    title_font = _font(max(14, side // 7))
    title_h = (title_font.size + 16) if title else 0
    note_font = _font(max(10, side // 12))
    note_h = (note_font.size + 12) if note else 0
    width = columns * side + (columns + 1) * gap
    height = title_h + rows * (side + label_h) + (rows + 1) * gap + note_h
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((width / 2, gap + title_h / 2), title, fill="black", font=title_font, anchor="mm")
    for i, (array, label) in enumerate(zip(images, labels)):
        row, col = divmod(i, columns)
        x = gap + col * (side + gap)
        y = title_h + gap + row * (side + label_h + gap)
        tile_img = Image.fromarray(array)
        if tile_img.size != (side, side):
            tile_img = tile_img.resize((side, side), Image.LANCZOS)
        canvas.paste(tile_img, (x, y))
        draw.text((x + side / 2, y + side + label_h / 2), label, fill="black", font=label_font, anchor="mm")
    if note:
        draw.text((width / 2, height - note_h / 2), note, fill=(90, 90, 90), font=note_font, anchor="mm")
    return canvas


def png_bytes(image: Image.Image | np.ndarray, metadata: dict[str, str] | None = None) -> bytes:
    """Encode an image as PNG, with optional text chunks."""
    from PIL import PngImagePlugin

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    info = PngImagePlugin.PngInfo()
    for key, value in (metadata or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


MAX_NAME_CHARS = 120


def safe_filename(label: str) -> str:
    """``mixed4a:3`` -> ``mixed4a_3``; anything but ASCII letters, digits, '.', '-' and '_' becomes '_'.

    Never a path (no separators, no leading dot) and at most 120 characters: a long label (a custom
    objective may be 500 characters) is cut and ends with a short hash of the whole, so names stay distinct
    and every file system can hold them.
    """
    cleaned = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in ".-_" else "_" for ch in label)
    cleaned = cleaned.lstrip(".") or "image"
    if len(cleaned) > MAX_NAME_CHARS:
        import hashlib

        digest = hashlib.sha256(label.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        cleaned = cleaned[: MAX_NAME_CHARS - 11] + "-" + digest
    return cleaned


def versions() -> dict[str, str]:
    import torch

    from featviz_core import __version__

    return {"featviz": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "numpy": np.__version__}


def render_metadata(result: Any, wall_time_s: float | None = None) -> dict[str, Any]:
    """Everything needed to reproduce and judge a render (``render.json``)."""
    request = result.request
    return {
        "settings": request.to_dict(),
        "seed": request.seed,
        "labels": list(result.labels),
        "final_objective": {label: float(score) for label, score in zip(result.labels, result.scores)},
        "steps_done": int(result.steps_done),
        "stopped": result.stopped,
        "note": result.note,
        "device": result.device,
        "render_time_s": round(float(result.elapsed_s), 3),
        "wall_time_s": None if wall_time_s is None else round(float(wall_time_s), 3),
        "versions": versions(),
        "key": request.key(),
    }


def describe_settings(request: Any) -> str:
    """One line for figure notes: what method produced the images."""
    param = "Fourier" if request.fft else "pixel"
    color = ", decorrelated color" if request.decorrelate else ""
    extras = []
    if request.tv:
        extras.append(f"TV {request.tv:g}")
    if request.l2:
        extras.append(f"L2 {request.l2:g}")
    extra = (", " + ", ".join(extras)) if extras else ""
    return (f"{request.model}, {param} parameterization{color}, {request.transforms} transforms, "
            f"{request.steps} steps, {request.size} px, lr {request.lr:g}, seed {request.seed}{extra}")


def result_zip(result: Any, *, wall_time_s: float | None = None, columns: int = 5) -> bytes:
    """A zip with ``grid.png``, one PNG per image (``LAYER_CHANNEL.png``) and ``render.json``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in result_files(result, wall_time_s=wall_time_s, columns=columns).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def result_files(result: Any, *, wall_time_s: float | None = None, columns: int = 5) -> dict[str, bytes]:
    """File name -> bytes for everything a render exports."""
    files: dict[str, bytes] = {}
    grid = grid_image(result.images, result.labels, columns=columns, note=describe_settings(result.request))
    files["grid.png"] = png_bytes(grid)
    for array, label in zip(result.images, result.labels):
        files[f"{safe_filename(label)}.png"] = png_bytes(array, {"featviz": label})
    files["render.json"] = json.dumps(render_metadata(result, wall_time_s), indent=2).encode()
    return files
