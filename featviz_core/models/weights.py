"""Getting weight files onto disk safely: cache folder, timeout, SHA-256, resume, atomic rename.

A download is written to ``<name>.part`` next to its destination and renamed into place only after its
checksum matched, so the destination is never half-written. An interrupted download keeps its ``.part``
file and the next attempt resumes it with an HTTP Range request (or restarts when the server ignores it).
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from featviz_core.errors import WeightsUnavailable

CHUNK_BYTES = 1 << 16
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class DownloadError(WeightsUnavailable):
    """The file could not be fetched (network, timeout, truncated transfer)."""


class ChecksumMismatch(WeightsUnavailable):
    """The bytes on disk are not the file that was expected."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_digests: dict[tuple[str, int, int], str] = {}


def file_stamp(path: Path) -> tuple[str, int, int]:
    """(resolved path, size in bytes, modification time in ns): changes whenever the file is replaced."""
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def file_digest(path: Path) -> str:
    """SHA-256 of ``path``, computed once per process for each path, size and modification time (a 27 MB
    weight file takes about a tenth of a second; later calls cost one ``stat``)."""
    stamp = file_stamp(path)
    with _locks_guard:
        known = _digests.get(stamp)
    if known is not None:
        return known
    with _lock_for(path):  # one thread hashes a file; others wait for its answer
        with _locks_guard:
            known = _digests.get(stamp)
        if known is None:
            known = sha256_of(path)
            with _locks_guard:
                _digests[stamp] = known
    return known


def _lock_for(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(str(path.resolve()), threading.Lock())


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None,
    timeout_s: float = 30.0,
    max_bytes: int = 2 * 1024**3,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``.

    Args:
        url: http(s) address of the file.
        dest: final path; its folder is created. Never exists half-written.
        sha256: expected hex digest; ``None`` accepts any content (the caller records it).
        timeout_s: seconds a connection may stay silent (connect or read) before giving up.
        max_bytes: refuse responses larger than this.
        progress: called with (bytes so far, total bytes or None).

    Raises:
        DownloadError: network failure, timeout, or a transfer that ended early (the ``.part`` file is kept
            so that calling again resumes).
        ChecksumMismatch: the complete file has another digest (the ``.part`` file is deleted).
    """
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not 0 < timeout_s < 1e6:
        raise DownloadError(f"the timeout must be a number of seconds above 0 (e.g. 60), got {timeout_s!r}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with _lock_for(dest):
        if dest.exists() and (sha256 is None or sha256_of(dest) == sha256.lower()):
            return dest
        have = part.stat().st_size if part.exists() else 0
        response = _open(url, have, timeout_s)
        if response is not None:
            with response:
                _receive(response, url, part, have, timeout_s=timeout_s, max_bytes=max_bytes, progress=progress)
        if not part.exists():
            raise DownloadError(f"could not download {url}: nothing was received")
        if sha256 is not None:
            _check_part(part, url, sha256)
        os.replace(part, dest)
        return dest


def _open(url: str, have: int, timeout_s: float):
    """The server's response to a request for ``url`` from byte ``have`` on (a Range request when a ``.part``
    file is there), or None when the server says the ``.part`` file is already complete (HTTP 416)."""
    request = urllib.request.Request(url, headers={"User-Agent": "featviz"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        return urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # our .part is already complete (or bogus): verify below
            return None
        raise DownloadError(f"could not download {url}: server answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, socket.timeout, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"could not download {url}: {reason}") from None


def _receive(response, url: str, part: Path, have: int, *, timeout_s: float, max_bytes: int,
             progress: Callable[[int, int | None], None] | None) -> None:
    """Write the response's body to ``part``: appended when the server resumed from byte ``have`` (HTTP 206),
    else from the start; flushed to disk. A stall, a dropped connection or a body over ``max_bytes`` raises
    :class:`DownloadError` and keeps what arrived, so the next call resumes."""
    resumed = have and response.status == 206
    mode = "ab" if resumed else "wb"
    if not resumed:
        have = 0
    length = response.headers.get("Content-Length")
    total = have + int(length) if length and length.isdigit() else None
    if total is not None and total > max_bytes:
        raise DownloadError(f"refusing to download {url}: {total} bytes is over the {max_bytes}-byte limit")
    got = have
    try:
        with open(part, mode) as out:
            while True:
                block = response.read(CHUNK_BYTES)
                if not block:
                    break
                got += len(block)
                if got > max_bytes:
                    raise DownloadError(f"refusing to download {url}: more than {max_bytes} bytes")
                out.write(block)
                if progress is not None:
                    progress(got, total)
            out.flush()
            os.fsync(out.fileno())
    except (socket.timeout, TimeoutError) as exc:
        raise DownloadError(
            f"download of {url} stalled for {timeout_s:g} s after {got} bytes; run again to resume"
        ) from exc
    except (OSError, ValueError) as exc:  # includes http.client.IncompleteRead
        if isinstance(exc, DownloadError):
            raise
        raise DownloadError(
            f"connection to {url} dropped after {got} bytes; run again to resume"
        ) from exc
    if total is not None and got < total:
        raise DownloadError(
            f"connection to {url} dropped after {got} of {total} bytes; run again to resume"
        )


def _check_part(part: Path, url: str, sha256: str) -> None:
    """Raise :class:`ChecksumMismatch` (and delete ``part``) unless the complete file has digest ``sha256``."""
    actual = sha256_of(part)
    if actual != sha256.lower():
        part.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"checksum mismatch for {url}: expected SHA-256 {sha256.lower()}, got {actual}; "
            "the file was discarded"
        )


class NegativeCache:
    """Remembers recent failures so a page rerun does not retry a dead network every second."""

    def __init__(self, ttl_s: float = 300.0) -> None:
        self.ttl_s = ttl_s
        self._failures: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            hit = self._failures.get(key)
            if hit and time.monotonic() - hit[0] < self.ttl_s:
                return hit[1]
            self._failures.pop(key, None)
            return None

    def put(self, key: str, message: str) -> None:
        with self._lock:
            self._failures[key] = (time.monotonic(), message)

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
