"""A small, partly rendered atlas shared by the Gallery's AppTest and browser tests."""

from __future__ import annotations

from pathlib import Path

#: 80 channels: one full Gallery page of 60 and a second of 20.
LAYER = "_blocks.5"


def partial_atlas(root: Path) -> Path:
    """A folder of atlases under ``root`` with one EfficientNet-Lite0 store of ``LAYER``: channels 0-7
    rendered (8 steps, 32 px), the rest missing. Returns ``root``."""
    from featviz_core.atlas.local import LocalEngine
    from featviz_core.atlas.runner import build_atlas

    build_atlas(root / "effnet", "efficientnet-lite0", LAYER, {"steps": 8, "size": 32}, engine=LocalEngine(),
                batch=8, max_batches=1)
    return root
