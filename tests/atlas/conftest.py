"""Atlas fixtures: a small real atlas (EfficientNet-Lite0 ``_blocks.0``, 16 channels, 8 steps, 32 px) made
once per session in one process with one torch thread, and helpers to read stores back."""

from __future__ import annotations

from pathlib import Path

import pytest
from atlas_helpers import BATCH, LAYER, MODEL, SETTINGS


@pytest.fixture(scope="session")
def local_store(tmp_path_factory) -> Path:
    """A complete atlas of ``_blocks.0`` rendered by the single-process engine (threads=1, batches of 4)."""
    from featviz_core.atlas.local import LocalEngine
    from featviz_core.atlas.runner import build_atlas

    path = tmp_path_factory.mktemp("atlas") / "local"
    summary = build_atlas(path, MODEL, LAYER, SETTINGS, engine=LocalEngine(threads=1), batch=BATCH)
    assert (summary.done, summary.total, summary.rendered) == (16, 16, 16)
    return path
