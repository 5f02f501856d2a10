"""Build or resume an atlas: check everything, then render the missing batches with an engine.

``build_atlas`` is the one driver of both engines. It refuses bad input before loading anything heavy
(model, layers, settings, an unwritable or foreign folder, a store of other weights or settings), holds the
store's writer lock, reconciles the store with its files, renders only the batches with missing channels,
and writes each finished batch into the store (PNGs, then manifest) before the next one is reported.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from featviz_core.atlas import AtlasError
from featviz_core.atlas.batch_plan import Plan, batches as plan_batches, select_layers
from featviz_core.atlas.identity import AtlasIdentity, setting_names, settings_of, weights_digest
from featviz_core.atlas.local import BatchOutput
from featviz_core.atlas.store import MANIFEST, AtlasStore, _now, prepare_folder, writer_lock

CPU_BATCH, GPU_BATCH = 8, 64  # channels per batch: small on a CPU (quick to resume), large on a GPU


@dataclass
class Progress:
    """Where a run stands after a batch.

    Attributes:
        done: finished channels of the run's layers (including those finished by earlier runs).
        total: channels of the run's layers.
        rendered: channels this run rendered so far.
        elapsed_s: seconds since this run started rendering.
        output: the batch just written.
    """

    done: int
    total: int
    rendered: int
    elapsed_s: float
    output: BatchOutput | None = None

    @property
    def per_minute(self) -> float:
        return self.rendered / self.elapsed_s * 60 if self.elapsed_s > 0 else 0.0

    @property
    def remaining_s(self) -> float:
        return (self.total - self.done) / self.per_minute * 60 if self.per_minute > 0 else math.nan


@dataclass
class AtlasSummary:
    """The outcome of one run."""

    path: Path
    identity: AtlasIdentity
    done: int
    total: int
    rendered: int
    batches: int
    elapsed_s: float
    engine: str
    adopted: int = 0
    dropped: int = 0


def _validated_settings(model: str, layers: dict[str, int], settings: Mapping[str, Any]) -> dict[str, Any]:
    from featviz_core.request import RenderRequest

    unknown = set(settings) - set(setting_names())
    if unknown:
        raise AtlasError(f"unknown render setting(s) {', '.join(sorted(unknown))}")
    request = RenderRequest(model=model, layer=next(iter(layers)), channels=(0,), **dict(settings))
    return settings_of(request)


def _check_plan_numbers(batch: int | None, images_per_pass: int | None) -> None:
    """Refuse --batch / --images-per-pass out of range before anything is written or started."""
    from featviz_core.config import Limits

    limit = Limits.from_env().max_channels
    for name, value in (("--batch", batch), ("--images-per-pass", images_per_pass)):
        if value is not None and not 1 <= value <= limit:
            raise AtlasError(f"{name} must be between 1 and {limit} (FEATVIZ_MAX_CHANNELS), got {value}")


def _plan(existing: AtlasStore | None, engine, batch: int | None, images_per_pass: int | None) -> Plan:
    from featviz_core.config import Limits

    limit = Limits.from_env().max_channels
    if existing is not None:
        plan = existing.plan
        asked = {"batch": batch, "images_per_pass": images_per_pass}
        for name, value in asked.items():
            if value is not None and value != getattr(plan, name):
                flag = "--" + name.replace("_", "-")
                raise AtlasError(
                    f"this store was rendered with {flag} {getattr(plan, name)}; a resumed run keeps its batches "
                    f"(the same images need the same batches), so leave {flag} out or use a new --out"
                )
        return plan
    from featviz_core.render import default_batch_size
    import torch

    cuda = engine.device_type == "cuda"
    default_pass = default_batch_size(torch.device("cuda" if cuda else "cpu"))
    chosen = batch or (GPU_BATCH if cuda else CPU_BATCH)
    return Plan(batch=min(chosen, limit), images_per_pass=images_per_pass or min(default_pass, chosen))


def build_atlas(
    out: str | Path,
    model: str,
    layers: str = "main",
    settings: Mapping[str, Any] | None = None,
    *,
    engine=None,
    batch: int | None = None,
    images_per_pass: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    max_batches: int | None = None,
) -> AtlasSummary:
    """Render every missing channel of ``layers`` of ``model`` into the store at ``out``.

    Args:
        out: the store folder (created; an existing store must have the same model, weights and settings).
        model: a model name, or "auto" for this machine's default.
        layers: "main", "all", or names separated by commas.
        settings: render settings (steps, size, seed, lr, ...); missing ones take RenderRequest's defaults.
        engine: a LocalEngine (default) or RayEngine.
        batch / images_per_pass: the plan of a new store (default: 8 and 2 on a CPU, 64 and 64 on a GPU).
        progress: called after each batch is written.
        max_batches: stop after this many batches (the store stays resumable).

    Raises:
        AtlasError, RequestError, WeightsUnavailable: one line each, before anything is overwritten.
    """
    from featviz_core.atlas.local import LocalEngine
    from featviz_core.models import default_model_name, get_spec

    model = default_model_name() if model == "auto" else get_spec(model).name
    chosen = select_layers(model, layers)
    clean_settings = _validated_settings(model, chosen, settings or {})
    _check_plan_numbers(batch, images_per_pass)
    out = Path(out)
    prepare_folder(out)
    engine = engine if engine is not None else LocalEngine()
    with writer_lock(out):
        existing = AtlasStore.open(out) if (out / MANIFEST).exists() else None
        identity = AtlasIdentity.create(model, weights_digest(model), clean_settings)
        if existing is not None and existing.identity != identity:
            what = "other weights" if existing.identity.weights_sha256 != identity.weights_sha256 else "other settings"
            if existing.identity.model != identity.model:
                what = "another model"
            raise AtlasError(f"{out} holds an atlas made with {what} "
                             f"({'; '.join(identity.differences(existing.identity)[:3])}); "
                             "use another --out (nothing was changed)")
        try:
            engine.start()
            plan = _plan(existing, engine, batch, images_per_pass)
            return _run(out, existing, identity, plan, chosen, engine, progress, max_batches)
        finally:
            engine.close()


def _run(out: Path, existing: AtlasStore | None, identity: AtlasIdentity, plan: Plan, layers: dict[str, int],
         engine, progress, max_batches: int | None) -> AtlasSummary:
    from featviz_core import __version__

    store = existing or AtlasStore(out, identity, plan, {}, {"created": _now(), "featviz_version": __version__})
    store.add_layers(layers)
    store.save()
    adopted, dropped = store.reconcile()
    todo = [b for b in plan_batches(layers, plan.batch)
            if any(store.activations[b.layer][c] is None for c in b.channels)]
    if max_batches is not None:
        todo = todo[:max(0, max_batches)]
    run_id = uuid.uuid4().hex[:8]
    total = sum(layers.values())

    def finished() -> int:
        return sum(v is not None for layer in layers for v in store.activations[layer])

    def started(batch) -> None:
        store.log("start", batch, run=run_id, engine=engine.name, pid=os.getpid())

    rendered = written = 0
    began = time.perf_counter()
    if not todo:  # a finished atlas: nothing to render, so no engine loads a model
        return AtlasSummary(out, identity, finished(), total, 0, 0, 0.0, engine.describe(), adopted, dropped)
    for output in engine.run(identity, plan, todo, started):
        store.write_batch(output.batch, output.images, output.activations)
        store.log("done", output.batch, run=run_id, engine=engine.name, worker=output.worker,
                  seconds=round(output.seconds, 3))
        rendered += len(output.batch.channels)
        written += 1
        if progress is not None:
            progress(Progress(finished(), total, rendered, time.perf_counter() - began, output))
    return AtlasSummary(out, identity, finished(), total, rendered, written, time.perf_counter() - began,
                        engine.describe(), adopted, dropped)
