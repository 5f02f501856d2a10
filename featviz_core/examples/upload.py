"""A visitor's zip of images, made into an examples store of one layer (what the render service queues).

:class:`ZipExamplesRequest` names the work: model, layer, K and the SHA-256 of the zip's bytes (its identity
for sharing and reuse; the file's name is only shown). :func:`unpack_upload` checks and unpacks the zip into
a private temporary folder (:mod:`.archive`); :func:`upload_iter` runs :func:`~.runner.examples_iter` on it
into a store named by the store identity's key, under :func:`upload_root`: a folder of its own
(FEATVIZ_UPLOAD_EXAMPLES_DIR, else CACHE/examples-uploads) that :func:`~.lookup.examples_roots` never lists,
so a visitor's photos are not shown to other visitors: the app shows an upload's store only in the session
that uploaded it. The identity records the zip's digest instead of the temporary folder, so a second upload
of the same zip finds the finished store (:func:`finished_store`), and a run that was stopped continues from
its checkpoint.

Disk bounds: :func:`prune_uploads` keeps the FEATVIZ_UPLOAD_EXAMPLES_MAX upload stores (finished or stopped
with a checkpoint) used last and removes the others, never one a run is writing; :func:`remove_stale_folders`
removes temporary folders a killed process left behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from featviz_core.examples import ExamplesError
from featviz_core.examples.archive import ZipLimits, ZipListing, unpack_zip
from featviz_core.examples.runner import DEFAULT_TOP, ExamplesProgress

STORE_PREFIX = "upload-"
TEMP_PREFIX = "featviz-zip-"
UPLOADS_DIR = "examples-uploads"  # under the cache folder, beside (never inside) the shared examples/
DEFAULT_MAX_STORES = 20
STALE_S = 60.0  # a temporary folder older than this whose job is gone is a leftover
USED_EVERY_S = 60.0  # a store's last use is recorded at most this often

log = logging.getLogger(__name__)
_live_folders: set[Path] = set()  # this process's temporary folders of queued or running jobs
_live_lock = threading.Lock()


@dataclass(frozen=True)
class ZipExamplesRequest:
    """Find the top and bottom ``top`` images of every channel of ``layer`` among a zip's images.

    Attributes:
        digest: SHA-256 of the zip's bytes.
        name: the uploaded file's name (shown only: not part of its identity).
    """

    model: str
    layer: str
    digest: str
    top: int = DEFAULT_TOP
    name: str = field(default="", compare=False)

    @classmethod
    def of_upload(cls, data: bytes, model: str, layer: str, *, name: str = "",
                  top: int = DEFAULT_TOP) -> "ZipExamplesRequest":
        """The request for an uploaded zip's bytes (its model and layer checked; the zip is checked when
        it is unpacked). Raises FeatvizError: an unknown model or layer."""
        from featviz_core.atlas.batch_plan import select_layers
        from featviz_core.models import get_spec

        model = get_spec(model).name
        if layer in ("main", "all") or list(select_layers(model, layer)) != [layer]:
            raise ExamplesError(f"name one layer of {model}, got {layer!r}")
        return cls(model, layer, hashlib.sha256(bytes(data)).hexdigest(), top, name)

    def key(self) -> str:
        """What identical requests share (the render service's sharing key)."""
        return f"examples:{self.model}:{self.layer}:top{self.top}:{self.digest}"

    @property
    def source_name(self) -> str:
        """What the store says its images came from."""
        return f"uploaded zip {self.digest[:12]}"


@dataclass(frozen=True)
class UploadedExamples:
    """A finished upload: its store, and the zip's images and skipped files (not images, hidden)."""

    store: Path
    images: int
    not_images: int
    reused: bool = False


def configured_root() -> Path:
    """Where uploads' stores go (FEATVIZ_UPLOAD_EXAMPLES_DIR, else CACHE/examples-uploads), unchecked."""
    from featviz_core.config import cache_dir

    raw = os.environ.get("FEATVIZ_UPLOAD_EXAMPLES_DIR", "").strip()
    return Path(raw).expanduser() if raw else cache_dir() / UPLOADS_DIR


def upload_root() -> Path:
    """:func:`configured_root`, created and checked: a writable folder that is not one the app lists
    everyone's examples stores from.

    Raises:
        ExamplesError: that folder is one of FEATVIZ_EXAMPLES_DIR's (every visitor would see the uploads) or
            cannot be written.
    """
    from featviz_core.atlas.guard import ensure_writable
    from featviz_core.errors import FeatvizError
    from featviz_core.examples.lookup import examples_roots

    root = configured_root()
    if any(root.resolve() == shared.resolve() for shared in examples_roots()):
        raise ExamplesError(f"uploaded zips cannot be stored: {root} is also a folder of the examples every "
                            "visitor sees (FEATVIZ_EXAMPLES_DIR); set FEATVIZ_UPLOAD_EXAMPLES_DIR to a folder "
                            "of its own")
    try:
        ensure_writable(root, f"the uploads' examples folder {root}")
    except FeatvizError as exc:
        raise ExamplesError(f"uploaded zips cannot be stored: {exc}") from None
    return root


def finished_store(request: ZipExamplesRequest) -> Path | None:
    """A finished store of this zip with this model's present weights, covering the layer with this K
    (its last use is recorded: :func:`prune_uploads` keeps it longer)."""
    from featviz_core.atlas.identity import local_weights_digest
    from featviz_core.examples.lookup import find_examples

    weights = local_weights_digest(request.model)
    for store in find_examples(request.model, request.layer, roots=[configured_root()]):
        data = store.data
        if (store.path.name.startswith(STORE_PREFIX) and data.get("folder_digest") == request.digest
                and data.get("weights_sha256") == weights and data.get("settings", {}).get("top") == request.top):
            mark_used(store.path, every_s=0)
            return store.path
    return None


def mark_used(store: Path, *, every_s: float = USED_EVERY_S) -> None:
    """Record that ``store`` was used now (its folder's time), unless that was done in the last ``every_s``."""
    try:
        if time.time() - store.stat().st_mtime >= every_s:
            os.utime(store)
    except OSError:  # pruned meanwhile: nothing to keep
        pass


def max_stores() -> int:
    """FEATVIZ_UPLOAD_EXAMPLES_MAX (default 20, at least 1): upload stores kept."""
    from featviz_core.config import _env_int

    return max(1, _env_int("FEATVIZ_UPLOAD_EXAMPLES_MAX", DEFAULT_MAX_STORES))


def prune_uploads(keep: int | None = None, root: Path | None = None) -> list[Path]:
    """Remove the upload stores (finished, or stopped with a checkpoint) beyond the ``keep`` (default
    :func:`max_stores`) used last (by their folder's time: written, reused or shown), never one whose writer
    lock a run holds. Returns the stores removed."""
    root = root if root is not None else configured_root()
    keep = keep if keep is not None else max_stores()
    try:
        stores = [p for p in root.iterdir() if p.name.startswith(STORE_PREFIX) and p.is_dir()
                  and not p.is_symlink()]
    except OSError:
        return []
    stamped = []
    for store in stores:
        try:
            stamped.append((store.stat().st_mtime, store))
        except OSError:
            continue
    stamped.sort(reverse=True)
    return [store for _, store in stamped[keep:] if _remove_unless_written(store)]


def _remove_unless_written(store: Path) -> bool:
    """Remove ``store`` unless a run holds its writer lock (held while it is removed); True when removed."""
    import fcntl

    from featviz_core.atlas.guard import LOCK

    try:
        handle = open(store / LOCK, "a+")
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a run is writing it
            return False
        shutil.rmtree(store, ignore_errors=True)
    return not store.exists()


def unpack_upload(data: bytes, limits: ZipLimits | None = None) -> tuple[Path, ZipListing]:
    """Check and unpack the zip into a new private temporary folder: (folder, listing). The caller removes
    the folder (:func:`remove_folder`); on a refusal it is already gone.

    Raises:
        ExamplesError: the zip breaks a rule of :mod:`.archive` (one line naming it and the bound).
    """
    # mode 0700: only this process's user reads it; the name says which process owns it
    folder = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-"))
    with _live_lock:
        _live_folders.add(folder)
    try:
        return folder, unpack_zip(data, folder, limits)
    except BaseException:
        remove_folder(folder)
        raise


def remove_folder(folder: Path | None) -> None:
    """Remove a temporary folder of :func:`unpack_upload` (nothing when it is None or already gone)."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        with _live_lock:
            _live_folders.discard(folder)


def remove_stale_folders(older_than_s: float = STALE_S) -> list[Path]:
    """Remove this user's temporary folders of :func:`unpack_upload` that a killed process left behind:
    older than ``older_than_s`` and not owned by a live job (of this process, or of another process still
    running). Returns the folders removed."""
    removed = []
    now = time.time()
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        try:
            info = folder.lstat()
        except OSError:
            continue
        if (not folder.is_dir() or folder.is_symlink() or info.st_uid != os.getuid()
                or now - info.st_mtime < older_than_s or _owned_by_live_job(folder)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed


def _owned_by_live_job(folder: Path) -> bool:
    match = re.match(rf"{re.escape(TEMP_PREFIX)}(\d+)-", folder.name)
    if match is None:  # no owner in its name: not one of a live process's jobs
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        with _live_lock:
            return folder in _live_folders
    try:
        os.kill(pid, 0)  # the owner still runs (its job may too)
    except ProcessLookupError:
        return False
    except OSError:  # a process of another user has that id: leave the folder alone
        return True
    return True


def upload_iter(request: ZipExamplesRequest, folder: Path, *, device: str | None = None,
                limits: ZipLimits | None = None) -> Iterator[ExamplesProgress]:
    """Find the examples of the unpacked zip in ``folder`` into its store under :func:`upload_root`,
    yielding :class:`~.runner.ExamplesProgress` after each batch (``path``: the store)."""
    from featviz_core.examples.runner import examples_iter, plan_identity
    from featviz_core.examples.scan import LocalEngine

    limits = limits or ZipLimits.from_env()
    options = dict(top=request.top, max_mb=limits.image.max_bytes / 1024 / 1024, max_side=limits.image.max_side,
                   source=(request.source_name, request.digest))
    identity, _ = plan_identity(request.model, request.layer, folder, device=device, **options)
    out = upload_root() / f"{STORE_PREFIX}{identity.key}"
    yield from examples_iter(out, request.model, request.layer, folder, engine=LocalEngine(device=device),
                             **options)
