"""Shared settings and readers for the atlas tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MODEL, LAYER, CHANNELS = "efficientnet-lite0", "_blocks.0", 16
SETTINGS = dict(steps=8, size=32, seed=0)
BATCH = 4


def images_of(path: Path, layer: str = LAYER) -> dict[int, np.ndarray]:
    """Every finished image of ``layer`` in the store at ``path``, decoded (raises if one does not decode)."""
    from featviz_core.atlas.store import AtlasStore, read_entry

    store = AtlasStore.open(path)
    return {channel: read_entry(store.image_path(layer, channel))[0] for channel in store.done(layer)}


def png_files(path: Path, layer: str = LAYER) -> set[int]:
    """Channels with a finished PNG file on disk (temporary files are not entries)."""
    from featviz_core.atlas.store import IMAGES, layer_folder

    folder = path / IMAGES / layer_folder(layer)
    return {int(p.stem) for p in folder.glob("*.png") if not p.name.startswith(".")}


def cli(*args: str) -> list[str]:
    """The real command line, as a user runs it."""
    return [sys.executable, "-m", "featviz_core", *args]


def cli_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}
