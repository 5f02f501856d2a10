"""Shared numbers and readers for the examples tests."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP, BATCH = 3, 2


def result(store: Path) -> dict:
    return json.loads((store / "examples.json").read_text())


def store_files(store: Path) -> dict[str, bytes]:
    """Every file of the finished store except the lock and the checkpoint: relative path -> bytes."""
    return {p.relative_to(store).as_posix(): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and p.name not in (".lock", "checkpoint.npz")}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "featviz_core", *args]


def cli_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}
