"""Checks before an atlas run writes: the folder can be written and is a store (or empty), and no other run
holds it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from featviz_core.atlas import AtlasError
from featviz_core.atlas.entries import TMP_PREFIX

LOCK = ".lock"
MANIFEST = "manifest.json"
LOG = "renders.jsonl"


def ensure_writable(path: Path, what: str) -> None:
    """Create the folder ``path`` and prove a file can be written in it.

    Raises:
        AtlasError: "cannot write to {what} ...", one line with the system's reason.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f"{TMP_PREFIX}probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise AtlasError(f"cannot write to {what} ({exc.strerror or exc}); choose a folder you can write to") from None


def prepare_folder(path: Path) -> None:
    """Create the store folder and prove it is writable; refuse a non-empty folder that is not a store.

    Raises:
        AtlasError: one line saying what is wrong with ``path``.
    """
    if path.exists() and not path.is_dir():
        raise AtlasError(f"--out {path} exists and is not a folder")
    ensure_writable(path, f"the atlas store {path}")
    if not (path / MANIFEST).exists() and any(p.name not in (LOCK, LOG) for p in path.iterdir()):
        raise AtlasError(f"{path} is not empty and holds no atlas; choose a new or empty folder "
                         "(nothing was written)")


@contextlib.contextmanager
def writer_lock(path: Path, what: str = "atlas run") -> Iterator[None]:
    """Hold the store's writer lock for the duration; a second run is refused with the holder's pid
    (``what`` names the kind of run in that message)."""
    import fcntl

    handle = open(path / LOCK, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise AtlasError(f"another {what} (pid {holder}) is writing {path}; wait for it to finish "
                             "or stop it") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()
