"""A process-wide render queue: a few worker threads, fair order, cancel, deadlines, progress.

Pages (or any client) ``submit`` a request and poll the returned :class:`Job`; workers call no UI code.
A job is shared by every client that asks for the same request while it runs (a lecture hall pressing
Render on the same settings costs one render). Clients prove they are still there with ``touch``; a job
nobody has touched for ``idle_timeout_s`` is cancelled (the tab was closed) and leaves the queue.
A worker renders one job's request at a time and never puts two requests in one batch, so a render's
pixels do not depend on what else is running: they equal ``render(request, batch_size=...)`` with the
service's batch size.

With ``FEATVIZ_STATS_FILE`` set, the service rewrites that JSON file (atomically) whenever a render is
queued, starts, finishes or is turned away, so a monitor or a load test in another process can read the
counters, among them ``peak_running``: the most renders that ever ran at the same time.

An idle job is kept, though, while a client that named the UI session it watches from (``touch(client,
session)``) has that session still connected, as the service's ``session_alive`` callback says: a browser
throttles a hidden tab's timers to about once a minute, so an open tab in the background may poll rarely,
and its render must go on.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from featviz_core.cache import RenderCache
from featviz_core.config import ServiceSettings
from featviz_core.device import resolve_device
from featviz_core.errors import FeatvizError, QueueFull
from featviz_core.models import load_model, weights_identity
from featviz_core.compiled import compile_from_env
from featviz_core.render import RenderResult, Snapshot, render_iter, result_from_snapshot
from featviz_core.request import RenderRequest

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


@dataclass(eq=False)
class Job:
    id: str
    request: RenderRequest
    snapshot_every: int
    state: str = QUEUED
    snapshot: Snapshot | None = None
    result: RenderResult | None = None
    error: str = ""
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    clients: dict[str, float] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)  # client -> the UI session it watches from
    stop_reason: str = ""
    priority: int = 0  # queued jobs of higher priority go first (visitors 0, the Gallery's background -1)
    key: str = ""  # the request's key when it was submitted (the weights' identity may change later)
    service: "RenderService | None" = field(default=None, repr=False)
    # Clients touch from their own threads while a worker reads the times: guard the dict.
    _clients_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def finished_ok(self) -> bool:
        return self.state == DONE

    @property
    def active(self) -> bool:
        return self.state in (QUEUED, RUNNING)

    def position(self) -> int:
        """How many queued jobs are ahead of this one (0 when running or finished)."""
        return self.service.position(self) if self.service is not None and self.state == QUEUED else 0

    def touch(self, client: str, session: str | None = None) -> None:
        """A client is still watching (call it from every poll). ``session``: the id of the UI session
        (browser tab connection) the client watches from, for the service's ``session_alive`` check."""
        with self._clients_lock:
            self.clients[client] = time.monotonic()
            if session:
                self.sessions[client] = session

    def release(self, client: str, reason: str = "stopped by user") -> None:
        """A client stops watching; with nobody left, the job stops and keeps its partial result
        (a job still waiting in the queue leaves it)."""
        with self._clients_lock:
            self.clients.pop(client, None)
            self.sessions.pop(client, None)
            nobody = not self.clients
        if nobody and self.active:
            self.stop_reason = reason
            if self.service is not None:
                self.service._prune()

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop the job for every client: a running render keeps its partial result, a queued one leaves."""
        self.stop_reason = reason
        if self.service is not None:
            self.service._prune()

    def last_seen(self) -> float:
        """When a client last touched the job (time.monotonic), or -inf when nobody ever did."""
        with self._clients_lock:
            return max(self.clients.values(), default=float("-inf"))

    def watching_sessions(self) -> list[str]:
        """Ids of the UI sessions its clients watch from (those that named one)."""
        with self._clients_lock:
            return list(self.sessions.values())


class RenderService:
    """Owns the queue, the workers and the render cache."""

    def __init__(
        self,
        settings: ServiceSettings | None = None,
        *,
        device: str | torch.device | None = None,
        cache: RenderCache | None = None,
        model_loader: Callable[[str, torch.device], torch.nn.Module] = load_model,
        idle_timeout_s: float | None = None,
        batch_size: int | None = None,
        stats_file: str | Path | None = None,
        session_alive: Callable[[str], bool] | None = None,
        lookup: Callable[[RenderRequest], RenderResult | None] | None = None,
        compile: bool | None = None,
    ) -> None:
        """
        Args:
            settings: workers, queue length, deadline, cache bounds (default: from the environment).
            device: where renders run (default: FEATVIZ_DEVICE, else CUDA when available).
            cache: the finished-render store (default: on disk under the settings' cache path).
            model_loader: ``(model name, device) -> eval-mode model``; the default shares one per process.
            idle_timeout_s: a job no client touched for this long is cancelled (default: the settings').
            batch_size: images per forward pass (default: :func:`featviz_core.render.default_batch_size`).
            stats_file: JSON file kept up to date with :meth:`stats` (default: FEATVIZ_STATS_FILE, if set).
            session_alive: ``(session id) -> bool``: whether a UI session a client watches from is still
                connected. A job idle for ``idle_timeout_s`` goes on while one of its sessions is; without
                the callback (or for clients that name no session) only ``touch`` counts. It may be set
                later (the UI layer sets it on the shared service) and must be cheap and thread-safe.
            lookup: asked on a cache miss for a finished result from elsewhere (an atlas); None: render.
            compile: render with ``torch.compile`` (default: FEATVIZ_COMPILE=1). Each worker process pays
                the compile time once per (model, layers, batch shape); pixels agree with eager renders
                within float rounding, and the cache serves either.
        """
        self.settings = settings or ServiceSettings.from_env()
        self.device = resolve_device(device) if not isinstance(device, torch.device) else device
        self.cache = cache if cache is not None else RenderCache(
            self.settings.cache_path, max_entries=self.settings.cache_entries, max_bytes=self.settings.cache_bytes
        )
        self.model_loader = model_loader
        self.idle_timeout_s = self.settings.idle_timeout_s if idle_timeout_s is None else idle_timeout_s
        self.batch_size = batch_size
        self.session_alive = session_alive
        self.lookup = lookup
        self.compile = compile_from_env() if compile is None else compile
        stats_file = stats_file if stats_file is not None else os.environ.get("FEATVIZ_STATS_FILE") or None
        self.stats_file = Path(stats_file) if stats_file else None
        self._stats_lock = threading.Lock()
        self._pending: deque[Job] = deque()
        self._jobs: dict[str, Job] = {}
        self._by_key: dict[str, Job] = {}
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._running = 0
        self._closed = False
        # completed counts every render that produced images; stopped, those of them that ended early
        # (deadline, Stop, closed tab) and kept a partial result.
        self.counters = {"submitted": 0, "completed": 0, "stopped": 0, "failed": 0, "cancelled": 0,
                         "rejected": 0, "cache_hits": 0, "peak_running": 0, "shared": 0}
        self._threads = [
            threading.Thread(target=self._worker, name=f"featviz-render-{i}", daemon=True)
            for i in range(self.settings.workers)
        ]
        for thread in self._threads:
            thread.start()
        self._write_stats()

    # ----- clients ----------------------------------------------------------------------------------------
    def submit(self, request: RenderRequest, client: str, *, snapshot_every: int = 16, priority: int = 0) -> Job:
        """Queue ``request`` for ``client``; a cached or identical running request is reused.

        ``priority``: queued jobs of higher priority run first; a job counts against the queue length only
        among jobs of its own priority or higher, so background work (negative) never turns a visitor away.

        Raises:
            QueueFull: ``queue_length`` renders are already waiting for a free worker (or the service is
                shutting down).
        """
        if not isinstance(request, RenderRequest):
            raise TypeError("submit() takes a RenderRequest")
        key = request.key()
        cached = self.cache.get(key)
        if cached is None and self.lookup is not None:
            cached = self.lookup(request)
        try:
            with self._cond:
                if self._closed:
                    self.counters["rejected"] += 1
                    raise QueueFull("featviz is restarting; try again in a moment.")
                if cached is not None:
                    self.counters["cache_hits"] += 1
                    job = self._new_job(request, snapshot_every)
                    job.state, job.result, job.finished = DONE, cached, time.monotonic()
                    job.touch(client)
                    return job
                shared = self._by_key.get(key)
                if shared is not None and shared.active and not shared.stop_reason:
                    shared.touch(client)
                    if priority > shared.priority and shared in self._pending:  # a visitor wants it now
                        self._pending.remove(shared)
                        self._enqueue(shared, priority)
                    self.counters["shared"] += 1
                    return shared
                self._prune_locked()
                # Jobs a free worker is about to take do not wait; only the rest count against the limit.
                free = max(0, len(self._threads) - self._running)
                ahead = sum(1 for queued in self._pending if queued.priority >= priority)
                waiting = max(0, ahead + 1 - free)
                if waiting > self.settings.queue_length:
                    self.counters["rejected"] += 1
                    raise QueueFull(
                        f"featviz is busy: {self._running} render(s) running and {len(self._pending)} waiting "
                        f"(at most {self.settings.queue_length} may wait). Try again in a moment."
                    )
                job = self._new_job(request, snapshot_every)
                job.key = key
                job.touch(client)
                self._by_key[key] = job
                self._enqueue(job, priority)
                self.counters["submitted"] += 1
                self._cond.notify()
                return job
        finally:
            self._write_stats()

    def get(self, job_id: str) -> Job | None:
        with self._cond:
            return self._jobs.get(job_id)

    def position(self, job: Job) -> int:
        with self._cond:
            self._prune_locked()
            try:
                return self._pending.index(job)
            except ValueError:
                return 0

    def stats(self) -> dict[str, int]:
        """Counters since start (submitted, completed, stopped, failed, cancelled, rejected, cache_hits,
        shared, peak_running) and the present state (running, queued, workers, workers_alive)."""
        with self._cond:
            self._prune_locked()
            return {**self.counters, "running": self._running, "queued": len(self._pending),
                    "workers": len(self._threads), "workers_alive": sum(t.is_alive() for t in self._threads)}

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop accepting work, cancel queued jobs, stop running ones (keeping partial results), join."""
        with self._cond:
            self._closed = True
            for job in [j for j in self._jobs.values() if j.state == RUNNING]:
                job.stop_reason = "server shutting down"
            while self._pending:
                job = self._pending.popleft()
                job.stop_reason = "server shutting down"
                self._finish(job, CANCELLED, error=job.stop_reason)
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout_s)
        self._write_stats()

    # ----- internals --------------------------------------------------------------------------------------
    def _enqueue(self, job: Job, priority: int) -> None:
        """Queue ``job`` behind every queued job of the same or higher priority. Caller holds ``_cond``."""
        job.priority = priority
        behind = next((i for i, queued in enumerate(self._pending) if queued.priority < priority), len(self._pending))
        self._pending.insert(behind, job)

    def _new_job(self, request: RenderRequest, snapshot_every: int) -> Job:
        job = Job(id=f"job-{next(self._ids)}", request=request, snapshot_every=snapshot_every, service=self)
        self._jobs[job.id] = job
        # Keep the registry bounded (finished jobs hold their images), but give every tab time to collect
        # its result: beyond the newest 64, finished jobs are forgotten 120 s after they ended, and beyond
        # 512 at once.
        finished = [j for j in self._jobs.values() if not j.active]
        now = time.monotonic()
        for index, old in enumerate(finished[:-64]):
            if len(finished) - index > 512 or (old.finished is not None and now - old.finished > 120.0):
                self._jobs.pop(old.id, None)
        return job

    def _abandoned(self, job: Job) -> bool:
        """Nobody polled the job for ``idle_timeout_s`` and none of its watching sessions is connected."""
        if time.monotonic() - job.last_seen() < self.idle_timeout_s:
            return False
        alive = self.session_alive
        if alive is None:
            return True
        for session in job.watching_sessions():
            try:
                if alive(session):
                    return False
            except Exception as exc:  # a broken liveness check must not keep renders forever, nor kill workers
                log.warning("session liveness check failed for %s: %s", session, exc)
        return True

    def _prune(self) -> None:
        with self._cond:
            pruned = self._prune_locked()
        if pruned:
            self._write_stats()

    def _prune_locked(self) -> int:
        """Queued jobs that were cancelled or whose clients are gone leave the queue now (so they neither
        count against its length nor stand ahead of anyone). Caller holds ``_cond``."""
        gone = [job for job in self._pending if self._stop_reason(job)]
        for job in gone:
            self._pending.remove(job)
            self._finish(job, CANCELLED, error=self._stop_reason(job))
        return len(gone)

    def _write_stats(self) -> None:
        if self.stats_file is None:
            return
        with self._stats_lock:  # one writer at a time, so the file never goes back to older counters
            data = {**self.stats(), "pid": os.getpid(), "time": time.time()}
            tmp = self.stats_file.with_name(f".{self.stats_file.name}.{os.getpid()}.tmp")
            try:
                self.stats_file.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_text(json.dumps(data))
                os.replace(tmp, self.stats_file)
            except OSError as exc:  # monitoring must never break rendering
                log.warning("could not write service stats to %s: %s", self.stats_file, exc)

    def _stop_reason(self, job: Job) -> str:
        if job.stop_reason:
            return job.stop_reason
        if job.started is not None and time.monotonic() - job.started > self.settings.deadline_s:
            return f"stopped at the {self.settings.deadline_s:g} s deadline"
        if self._abandoned(job):
            return "cancelled: nobody is watching"
        return ""

    def _worker(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._pending.popleft()
                reason = self._stop_reason(job)
                if reason:  # cancelled while waiting: it leaves the queue without running
                    self._finish(job, CANCELLED, error=reason)
                    continue
                job.state, job.started = RUNNING, time.monotonic()
                self._running += 1
                self.counters["peak_running"] = max(self.counters["peak_running"], self._running)
            self._write_stats()
            try:
                self._run(job)
            except BaseException:  # pragma: no cover - _run catches everything a render raises
                log.exception("render worker error on %s", job.id)
            finally:
                with self._cond:
                    self._running -= 1
                    if job.active:  # never leave a job looking alive after its worker let go of it
                        self._finish(job, FAILED, error="internal error: the render ended unexpectedly")
                self._write_stats()

    def _run(self, job: Job) -> None:
        try:
            model = self.model_loader(job.request.model, self.device)
            # The weights this render is made with, read right after loading: a weight file replaced while
            # the render runs does not relabel it, and the cache stores it under these weights only.
            weights = weights_identity(job.request.model)
            for snapshot in render_iter(job.request, model=model, device=self.device,
                                        snapshot_every=job.snapshot_every, batch_size=self.batch_size,
                                        should_stop=lambda: self._stop_reason(job), compile=self.compile):
                job.snapshot = snapshot
            last = job.snapshot
            assert last is not None
            job.result = result_from_snapshot(job.request, last, model, self.device, batch_size=self.batch_size)
            if not last.stopped:
                self.cache.put(job.result, weights=weights)
            with self._cond:
                self._finish(job, DONE if not last.stopped else CANCELLED, error=last.stopped)
        except FeatvizError as exc:
            with self._cond:
                self._finish(job, FAILED, error=str(exc))
        except Exception as exc:  # the worker must survive anything a render does
            log.exception("render %s failed", job.id)
            with self._cond:
                self._finish(job, FAILED, error=f"internal error while rendering ({type(exc).__name__}: {exc})")

    def _finish(self, job: Job, state: str, *, error: str = "") -> None:
        job.state, job.error, job.finished = state, error, time.monotonic()
        if job.result is not None and state == CANCELLED:
            # A stopped render keeps its partial result; it is shown, not treated as a failure.
            job.state = DONE
            self.counters["stopped"] += 1
        if self._by_key.get(job.key) is job:
            del self._by_key[job.key]
        if job.state == DONE:
            self.counters["completed"] += 1
        elif job.state == FAILED:
            self.counters["failed"] += 1
        else:
            self.counters["cancelled"] += 1


_service: RenderService | None = None
_service_lock = threading.Lock()


def get_service() -> RenderService:
    """The process-wide render service (created on first use from environment settings)."""
    global _service
    with _service_lock:
        if _service is None:
            from featviz_core.atlas.lookup import lookup as atlas_lookup

            _service = RenderService(lookup=atlas_lookup)  # a request an atlas holds is shown at once
        return _service
