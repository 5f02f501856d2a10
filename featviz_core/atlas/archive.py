"""One file per atlas: ``pack`` a store into a tar with a SHA-256, ``fetch`` one from a URL and unpack it.

The archive holds one folder, ``atlas-MODEL-KEY/`` (a portable name: :attr:`AtlasIdentity.name`), with the
manifest and the finished images only. It is built the same way every time (sorted members, zero times and
owners), so the same store packs to the same digest. ``fetch`` downloads with the weights' downloader
(timeout, resume, SHA-256, atomic rename), refuses anything but that one folder of plain files, checks that
every listed image decodes, and only then renames the folder into place: a bad archive leaves the
destination as it was.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tarfile
import uuid
from pathlib import Path

from featviz_core.atlas import AtlasError
from featviz_core.atlas.guard import ensure_writable
from featviz_core.atlas.store import IMAGES, MANIFEST, TMP_PREFIX, AtlasStore, read_entry

MAX_MEMBERS = 200_000
MAX_BYTES = 20 * 1024**3
ARCHIVE_DIGEST = ".archive-sha256"  # written into a fetched store: which archive it came from
_MEMBER = re.compile(r"(?:manifest\.json|images(?:/[A-Za-z0-9._-]+(?:/\d+\.png)?)?)")


def _tar_info(name: str, size: int, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.size = 0 if directory else size
    info.mode = 0o755 if directory else 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack(store_path: str | Path, archive: str | Path) -> tuple[str, int]:
    """Write the store's manifest and finished images into ``archive`` (a new file).

    Returns:
        (SHA-256 hex digest, size in bytes) of the archive.
    """
    from featviz_core.atlas.identity import file_sha256
    from featviz_core.atlas.store import layer_folder

    store = AtlasStore.open(store_path)
    archive = Path(archive)
    if archive.exists():
        raise AtlasError(f"{archive} already exists; choose another name or delete it (nothing was written)")
    if archive.resolve().is_relative_to(store.path.resolve()):
        raise AtlasError(f"{archive} is inside the store it would pack; write it somewhere else")
    missing = [(layer, c) for layer in store.activations for c in store.done(layer)
               if not store.image_path(layer, c).is_file()]
    if missing:
        layer, channel = missing[0]
        raise AtlasError(f"{store.path} lists {len(missing)} image(s) that are not on disk (first: {layer}:{channel}); "
                         "rerun the atlas command on it to render them, then pack")
    name = store.identity.name
    tmp = archive.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}-{archive.name}")
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_tar_info(name, 0, directory=True))
            manifest = (store.path / MANIFEST).read_bytes()
            tar.addfile(_tar_info(f"{name}/{MANIFEST}", len(manifest)), io.BytesIO(manifest))
            tar.addfile(_tar_info(f"{name}/{IMAGES}", 0, directory=True))
            for layer in sorted(store.activations):
                folder = f"{name}/{IMAGES}/{layer_folder(layer)}"
                tar.addfile(_tar_info(folder, 0, directory=True))
                for channel in sorted(store.done(layer)):
                    data = store.image_path(layer, channel).read_bytes()
                    tar.addfile(_tar_info(f"{folder}/{channel}.png", len(data)), io.BytesIO(data))
        os.replace(tmp, archive)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AtlasError(f"cannot write {archive} ({exc.strerror or exc})") from None
    return file_sha256(archive), archive.stat().st_size


def _check_digest(sha256: str) -> str:
    digest = (sha256 or "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise AtlasError("--sha256 must be the archive's 64-digit hex SHA-256 (printed by `atlas pack`)")
    return digest


def fetch(url: str, sha256: str, into: str | Path, *, timeout_s: float = 60.0) -> Path:
    """Download the archive at ``url``, check it against ``sha256`` and unpack it as ``into/atlas-...``.

    Returns the store's folder. A store already fetched from the same archive is kept as it is.

    Raises:
        AtlasError / WeightsUnavailable: a bad URL or digest, a failed or tampered download, an archive that
            is truncated, damaged or holds anything but one atlas; nothing in ``into`` is replaced.
    """
    from featviz_core.models.weights import download

    digest = _check_digest(sha256)
    if not url.startswith(("http://", "https://")):
        raise AtlasError(f"the atlas URL must start with http:// or https://, got {url[:80]!r}")
    into = Path(into)
    ensure_writable(into, str(into))
    downloaded = into / f"{TMP_PREFIX}download-{digest[:16]}.tar"
    download(url, downloaded, sha256=digest, timeout_s=timeout_s, max_bytes=MAX_BYTES)
    try:
        return _unpack(downloaded, digest, into)
    finally:
        downloaded.unlink(missing_ok=True)


def _unpack(archive: Path, digest: str, into: Path) -> Path:
    staging = into / f"{TMP_PREFIX}unpack-{uuid.uuid4().hex}"
    try:
        name = _extract(archive, staging)
        store = AtlasStore.open(staging / name)
        if store.identity.name != name:
            raise AtlasError(f"the archive's folder {name} does not match its manifest ({store.identity.name})")
        _verify_images(store)
        (staging / name / ARCHIVE_DIGEST).write_text(digest + "\n")
        final = into / name
        if final.exists():
            previous = final / ARCHIVE_DIGEST
            if previous.is_file() and previous.read_text().strip() == digest:
                return final
            raise AtlasError(f"{final} already exists and came from another archive; remove it to fetch this "
                             "one (nothing was replaced)")
        os.replace(staging / name, final)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract(archive: Path, staging: Path) -> str:
    """Unpack into ``staging`` after checking every member; returns the one top-level folder's name."""
    try:
        with tarfile.open(archive, "r:") as tar:
            members = []
            top = None
            total = 0
            for member in tar:
                members.append(member)
                if len(members) > MAX_MEMBERS:
                    raise AtlasError(f"the archive holds more than {MAX_MEMBERS} files; it is not an atlas")
                head, _, rest = member.name.partition("/")
                top = head if top is None else top
                if head != top or not re.fullmatch(r"atlas-[A-Za-z0-9_.-]+", head) or \
                        (rest and not _MEMBER.fullmatch(rest)) or not (member.isfile() or member.isdir()):
                    raise AtlasError(f"the archive holds {member.name[:80]!r}, which is not part of an atlas; "
                                     "refusing it")
                total += member.size
                if total > MAX_BYTES:
                    raise AtlasError(f"the archive unpacks to more than {MAX_BYTES} bytes; refusing it")
            if top is None:
                raise AtlasError("the archive is empty")
            staging.mkdir()
            tar.extractall(staging, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise AtlasError(f"the archive is truncated or damaged ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:120]})") from None
    return top


def _verify_images(store: AtlasStore) -> None:
    listed = [(layer, c) for layer in store.activations for c in store.done(layer)]
    absent = [(layer, c) for layer, c in listed if not store.image_path(layer, c).is_file()]
    if absent:  # a tar cut short simply ends early: what the manifest lists tells
        raise AtlasError(f"the archive is truncated or damaged: {len(absent)} of the {len(listed)} images its "
                         f"manifest lists are not in it (first: {absent[0][0]}:{absent[0][1]})")
    for layer in store.activations:
        for channel in store.done(layer):
            path = store.image_path(layer, channel)
            try:
                _, record = read_entry(path)
            except (OSError, ValueError, KeyError, SyntaxError) as exc:
                raise AtlasError(f"the archive's image {layer}:{channel} does not decode ({type(exc).__name__}); "
                                 "refusing it") from None
            if (record.get("key"), record.get("layer"), record.get("channel")) != (store.identity.key, layer, channel):
                raise AtlasError(f"the archive's image {layer}:{channel} belongs to another atlas; refusing it")
