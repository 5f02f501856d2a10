"""The Ray engine for examples: chunks spread over Ray actors, each holding the model once.

The atlas's pattern (:mod:`featviz_core.atlas.ray_engine`): actors built once (again after a restart,
``max_restarts``), chunks as actor tasks through ``ray.util.ActorPool`` retried by Ray when a worker dies
(``max_task_retries=-1``). The driver reads each chunk's files and sends their bytes, so workers need no
access to the folder; it merges the partial states (an exact, order-independent merge) and writes the store.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from typing import Iterator

from featviz_core.atlas.ray_engine import MAX_RESTARTS, _cause, _check_reachable, _import_ray
from featviz_core.examples import ExamplesError
from featviz_core.examples.scan import Chunk, ChunkOutput, ChunkScanner


class ExamplesWorker:
    """The Ray actor: a :class:`ChunkScanner`; a constructor error is kept and reported by :meth:`ready`."""

    def __init__(self, identity, device: str | None, threads: int | None) -> None:
        self.error = ""
        self.scanner: ChunkScanner | None = None
        try:
            self.scanner = ChunkScanner(identity, device=device, threads=threads)
        except Exception as exc:  # reported by ready(): one line, not a dead-actor traceback
            self.error = " ".join(str(exc).split()) or type(exc).__name__

    def ready(self) -> dict:
        return {"error": self.error} if self.scanner is None else dict(self.scanner.worker)

    def scan(self, chunk: Chunk) -> ChunkOutput:
        if self.scanner is None:
            raise ExamplesError(self.error)
        return self.scanner(chunk)


class RayEngine:
    """Chunks on Ray actors: a local cluster when ``address`` is empty, else the cluster at ``address``.

    Args:
        address: a Ray cluster address (``ray://host:10001``, ``host:6379`` or ``auto``); empty: start a local
            cluster for this run (or use the one this process already started).
        workers: number of actors (default: every GPU, or every group of ``cpus_per_worker`` cores).
        cpus_per_worker: cores (and torch threads) per CPU actor.
        gpus_per_worker: GPUs per actor when the cluster has GPUs.
    """

    name = "ray"
    device = None

    def __init__(self, address: str = "", *, workers: int | None = None, cpus_per_worker: int = 1,
                 gpus_per_worker: float = 1.0) -> None:
        if workers is not None and workers < 1:
            raise ExamplesError(f"--workers must be at least 1, got {workers}")
        if cpus_per_worker < 1:
            raise ExamplesError(f"--cpus-per-worker must be at least 1, got {cpus_per_worker}")
        if not 0 < gpus_per_worker <= 8:
            raise ExamplesError(f"--gpus-per-worker must be above 0 and at most 8, got {gpus_per_worker:g}")
        self.address, self.workers = address, workers
        self.cpus_per_worker, self.gpus_per_worker = cpus_per_worker, gpus_per_worker
        self._ray = None
        self._started_here = False
        self._actors: list = []
        self.device_type = "cpu"
        self.in_flight = 0
        self.worker_info: list[dict] = []

    def start(self) -> None:
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
            except Exception as exc:  # connection refused, bad address, ...
                if isinstance(exc, ExamplesError) or type(exc).__name__ == "AtlasError":
                    raise
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
                raise ExamplesError(f"could not start or reach {where}: "
                                    f"{' '.join(str(exc).split())[:300]}") from None
            self._started_here = True
        resources = ray.cluster_resources()
        gpus, cpus = float(resources.get("GPU", 0)), float(resources.get("CPU", 0))
        if gpus >= self.gpus_per_worker:
            self.device_type = "cuda"
            self.in_flight = self.workers or int(gpus // self.gpus_per_worker)
        else:
            self.in_flight = self.workers or max(1, int(cpus // self.cpus_per_worker))

    def describe(self) -> str:
        per = (f"{self.gpus_per_worker:g} GPU" if self.device_type == "cuda"
               else f"{self.cpus_per_worker} CPU core{'s' if self.cpus_per_worker > 1 else ''}")
        return f"Ray on {self.address or 'a local cluster'}: {self.in_flight} actors of {per} each"

    def _spawn(self, identity) -> None:
        ray = self._ray
        if self.device_type == "cuda":
            resources, device, threads = dict(num_gpus=self.gpus_per_worker, num_cpus=1), "cuda", None
        else:
            resources, device, threads = dict(num_cpus=self.cpus_per_worker), "cpu", self.cpus_per_worker
        actor_class = ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=-1, **resources)(ExamplesWorker)
        self._actors = [actor_class.remote(identity, device, threads) for _ in range(self.in_flight)]
        self.worker_info = ray.get([actor.ready.remote() for actor in self._actors])
        errors = sorted({info["error"] for info in self.worker_info if "error" in info})
        if errors:
            raise ExamplesError(f"a Ray worker cannot scan: {errors[0]}")

    def run(self, identity, indices: list[int], read) -> Iterator[ChunkOutput]:
        """Yield each chunk's output as it finishes (in any order); ``read(index)`` gives its bytes."""
        from ray.util import ActorPool

        ray = self._ray
        if not self._actors:
            self._spawn(identity)
        pool = ActorPool(self._actors)
        queue = deque(indices)

        def hand_out() -> None:
            while queue and pool.has_free():
                pool.submit(lambda actor, chunk: actor.scan.remote(chunk), read(queue.popleft()))

        hand_out()
        while pool.has_next():
            try:
                output = pool.get_next_unordered()
            except ray.exceptions.RayError as exc:
                cause = _cause(exc)
                if cause is not exc and type(cause).__module__.startswith("featviz_core"):
                    raise ExamplesError(" ".join(str(cause).split())) from None
                raise ExamplesError(f"a Ray worker failed for good ({type(exc).__name__}: "
                                    f"{' '.join(str(exc).split())[:300]})") from None
            hand_out()  # keep every actor busy while the driver merges this chunk
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
