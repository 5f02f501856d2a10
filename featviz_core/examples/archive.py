"""A visitor's zip of images, checked and unpacked into a private folder with hard bounds (pure ``zipfile``).

A zip is refused, with one line naming the rule and the allowed bound, when it is not a zip, is larger than
``max_zip_bytes``, has more than ``max_entries`` entries (counted from its end record before its directory is
read) or more than ``max_images`` images, holds an entry with an absolute path or a ``..`` component, a
symbolic link or another non-regular file, an encrypted entry, a nested zip (by name, or an image whose bytes
are a zip), two entries of the same path, a file above the per-file bound or a total above
``max_unpacked_bytes`` (declared sizes are checked first, and the bytes actually unpacked are counted too,
so a header that lies cannot make it write more), an entry compressed more than ``max_ratio`` to 1 (a zip
bomb), or no image at all. Files that are not images (by their name ending, as a folder is read; hidden
files and ``__MACOSX/`` included) are skipped and counted, never unpacked; images that turn out not to
decode are skipped and counted by the examples run, as for a folder.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from featviz_core.examples import ExamplesError
from featviz_core.examples.folder import EXTENSIONS
from featviz_core.photos.uploads import UploadLimits

MB = 1024 * 1024
DEFAULT_MAX_IMAGES, DEFAULT_MAX_ENTRIES = 500, 2000
DEFAULT_MAX_ZIP_MB, DEFAULT_MAX_UNPACKED_MB, DEFAULT_MAX_RATIO = 50, 200, 100
RATIO_FLOOR = 1 * MB  # an entry smaller than this unpacks to too little to be a bomb, however well it packs
CHUNK = 256 * 1024
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
WHAT = "a .zip of PNG, JPEG or WEBP images"


@dataclass(frozen=True)
class ZipLimits:
    """Bounds an uploaded zip must satisfy (each read from a ``FEATVIZ_*`` setting by :meth:`from_env`).

    Attributes:
        max_images: most image files (FEATVIZ_ZIP_MAX_IMAGES, default 500).
        max_entries: most entries of any kind, folders included (FEATVIZ_ZIP_MAX_ENTRIES, default 2000).
        max_zip_bytes: largest zip file (FEATVIZ_ZIP_MAX_MB, default 50 MB).
        max_unpacked_bytes: most bytes of all its files unpacked (FEATVIZ_ZIP_MAX_UNPACKED_MB, default 200 MB).
        max_ratio: highest compression ratio of an entry of 1 MB or more (FEATVIZ_ZIP_MAX_RATIO, default 100).
        image: each file's unpacked size and each image's pixels: the photo upload's limits
            (FEATVIZ_MAX_UPLOAD_MB, FEATVIZ_MAX_UPLOAD_SIDE); larger images are skipped by the run.
    """

    max_images: int = DEFAULT_MAX_IMAGES
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_zip_bytes: int = DEFAULT_MAX_ZIP_MB * MB
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_MB * MB
    max_ratio: float = DEFAULT_MAX_RATIO
    image: UploadLimits = field(default_factory=UploadLimits)

    @classmethod
    def from_env(cls) -> "ZipLimits":
        from featviz_core.config import _env_float, _env_int

        return cls(max_images=max(1, _env_int("FEATVIZ_ZIP_MAX_IMAGES", DEFAULT_MAX_IMAGES)),
                   max_entries=max(1, _env_int("FEATVIZ_ZIP_MAX_ENTRIES", DEFAULT_MAX_ENTRIES)),
                   max_zip_bytes=max(1, int(_env_float("FEATVIZ_ZIP_MAX_MB", DEFAULT_MAX_ZIP_MB) * MB)),
                   max_unpacked_bytes=max(1, int(_env_float("FEATVIZ_ZIP_MAX_UNPACKED_MB",
                                                            DEFAULT_MAX_UNPACKED_MB) * MB)),
                   max_ratio=max(1.0, _env_float("FEATVIZ_ZIP_MAX_RATIO", DEFAULT_MAX_RATIO)),
                   image=UploadLimits.from_env())

    def describe(self) -> str:
        """The bounds in words, for help text."""
        return (f"{WHAT}: at most {_mb(self.max_zip_bytes)} MB, {self.max_images} images, "
                f"{_mb(self.max_unpacked_bytes)} MB unpacked, each file at most {_mb(self.image.max_bytes)} MB "
                f"and each image at most {self.image.max_side}x{self.image.max_side} pixels (larger ones "
                "are skipped); no folders outside the zip, links, encrypted entries or zips inside")


@dataclass
class ZipListing:
    """What a checked zip holds: its images (paths inside it, with ``/``) and the files skipped, with why."""

    images: list[str]
    skipped: list[tuple[str, str]]
    unpacked_bytes: int = 0  # declared total of its images (after unpacking: the bytes actually written)
    infos: dict[str, zipfile.ZipInfo] = field(default_factory=dict, repr=False)


def _mb(size: float) -> str:
    return f"{size / MB:.3g}"


def _declared_entries(data: bytes) -> int | None:
    """The entry count in the zip's end record (read before the central directory is), or None when the
    record is not found or defers to ZIP64 (then the directory, bounded by the zip's size, is read)."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if at < 0 or at + 22 > len(data):
        return None
    count = struct.unpack("<H", data[at + 10:at + 12])[0]
    return None if count == 0xFFFF else count


def _open(data: bytes, limits: ZipLimits) -> zipfile.ZipFile:
    if not isinstance(data, (bytes, bytearray, memoryview)) or not len(data):
        raise ExamplesError(f"the uploaded zip is empty; send {WHAT}")
    if len(data) > limits.max_zip_bytes:
        raise ExamplesError(f"the zip is {len(data) / MB:.1f} MB; at most {_mb(limits.max_zip_bytes)} MB may be "
                            "uploaded")
    declared = _declared_entries(bytes(data))
    if declared is not None and declared > limits.max_entries:
        raise ExamplesError(f"the zip has {declared} entries; at most {limits.max_entries} (files and folders) "
                            "are allowed")
    try:
        archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError):
        raise ExamplesError(f"the uploaded file is not a zip archive (or a damaged one); send {WHAT}") from None
    if len(archive.infolist()) > limits.max_entries:
        raise ExamplesError(f"the zip has {len(archive.infolist())} entries; at most {limits.max_entries} "
                            "(files and folders) are allowed")
    return archive


