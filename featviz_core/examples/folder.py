"""The folder of images an examples run reads: which files, its digest, safe decoding, and geometry.

Images are found recursively (hidden files and folders skipped, symbolic links to folders not followed) by
their name ending; what a file really is is decided by its bytes (:func:`featviz_core.photos.uploads.load_upload`,
with a size and pixel limit checked before any pixel is decoded). The model sees each image as the Photo
page does: shorter side resized to the model's input size, centre square crop (:func:`view_of`), and
:class:`Placement` maps positions of that square back to the image's own pixels.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from featviz_core.examples import ExamplesError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")


def list_images(folder: str | Path) -> list[str]:
    """Paths (relative to ``folder``, with ``/``) of the image files under it, sorted.

    Raises:
        ExamplesError: the folder does not exist, is not a folder, or holds no image file.
    """
    folder = Path(folder)
    if not folder.exists():
        raise ExamplesError(f"--images {folder} does not exist; give a folder of PNG, JPEG or WEBP images")
    if not folder.is_dir():
        raise ExamplesError(f"--images {folder} is not a folder; give a folder of PNG, JPEG or WEBP images")
    found = []
    for root, dirs, files in os.walk(folder, onerror=None):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if not name.startswith(".") and name.lower().endswith(EXTENSIONS):
                found.append(Path(root, name).relative_to(folder).as_posix())
    if not found:
        raise ExamplesError(f"--images {folder} holds no images (files ending in "
                            f"{', '.join(EXTENSIONS)}, searched recursively)")
    return sorted(found)


def folder_digest(folder: str | Path, files: list[str]) -> str:
    """SHA-256 of the listed files' names, sizes and modification times (not their contents: a folder of
    millions of images is digested in seconds). A file added, removed, replaced or touched changes it."""
    digest = hashlib.sha256()
    for name in files:
        try:
            stat = (Path(folder) / name).stat()
            size, mtime = stat.st_size, stat.st_mtime_ns
        except OSError:
            size, mtime = -1, -1
        digest.update(f"{name}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()


def read_bytes(path: Path, max_bytes: int) -> tuple[bytes | None, str]:
    """The file's bytes, or (None, why it is skipped): too large (checked before reading) or unreadable."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return None, f"too large ({size / 1024 / 1024:.1f} MB, at most {max_bytes / 1024 / 1024:.3g} MB)"
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        return None, f"unreadable ({exc.strerror or exc})"
    if len(data) > max_bytes:  # grew while read
        return None, f"too large (more than {max_bytes / 1024 / 1024:.3g} MB)"
    return data, ""


def decode(data: bytes, max_bytes: int, max_side: int):
    """(RGB PIL image, "") or (None, why it is skipped), with the upload rules (format from the bytes,
    pixel count checked before decoding, EXIF orientation applied)."""
    from featviz_core.errors import RequestError
    from featviz_core.photos.uploads import UploadLimits, load_upload

    try:
        return load_upload(data, UploadLimits(max_bytes=max_bytes, max_side=max_side)), ""
    except RequestError as exc:
        reason = str(exc).split("; send ")[0].replace("the uploaded ", "the ")
        return None, reason


@dataclass(frozen=True)
class Placement:
    """Where the model's square view (``side`` px) lies in the original image of ``width`` x ``height``."""

    width: int
    height: int
    side: int

    def _resized(self) -> tuple[int, int, int, int]:
        """(resized width, resized height, left, top) exactly as :func:`featviz_core.photos.analysis.photo_tensor` cuts."""
        scale = self.side / min(self.width, self.height)
        rw = max(self.side, round(self.width * scale))
        rh = max(self.side, round(self.height * scale))
        return rw, rh, (rw - self.side) // 2, (rh - self.side) // 2

    def to_image(self, x: float, y: float) -> tuple[float, float]:
        """A point of the view (model input pixels) -> the same point in the original image's pixels."""
        rw, rh, left, top = self._resized()
        return (x + left) * self.width / rw, (y + top) * self.height / rh

    def box(self, row: int, col: int, grid: tuple[int, int], crop: int) -> tuple[list[int], list[int]]:
        """The ``crop`` x ``crop`` view box centred on position (row, col) of a ``grid`` (h, w) activation
        map, moved inside the view: (box in view pixels, the same box in image pixels), each [x0, y0, x1, y1]."""
        h, w = grid
        crop = min(crop, self.side)
        cx, cy = (col + 0.5) * self.side / w, (row + 0.5) * self.side / h
        x0 = int(round(min(max(cx - crop / 2, 0), self.side - crop)))
        y0 = int(round(min(max(cy - crop / 2, 0), self.side - crop)))
        view = [x0, y0, x0 + crop, y0 + crop]
        ix0, iy0 = self.to_image(view[0], view[1])
        ix1, iy1 = self.to_image(view[2], view[3])
        image = [max(0, int(np.floor(ix0))), max(0, int(np.floor(iy0))),
                 min(self.width, int(np.ceil(ix1))), min(self.height, int(np.ceil(iy1)))]
        return view, image


def view_of(image, side: int) -> np.ndarray:
    """The model's view of ``image``: (side, side, 3) float32 in [0, 1] (shorter side resized, centre crop)."""
    from featviz_core.photos.analysis import photo_tensor

    return photo_tensor(image, side)[0].permute(1, 2, 0).numpy()
