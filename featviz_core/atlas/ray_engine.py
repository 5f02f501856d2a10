"""The Ray engine: the atlas's batches spread over Ray actors, each holding the model once.

One actor per GPU (``num_gpus``) when the cluster has GPUs, otherwise one per group of CPU cores
(``num_cpus``, and that many torch threads, so every actor does the same arithmetic as a one-process run
with the same thread count). Batches are actor tasks fed through ``ray.util.ActorPool``: an actor killed
mid-batch is restarted by Ray (``max_restarts``) and the batch is retried on it (``max_task_retries=-1``);
nothing here schedules or retries by hand. Actors only render and return images and activations; the
driver writes every entry, so the store needs no file system shared with the workers.

Ray is optional (``requirements-ray.txt``); it is imported only when this engine starts.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from typing import Callable, Iterable, Iterator

from featviz_core.atlas import AtlasError
from featviz_core.atlas.batch_plan import Batch, Plan
from featviz_core.atlas.identity import AtlasIdentity
from featviz_core.atlas.local import BatchOutput, BatchRenderer
from featviz_core.errors import FeatvizError

# Restarts of one actor before the run gives up: enough for a killed or preempted worker, not an endless
# loop when a batch itself kills its worker (for example by running out of memory).
MAX_RESTARTS = 4


class AtlasWorker:
    """The Ray actor: a :class:`BatchRenderer` built once per actor (again after a restart).

    A constructor error would leave Ray nothing to report but a dead actor, so it is kept and returned by
    :meth:`ready` as a message instead.
    """

    def __init__(self, identity: AtlasIdentity, plan: Plan, device: str | None, threads: int | None) -> None:
        self.error = ""
        self.renderer: BatchRenderer | None = None
        try:
            self.renderer = BatchRenderer(identity, plan, device=device, threads=threads)
        except Exception as exc:  # reported by ready(): one line for the user, not a dead-actor traceback
            self.error = " ".join(str(exc).split()) or type(exc).__name__

    def ready(self) -> dict:
        """This worker's host, pid, device and threads, or ``{"error": why it cannot render}``."""
        return {"error": self.error} if self.renderer is None else dict(self.renderer.worker)

    def render(self, batch: Batch) -> BatchOutput:
        if self.renderer is None:
            raise AtlasError(self.error)
        return self.renderer(batch)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise AtlasError("--engine ray needs Ray: pip install -r requirements-ray.txt") from None
    return ray


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast, with one line, when a ``host:port`` (or ``ray://host:port``) address does not answer:
    Ray itself keeps retrying an unreachable cluster for minutes."""
    import re
    import socket

    match = re.fullmatch(r"(?:ray://)?\[?([^\]\s]+?)\]?:(\d+)", address.strip())
    if match is None:  # "auto" or another form Ray resolves itself
        return
    host, port = match.group(1), int(match.group(2))
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise AtlasError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start one with "
                         "`ray start --head` or check the address") from None


def _cause(exc: BaseException) -> BaseException:
    """The exception raised inside an actor, unwrapped from Ray's RayTaskError."""
    return getattr(exc, "cause", None) or exc


class RayEngineBase:
    """What both Ray engines (atlas batches, examples chunks) share: the argument checks, joining or starting
    the cluster, the actors' resources, spawning the actors, feeding them through ``ray.util.ActorPool`` and
    letting go. A subclass names its ``error`` class (every refusal is one line of it) and its work.

    Args:
        address: a Ray cluster address (``ray://host:10001``, ``host:6379`` or ``auto``); empty: start a
            local cluster for this run (or use the one this process already started).
        workers: number of actors (default: every GPU, or every group of ``cpus_per_worker`` cores).
        cpus_per_worker: cores (and torch threads) per CPU actor.
        gpus_per_worker: GPUs per actor when the cluster has GPUs (0.5 puts two actors on a card).
    """

    name = "ray"
    error: type[FeatvizError] = AtlasError

    def __init__(self, address: str = "", *, workers: int | None = None, cpus_per_worker: int = 1,
                 gpus_per_worker: float = 1.0) -> None:
        if workers is not None and workers < 1:
            raise self.error(f"--workers must be at least 1, got {workers}")
        if cpus_per_worker < 1:
            raise self.error(f"--cpus-per-worker must be at least 1, got {cpus_per_worker}")
        if not 0 < gpus_per_worker <= 8:
            raise self.error(f"--gpus-per-worker must be above 0 and at most 8, got {gpus_per_worker:g}")
        self.address, self.workers = address, workers
        self.cpus_per_worker, self.gpus_per_worker = cpus_per_worker, gpus_per_worker
        self._ray = None
        self._started_here = False
        self._actors: list = []
        self.device_type = "cpu"
        self.in_flight = 0
        self.worker_info: list[dict] = []

    def start(self) -> None:
        """Join or start the cluster and decide the actors' resources (before the work is planned)."""
        ray = self._ray = _import_ray()
        if not ray.is_initialized():
            options = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            try:
                if self.address:
                    _check_reachable(self.address)
                    ray.init(address=self.address, **options)
                else:
                    cpus = (self.workers * self.cpus_per_worker) if self.workers else (os.cpu_count() or 1)
                    ray.init(num_cpus=cpus, **options)
            except (AtlasError, self.error):
                raise
            except Exception as exc:  # connection refused, bad address, ...
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
                raise self.error(f"could not start or reach {where}: "
                                 f"{' '.join(str(exc).split())[:300]}") from None
            self._started_here = True
        resources = ray.cluster_resources()
        gpus, cpus = float(resources.get("GPU", 0)), float(resources.get("CPU", 0))
        if gpus >= self.gpus_per_worker:
            self.device_type = "cuda"
            count = self.workers or int(gpus // self.gpus_per_worker)
        else:
            count = self.workers or max(1, int(cpus // self.cpus_per_worker))
        self.in_flight = count

    def describe(self) -> str:
        per = (f"{self.gpus_per_worker:g} GPU" if self.device_type == "cuda"
               else f"{self.cpus_per_worker} CPU core{'s' if self.cpus_per_worker > 1 else ''}")
        where = self.address or "a local cluster"
        return f"Ray on {where}: {self.in_flight} actors of {per} each"

    def _spawn_actors(self, worker_class: type, *args, cannot: str) -> None:
        """``in_flight`` actors of ``worker_class(*args, device, threads)``, each asked whether it is ready;
        the first one that is not raises ``error`` ("a Ray worker cannot {cannot}: why")."""
        ray = self._ray
        if self.device_type == "cuda":
            resources = dict(num_gpus=self.gpus_per_worker, num_cpus=1)
            device, threads = "cuda", None
        else:
            resources = dict(num_cpus=self.cpus_per_worker)
            device, threads = "cpu", self.cpus_per_worker
        actor_class = ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=-1, **resources)(worker_class)
        self._actors = [actor_class.remote(*args, device, threads) for _ in range(self.in_flight)]
        self.worker_info = ray.get([actor.ready.remote() for actor in self._actors])
        errors = sorted({info["error"] for info in self.worker_info if "error" in info})
        if errors:
            raise self.error(f"a Ray worker cannot {cannot}: {errors[0]}")

    def _outputs(self, items: Iterable, call: Callable, started: Callable = lambda item: None) -> Iterator:
        """Each item's output as it finishes (in any order), every actor kept busy: ``call(actor, item)``
        starts an item on an actor, at the moment one is free (``started(item)`` then). A failure inside an
        actor is one line of ``error``."""
        from ray.util import ActorPool

        ray = self._ray
        pool = ActorPool(self._actors)
        queue = deque(items)

        def hand_out() -> None:
            while queue and pool.has_free():
                item = queue.popleft()
                pool.submit(call, item)
                started(item)

        hand_out()
        while pool.has_next():
            try:
                output = pool.get_next_unordered()
            except ray.exceptions.RayError as exc:
                cause = _cause(exc)
                if isinstance(cause, AtlasError) or (cause is not exc and isinstance(cause, Exception)
                                                     and type(cause).__module__.startswith("featviz_core")):
                    raise self.error(" ".join(str(cause).split())) from None
                raise self.error(f"a Ray worker failed for good ({type(exc).__name__}: "
                                 f"{' '.join(str(exc).split())[:300]})") from None
            hand_out()  # keep every actor busy while the driver writes this one's output
            yield output

    def close(self) -> None:
        ray = self._ray
        if ray is None:
            return
        for actor in self._actors:
            try:
                ray.kill(actor)
            except Exception:  # already gone
                pass
        self._actors = []
        if self._started_here:
            ray.shutdown()
            self._started_here = False


class RayEngine(RayEngineBase):
    """Atlas batches on Ray actors: a local cluster when ``address`` is empty, else the cluster at
    ``address`` (the arguments: :class:`RayEngineBase`)."""

    def run(self, identity: AtlasIdentity, plan: Plan, batches: list[Batch],
            started=lambda batch: None) -> Iterator[BatchOutput]:
        """Yield each batch's output as it finishes (in any order); ``started(batch)`` when one is handed
        to an actor."""
        if not self._actors:
            self._spawn_actors(AtlasWorker, identity, plan, cannot="render")
        yield from self._outputs(batches, lambda actor, item: actor.render.remote(item), started)
