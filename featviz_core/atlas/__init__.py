"""Atlas: every channel of whole layers rendered once into a store the app reads without a model.

A store is one folder per (model, weights digest, render settings): ``manifest.json`` (what the store is of,
its batch plan, and the final activation of every finished channel) and ``images/LAYER/CHANNEL.png``.
It is filled batch by batch, in one process (:mod:`featviz_core.atlas.local`) or by Ray actors
(:mod:`featviz_core.atlas.ray_engine`), always through :func:`featviz_core.atlas.runner.build_atlas`, so both
write the same store. ``archive`` packs a store into one verified file and fetches one from a URL;
``lookup`` finds the stores an app can show.

Nothing here imports torch at module import: the app's Gallery reads stores without loading a model.

Layer (checked by tests/test_layout.py): may import errors, config, device, settings, models, render, request,
outputs; torch at module level: no.
"""

from featviz_core.errors import FeatvizError


class AtlasError(FeatvizError):
    """An atlas store, archive or run was refused; the message says why and what to do."""


__all__ = ["AtlasError"]
