"""Fetching a model's weights on request: the one path ``fetch-weights`` and the app's download button share.

Download into the cache folder with a progress callback, verify the SHA-256 (the pinned or configured
digest; without one, the digest of what arrived is recorded next to the file and later loads must match
it), refuse a file that is not a plain checkpoint of the architecture, and on any failure raise
:class:`WeightsUnavailable` with a message that names the file, where to put it, and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from featviz_core.errors import WeightsUnavailable
from featviz_core.models.loading import build_with_weights, local_weights, offline_help, resolve_weights
from featviz_core.models.sources import get_spec
from featviz_core.models.weights import ChecksumMismatch, DownloadError, download, sha256_of

Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class FetchedWeights:
    """A verified weight file: where it is, its SHA-256, and how the digest was checked (one phrase)."""

    path: Path
    sha256: str
    how: str


def download_offer(name: str) -> tuple[str, int] | None:
    """(file name, approximate bytes) when ``name``'s weights are missing here and can be downloaded on
    request; None when they are present, or come from a package or a path in the environment."""
    spec = get_spec(name)
    source = spec.weights
    if local_weights(spec) is not None or not source.url:  # a path set in the environment counts as local
        return None
    return source.filename, source.approx_bytes


def fetch_weights(name: str, *, timeout_s: float = 60.0, progress: Progress | None = None) -> FetchedWeights:
    """Make sure ``name``'s weights are on this machine and verified; download them if they are not.

    Args:
        name: a model of the registry.
        timeout_s: seconds a connection may stay silent before the download gives up.
        progress: called with (bytes so far, total bytes or None) while downloading.

    Raises:
        WeightsUnavailable: the download failed (the message says which file to put where), the digest
            did not match, or the file is not a plain checkpoint of the architecture (it is removed).
    """
    spec = get_spec(name)
    source = spec.weights
    url = source.download_url() if local_weights(spec) is None else None
    if url is None:
        path = resolve_weights(spec, allow_download=False)  # present: verified against the known digest
    else:
        path = source.cache_path()
        try:
            download(url, path, sha256=source.download_sha256(timeout_s), timeout_s=timeout_s, progress=progress,
                     sha256_prefix=source.sha256_prefix)
        except ChecksumMismatch as exc:
            raise ChecksumMismatch(offline_help(spec, str(exc))) from None
        except DownloadError as exc:
            raise WeightsUnavailable(offline_help(spec, str(exc))) from None
        if source.expected_sha256() is None and not source.sha256_prefix:  # record what arrived, so later loads
            # detect a changed file
            path.with_name(path.name + ".sha256").write_text(sha256_of(path) + "\n")
    try:  # refuse a file that is not a plain checkpoint of this architecture now, not at first use
        build_with_weights(spec, path)
    except WeightsUnavailable as exc:
        if url is None:
            raise
        path.unlink(missing_ok=True)  # downloaded: remove it so the next try fetches again
        path.with_name(path.name + ".sha256").unlink(missing_ok=True)
        raise WeightsUnavailable(offline_help(spec, str(exc))) from None
    return FetchedWeights(path, sha256_of(path), _how_verified(source, path))


def _how_verified(source, path: Path) -> str:
    expected = source.expected_sha256()
    if not expected and source.sha256_prefix:
        return f"verified against the SHA-256 prefix {source.sha256_prefix} in its file name"
    if not expected and source.published_sha256 is not None:
        return "verified against the SHA-256 its publisher lists for it"
    if expected:
        if source.sha256_env_var and expected != source.sha256:
            return f"verified against {source.sha256_env_var}"
        return "verified against the pinned digest"
    sidecar = path.with_name(path.name + ".sha256")
    how = f"recorded in {sidecar}" if sidecar.exists() else "not verified (no digest is known)"
    if source.sha256_env_var:
        how += f"; pin it with {source.sha256_env_var}={sha256_of(path)}"
    return how
