"""PNG bytes, zips, metadata and the files a render exports: pure functions over rendered images.

The figures themselves (grid, detailed view, summary figure) are made in :mod:`featviz_core.outputs.figures`.
"""

from __future__ import annotations

import io
import json
import platform
import zipfile
from typing import Any

import numpy as np
from PIL import Image

from featviz_core.outputs.figures import detail_image, grid_image
from featviz_core.words import describe_settings


def png_bytes(image: Image.Image | np.ndarray, metadata: dict[str, str] | None = None) -> bytes:
    """Encode an image as PNG, with optional text chunks ((H, W, 4) arrays and RGBA images keep their alpha)."""
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
    """``mixed4a:3`` -> ``mixed4a_3``, ``-mixed4a:3`` -> ``negmixed4a_3``; anything but ASCII letters, digits,
    '.', '-' and '_' becomes '_'.

    Never a path (no separators, no leading dot) and at most 120 characters: a long label (a custom
    objective may be 500 characters) is cut and ends with a short hash of the whole, so names stay distinct
    and every file system can hold them.
    """
    cleaned = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in ".-_" else "_" for ch in label)
    if cleaned.startswith("-"):  # a negated objective: a name starting with '-' reads as an option in a shell
        cleaned = "neg" + cleaned.lstrip("-")
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


def result_zip(result: Any, *, wall_time_s: float | None = None, columns: int = 5) -> bytes:
    """A zip with ``grid.png``, one PNG per image (``LAYER_CHANNEL.png``) and ``render.json`` (transparent
    renders: every PNG, the grid included, is RGBA)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in result_files(result, wall_time_s=wall_time_s, columns=columns).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def result_files(result: Any, *, wall_time_s: float | None = None, columns: int = 5, title: str | None = None,
                 detail: bool = False) -> dict[str, bytes]:
    """File name -> bytes for everything a render exports: ``grid.png`` (titled with ``title``), one PNG
    per image, ``render.json``, and with ``detail`` also ``detail.png`` (the first four images, each at
    least 512 px wide, Lanczos-resampled and labelled)."""
    files: dict[str, bytes] = {}
    grid = grid_image(result.images, result.labels, columns=columns, title=title,
                      note=describe_settings(result.request))
    files["grid.png"] = png_bytes(grid)
    if detail:
        files["detail.png"] = png_bytes(detail_image(result.images, result.labels))
    for array, label in zip(result.images, result.labels):
        files[f"{safe_filename(label)}.png"] = png_bytes(array, {"featviz": label})
    files["render.json"] = json.dumps(render_metadata(result, wall_time_s), indent=2).encode()
    return files
