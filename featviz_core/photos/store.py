"""Photos that renders start from, kept in memory by content.

A photo-seeded request names its photo by the SHA-256 of the decoded RGB pixels (``RenderRequest.init``), so
the request stays small, its cache key covers the photo, and a link can name it. The pixels live only in
this process's memory (the Photo page promises a photo is never saved), a bounded number at a time, newest
kept: a link naming a photo this server no longer holds gets a message saying to upload it again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
from PIL import Image

MAX_PHOTOS = 32  # photos held at once
MAX_BYTES = 256 * 1024**2  # and their pixels at most this much memory together (a 4096 px photo is 48 MB)

_photos: "OrderedDict[str, Image.Image]" = OrderedDict()
_lock = threading.Lock()


def photo_digest(image: Image.Image) -> str:
    """SHA-256 of the photo's RGB pixels and size (the same picture saved as PNG or JPEG twice gives one digest
    only when it decodes to the same pixels)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    pixels = np.asarray(rgb, dtype=np.uint8)
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}|".encode())
    digest.update(pixels.tobytes())
    return digest.hexdigest()


def add_photo(image: Image.Image) -> str:
    """Keep ``image`` (as RGB) for photo-seeded renders; returns its digest for ``RenderRequest(init=...)``."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    digest = photo_digest(rgb)
    with _lock:
        _photos[digest] = rgb
        _photos.move_to_end(digest)
        # Oldest first, but never the photo just added.
        while len(_photos) > 1 and (len(_photos) > MAX_PHOTOS or
                                    sum(p.width * p.height * 3 for p in _photos.values()) > MAX_BYTES):
            _photos.popitem(last=False)
    return digest


def get_photo(digest: str) -> Image.Image | None:
    """The photo with this digest, or None when this process does not hold it."""
    with _lock:
        image = _photos.get(digest)
        if image is not None:
            _photos.move_to_end(digest)
        return image
