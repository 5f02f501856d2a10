"""One atlas entry on disk: a PNG that carries its own record, written by rename so it is never half there."""

from __future__ import annotations

import io
import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

TEXT_KEY = "featviz-atlas"  # the PNG text chunk holding the entry's JSON record
TMP_PREFIX = ".tmp-"


def encode_entry(image: np.ndarray, record: dict[str, Any]) -> bytes:
    """PNG bytes of one (H, W, 3) uint8 image carrying ``record`` (JSON) in a text chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_text(TEXT_KEY, json.dumps(record, sort_keys=True))
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def read_entry(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode an entry PNG fully: ((H, W, 3) uint8, its record). Raises ValueError/OSError when damaged."""
    with Image.open(path) as image:
        image.load()
        if image.mode != "RGB":
            raise ValueError(f"{path.name} is {image.mode}, not RGB")
        record = json.loads(image.text[TEXT_KEY]) if TEXT_KEY in getattr(image, "text", {}) else None
        pixels = np.asarray(image)
    if not isinstance(record, dict):
        raise ValueError(f"{path.name} carries no atlas record")
    return pixels, record


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    tmp = path.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}-{path.name}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