def _path(info: zipfile.ZipInfo) -> str:
    """The entry's path inside the zip, with ``/``; refused when it could reach outside the zip's root."""
    name = info.filename.replace("\\", "/")
    shown = repr(name if len(name) <= 60 else name[:60] + "...")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ExamplesError(f"the zip entry {shown} has an absolute path; every entry must stay inside the "
                            "zip's root")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ExamplesError(f"the zip entry {shown} points outside the zip's root (a '..' component); every "
                            "entry must stay inside it")
    if "\x00" in name or not parts:
        raise ExamplesError(f"the zip entry {shown} has no usable name; entries must be named files")
    return "/".join(parts)


def _check_entry(info: zipfile.ZipInfo, path: str, limits: ZipLimits) -> None:
    shown = repr(path if len(path) <= 60 else path[:60] + "...")
    kind = stat.S_IFMT(info.external_attr >> 16)  # the Unix file type, when the zip records one
    if kind == stat.S_IFLNK:
        raise ExamplesError(f"the zip entry {shown} is a symbolic link; only plain files and folders are allowed")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise ExamplesError(f"the zip entry {shown} is not a plain file (a device, pipe or socket); only plain "
                            "files and folders are allowed")
    if info.flag_bits & 0x1:
        raise ExamplesError(f"the zip entry {shown} is encrypted; only zips without a password are accepted")
    if path.lower().endswith(".zip"):
        raise ExamplesError(f"the zip entry {shown} is itself a zip; zips inside the zip are not accepted")
    if info.file_size > limits.image.max_bytes:
        raise ExamplesError(f"the zip entry {shown} unpacks to {info.file_size / MB:.1f} MB; each file may be at "
                            f"most {_mb(limits.image.max_bytes)} MB")
    if info.file_size >= RATIO_FLOOR and info.file_size > limits.max_ratio * max(1, info.compress_size):
        ratio = info.file_size / max(1, info.compress_size)
        raise ExamplesError(f"the zip entry {shown} is compressed {ratio:.0f} to 1, the mark of a zip bomb; at "
                            f"most {limits.max_ratio:g} to 1 is accepted")


