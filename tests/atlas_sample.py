"""Small atlases shared by the Gallery's AppTest and browser tests: a partly rendered one, and one that holds
only chosen channels (a photo's most excited ones, for the Photo page)."""

from __future__ import annotations

from pathlib import Path

#: 80 channels: one full Gallery page of 60 and a second of 20.
LAYER = "_blocks.5"
MODEL = "efficientnet-lite0"


def partial_atlas(root: Path) -> Path:
    """A folder of atlases under ``root`` with one EfficientNet-Lite0 store of ``LAYER``: channels 0-7
    rendered (8 steps, 32 px), the rest missing. Returns ``root``."""
    from featviz_core.atlas.local import LocalEngine
    from featviz_core.atlas.runner import build_atlas

    build_atlas(root / "effnet", MODEL, LAYER, {"steps": 8, "size": 32}, engine=LocalEngine(),
                batch=8, max_batches=1)
    return root


def channels_atlas(out: Path, layer: str, channels: tuple[int, ...]) -> Path:
    """An EfficientNet-Lite0 store at ``out`` of ``layer`` with only ``channels`` rendered (8 steps, 32 px),
    in one batch by the atlas's own engine. Returns ``out``."""
    from featviz_core.atlas.batch_plan import Batch
    from featviz_core.atlas.local import LocalEngine
    from featviz_core.atlas.runner import build_atlas
    from featviz_core.atlas.store import AtlasStore

    build_atlas(out, MODEL, layer, {"steps": 8, "size": 32}, engine=LocalEngine(), batch=8, max_batches=0)
    store, engine = AtlasStore.open(out), LocalEngine()
    try:
        for output in engine.run(store.identity, store.plan, [Batch(layer, tuple(channels))]):
            store.write_batch(output.batch, output.images, output.activations)
    finally:
        engine.close()
    assert sorted(store.done(layer)) == sorted(channels)
    return out
