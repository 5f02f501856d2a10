"""The atlas filler: while no visitor's render waits or runs, the render service renders the next missing
channels of the current model's featured layers into an atlas store the Gallery reads.

One thread decides; the service's workers render. Each round it (1) writes a finished batch into its store,
(2) does nothing while a job of higher priority than :data:`FILL_PRIORITY` is queued or running, else
(3) submits the next batch with missing channels (the atlas plan's fixed slices of a layer, under the
atlas's standard settings: RenderRequest's defaults) as a *preemptible* job. A visitor's submit that finds
no free worker stops that job at its next optimization step (``RenderService.submit``); its partial result
ends with an error saying why, is never cached and never written to the atlas, and the filler submits the
batch again later. "Render this layer now" (:meth:`AtlasFiller.fill_layer`) puts a layer first, and works
even with automatic filling off (``FEATVIZ_ATLAS_FILL=0``).

The store is an ordinary :class:`~featviz_core.atlas.store.AtlasStore` (identity = model, weights digest,
settings), written under the store's writer lock with atomic renames, in the first atlas folder the app
reads (``FEATVIZ_ATLAS_DIR``'s first folder, else ``CACHE/atlas``), so the Gallery shows it with no new code
path. Channels an atlas of the same identity already holds (a fetched one) are not rendered again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from featviz_core.errors import FeatvizError

if TYPE_CHECKING:
    from featviz_core.atlas.identity import AtlasIdentity
    from featviz_core.atlas.batch_plan import Batch, Plan
    from featviz_core.service.job import Job
    from featviz_core.service.render_service import RenderService

log = logging.getLogger(__name__)

FILL_PRIORITY = -2  # below the Gallery's "Render missing" (-1), which is a visitor's click
CLIENT = "atlas-filler"


@dataclass(frozen=True)
class FillStatus:
    """What the filler is filling for a model: ``layer`` and its finished / total channels, over every
    layer it means to fill (``done_all`` / ``total_all``); ``store``: the folder it writes."""

    model: str
    layer: str
    done: int
    total: int
    done_all: int
    total_all: int
    store: Path
    auto: bool


@dataclass
class _Pending:
    job: "Job"
    identity: "AtlasIdentity"
    plan: "Plan"
    batch: "Batch"


class AtlasFiller:
    """Feeds ``service`` background atlas work.

    Args:
        service: the render service whose workers render the batches.
        auto: fill the current model's featured layers on its own (False: only layers asked for with
            :meth:`fill_layer`).
        root: folder the store is made in (None: the first atlas folder the app reads, at each round).
        model: the model filled on its own (None: this machine's default model, at each round).
        settings: render settings of the atlas (None: RenderRequest's defaults, as ``atlas`` uses).
        layers: layers filled on its own (None: the model's featured layers).
        batch: channels per job (None: 8 on a CPU, 64 on a GPU, as ``atlas`` plans).
        snapshot_every: snapshot interval of its jobs (None: the last step only; nobody watches them).
        poll_s: seconds between rounds (a job is touched each round, so keep it below the idle timeout).
    """

    def __init__(self, service: "RenderService", *, auto: bool, root: str | Path | None = None,
                 model: str | None = None, settings: Mapping[str, Any] | None = None,
                 layers: tuple[str, ...] | None = None, batch: int | None = None,
                 snapshot_every: int | None = None, poll_s: float = 0.5) -> None:
        self.service, self.auto = service, auto
        self.root = Path(root) if root is not None else None
        self.model, self.settings, self.layers = model, dict(settings) if settings else None, layers
        self.batch, self.snapshot_every = batch, snapshot_every
        self.poll_s = min(poll_s, service.idle_timeout_s / 4)
        self.written = 0  # channels written into stores since start
        self.rounds = 0  # rounds the thread finished (tests wait on it)
        self._asked: list[tuple[str, str]] = []  # (model, layer) from "Render this layer now", first come first
        self._pending: _Pending | None = None
        self._current: tuple[str, str] | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    # ----- control ----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread (once; a stopped filler stays stopped)."""
        with self._lock:
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(target=self._loop, name="featviz-atlas-filler", daemon=True)
                self._thread.start()

    def fill_layer(self, model: str, layer: str) -> None:
        """Render ``layer`` of ``model``'s missing channels next, at background priority."""
        with self._lock:
            if (model, layer) not in self._asked:
                self._asked.append((model, layer))
        self.start()
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread and the job it submitted (its partial result is not written)."""
        self._stopped.set()
        self._wake.set()
        pending = self._pending
        if pending is not None and pending.job.active:
            pending.job.cancel("atlas filler stopped")
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ----- what it fills ------------------------------------------------------------------------------------
    def identity(self, model: str) -> "AtlasIdentity | None":
        """The atlas identity it fills for ``model``; None while the model's weights are not here."""
        from featviz_core.atlas.identity import AtlasIdentity, local_weights_digest, settings_of
        from featviz_core.models import get_spec
        from featviz_core.request import RenderRequest

        digest = local_weights_digest(model)
        if not digest:
            return None
        layer = get_spec(model).featured_layers[0]
        request = RenderRequest(model=model, layer=layer, channels=(0,), **(self.settings or {}))
        return AtlasIdentity.create(model, digest, settings_of(request))

    def store_root(self) -> Path | None:
        """Where its stores go: ``root``, else the first atlas folder that is not itself a store."""
        from featviz_core.atlas.lookup import atlas_roots
        from featviz_core.atlas.store import MANIFEST

        if self.root is not None:
            return self.root
        return next((r for r in atlas_roots() if not (r / MANIFEST).exists()), None)

    def store_path(self, identity: "AtlasIdentity") -> Path | None:
        """``ROOT/atlas-MODEL-KEY-filled`` (a portable name); a store filled before names were portable, under
        the model's name as written, is used when it is there (and is a plain folder in ROOT)."""
        from featviz_core.atlas.store import MANIFEST

        root = self.store_root()
        if root is None:
            return None
        legacy = root / f"{identity.legacy_name}-filled"
        if identity.legacy_name != identity.name and "/" not in identity.legacy_name and \
                (legacy / MANIFEST).is_file() and not (root / f"{identity.name}-filled").exists():
            return legacy
        return root / f"{identity.name}-filled"

    def _layers(self, model: str) -> dict[str, int]:
        from featviz_core.atlas.batch_plan import select_layers

        chosen = select_layers(model, ",".join(self.layers) if self.layers else "main")
        asked = [layer for m, layer in list(self._asked) if m == model]
        return {**select_layers(model, ",".join(asked)), **chosen} if asked else chosen

    def _targets(self) -> list[tuple[str, str]]:
        from featviz_core.atlas.batch_plan import select_layers
        from featviz_core.models import default_model_name

        with self._lock:
            targets = list(self._asked)
        if self.auto:
            model = self.model or default_model_name()
            targets += [(model, layer) for layer in select_layers(model, ",".join(self.layers) if self.layers
                                                                  else "main")]
        return targets

    def _plan(self, identity: "AtlasIdentity") -> "Plan":
        from featviz_core.atlas.batch_plan import Plan
        from featviz_core.atlas.runner import CPU_BATCH, GPU_BATCH
        from featviz_core.atlas.store import AtlasStore

        path = self.store_path(identity)
        try:
            return AtlasStore.open(path).plan
        except (FeatvizError, TypeError):
            pass
        batch = self.batch or (GPU_BATCH if self.service.device.type == "cuda" else CPU_BATCH)
        return Plan(batch=batch, images_per_pass=self._images_per_pass())

    def _images_per_pass(self) -> int:
        """Images per forward pass of the service's renders (what the store's plan must say)."""
        from featviz_core.render import default_batch_size

        return self.service.batch_size or default_batch_size(self.service.device)

    def done_channels(self, identity: "AtlasIdentity", layer: str) -> set[int]:
        """Channels of ``layer`` finished in any store of ``identity`` the app reads or the filler writes."""
        from featviz_core.atlas.lookup import atlas_roots, find_stores

        roots = atlas_roots()
        root = self.store_root()
        if root is not None and root not in roots:
            roots.append(root)
        done: set[int] = set()
        for store in find_stores(roots):
            if store.identity == identity:
                done |= set(store.done(layer))
        return done

    def _next(self) -> _Pending | None:
        """The next batch with a missing channel (asked layers first), or None when all are filled."""
        from featviz_core.atlas.batch_plan import batches

        for model, layer in self._targets():
            identity = self.identity(model)
            if identity is None or self.store_path(identity) is None:
                continue
            plan = self._plan(identity)
            if plan.images_per_pass != self._images_per_pass():
                continue  # the store's images would not be the ones this service renders
            count = self._layers(model)[layer]
            done = self.done_channels(identity, layer)
            todo = next((b for b in batches({layer: count}, plan.batch) if not set(b.channels) <= done), None)
            if todo is not None:
                self._current = (model, layer)
                return _Pending(None, identity, plan, todo)  # type: ignore[arg-type]
            with self._lock:
                if (model, layer) in self._asked:
                    self._asked.remove((model, layer))
        self._current = None
        return None

    def status(self, model: str) -> FillStatus | None:
        """What is being filled for ``model`` (None: nothing, or its weights are not here)."""
        current = self._current
        identity = self.identity(model)
        if current is None or current[0] != model or identity is None:
            return None
        layers = self._layers(model)
        done = {layer: len(self.done_channels(identity, layer)) for layer in layers}
        layer = current[1]
        return FillStatus(model, layer, done.get(layer, 0), layers.get(layer, 0), sum(done.values()),
                          sum(layers.values()), self.store_path(identity) or Path(), self.auto)

    # ----- the thread ---------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopped.is_set():
            try:
                self._round()
            except Exception:  # the filler must never take the service down; try again next round
                log.exception("atlas filler round failed")
            self.rounds += 1
            self._wake.wait(self.poll_s)
            self._wake.clear()
        pending = self._pending
        if pending is not None and pending.job.active:
            pending.job.cancel("atlas filler stopped")

    def _round(self) -> None:
        from featviz_core.errors import QueueFull

        pending = self._pending
        if pending is not None:
            if pending.job.active:
                pending.job.touch(CLIENT)
                return
            self._pending = None
            self._write(pending)
        if self._stopped.is_set() or self.service.busy_above(FILL_PRIORITY):
            return
        chosen = self._next()
        if chosen is None:
            return
        request = chosen.identity.request(chosen.batch.layer, chosen.batch.channels)
        try:
            chosen.job = self.service.submit(request, CLIENT, priority=FILL_PRIORITY, preemptible=True,
                                             snapshot_every=self.snapshot_every or request.steps)
        except QueueFull:
            return
        self._pending = chosen
        if not chosen.job.active:  # cached: write it now
            self._wake.set()

    def _write(self, pending: _Pending) -> None:
        """Write a finished batch into the store; a stopped or failed one is dropped (rendered again later)."""
        from featviz_core import __version__
        from featviz_core.atlas.guard import prepare_folder, writer_lock
        from featviz_core.atlas.store import MANIFEST, AtlasStore, _now
        from featviz_core.service.job import DONE

        job, result = pending.job, pending.job.result
        if job.state != DONE or result is None or result.stopped or job.error:
            return
        path = self.store_path(pending.identity)
        if path is None:
            return
        try:
            prepare_folder(path)
            with writer_lock(path, "atlas filler"):
                if (path / MANIFEST).exists():
                    store = AtlasStore.open(path)
                    if store.identity != pending.identity or store.plan != pending.plan:
                        log.warning("atlas filler: %s is of other settings or plan; not written", path)
                        return
                else:
                    store = AtlasStore(path, pending.identity, pending.plan, {},
                                       {"created": _now(), "featviz_version": __version__})
                store.add_layers(self._layers(pending.identity.model))
                store.write_batch(pending.batch, result.images, [float(s) for s in result.scores])
                store.log("done", pending.batch, run="filler", engine="service", job=job.id)
        except FeatvizError as exc:
            log.warning("atlas filler could not write %s: %s", path, exc)
            return
        self.written += len(pending.batch.channels)