def _is_image(path: str) -> str:
    """"" for an image the run reads, else why the file is skipped."""
    if any(part.startswith(".") or part == "__MACOSX" for part in path.split("/")):
        return "hidden file"
    return "" if path.lower().endswith(EXTENSIONS) else "not an image (PNG, JPEG or WEBP by its name)"


def read_listing(data: bytes, limits: ZipLimits | None = None) -> ZipListing:
    """Check the zip's structure and every entry's header (nothing is unpacked).

    Raises:
        ExamplesError: one line naming the rule it breaks and the allowed bound.
    """
    limits = limits or ZipLimits.from_env()
    listing, total = ZipListing([], []), 0
    with _open(data, limits) as archive:
        for info in archive.infolist():
            path = _path(info)
            _check_entry(info, path, limits)
            if info.is_dir():
                continue
            total += info.file_size
            why = _is_image(path)
            if why:
                listing.skipped.append((path, why))
            elif path in listing.infos:
                raise ExamplesError(f"the zip holds {path!r} twice; every entry must have its own path")
            else:
                listing.images.append(path)
                listing.infos[path] = info
    if total > limits.max_unpacked_bytes:
        raise ExamplesError(f"the zip unpacks to {total / MB:.1f} MB in all; at most "
                            f"{_mb(limits.max_unpacked_bytes)} MB are allowed")
    if len(listing.images) > limits.max_images:
        raise ExamplesError(f"the zip holds {len(listing.images)} images; at most {limits.max_images} are allowed")
    if not listing.images:
        raise ExamplesError(f"the zip holds no images (files ending in {', '.join(EXTENSIONS)}; "
                            f"{len(listing.skipped)} other file(s) skipped); send {WHAT}")
    listing.unpacked_bytes = sum(listing.infos[path].file_size for path in listing.images)
    return listing


def unpack_zip(data: bytes, dest: str | Path, limits: ZipLimits | None = None) -> ZipListing:
    """Check the zip (:func:`read_listing`) and write its images under the folder ``dest`` (which must exist
    and should be private and empty), counting the bytes actually unpacked against every bound.

    Raises:
        ExamplesError: one line naming the rule; files written so far stay in ``dest`` for the caller to remove.
    """
    limits = limits or ZipLimits.from_env()
    listing = read_listing(data, limits)
    dest = Path(dest)
    written = 0
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        for path in listing.images:
            info = listing.infos[path]
            budget = min(info.file_size, limits.image.max_bytes, limits.max_unpacked_bytes - written)
            written += _unpack_one(archive, info, dest.joinpath(*PurePosixPath(path).parts), path, budget)
    listing.unpacked_bytes = written
    return listing


def _unpack_one(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, path: str, budget: int) -> int:
    """Write one entry to ``target``, refusing it once more than ``budget`` bytes come out; returns the bytes."""
    shown = repr(path if len(path) <= 60 else path[:60] + "...")
    count = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as source, open(target, "xb") as out:
            while chunk := source.read(CHUNK):
                if count == 0 and chunk[:4] in ZIP_MAGIC:
                    raise ExamplesError(f"the zip entry {shown} is itself a zip; zips inside the zip are not "
                                        "accepted")
                count += len(chunk)
                if count > budget:
                    raise ExamplesError(f"the zip entry {shown} unpacks to more than its header says or the "
                                        "bounds allow; the zip is refused")
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise ExamplesError(f"the zip entry {shown} is damaged or its header does not match its data "
                            f"({str(exc)[:80]}); the zip is refused") from None
    except OSError as exc:
        raise ExamplesError(f"the zip entry {shown} could not be unpacked ({exc.strerror or exc}); the zip is "
                            "refused") from None
    return count


__all__ = ["ZipLimits", "ZipListing", "read_listing", "unpack_zip"]
