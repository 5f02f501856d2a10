"""The render service: one lock over the queue, the shared jobs, the job registry and the counters, and the
worker threads that take jobs from the queue. Each part lives in its own module of this package."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch

from featviz_core.config import ServiceSettings
from featviz_core.device import resolve_device
from featviz_core.errors import QueueFull
from featviz_core.models import load_model
from featviz_core.render import RenderResult
from featviz_core.render.compiled import compile_from_env
from featviz_core.request import RenderRequest
from featviz_core.service.job import CANCELLED, DONE, FAILED, RUNNING, Job
from featviz_core.service.liveness import stop_reason
from featviz_core.service.queue import JobQueue
from featviz_core.service.registry import JobRegistry
from featviz_core.service.render_cache import RenderCache
from featviz_core.service.sharing import SharedJobs
from featviz_core.service.stats import Counters, StatsFile, stats_path
from featviz_core.service.examples_job import run_examples_job, tidy_uploads
from featviz_core.service.worker import RenderSetup, WorkerPool, run_job

if TYPE_CHECKING:
    from featviz_core.examples.upload import ZipExamplesRequest

PREEMPTED = "paused for a visitor's render (background work resumes later)"


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
        self.stats_file = stats_path(stats_file)
        self._stats_writer = StatsFile(self.stats_file) if self.stats_file is not None else None
        # One lock guards the queue, the registries, the counters and the running count; workers wait on it.
        self._cond = threading.Condition()
        self._pending = JobQueue(self.settings.queue_length)
        self._jobs = JobRegistry()
        self._shared = SharedJobs()
        self.counters = Counters()
        self._running = 0
        self._closed = False
        self._workers = WorkerPool(self.settings.workers, take=self._take, run=self._run, done=self._done)
        self._threads = self._workers.threads
        tidy_uploads(stale_folders=True)  # what a killed process left: temporary folders, stores beyond the bound
        self._workers.start()
        self._write_stats()

    # ----- clients ----------------------------------------------------------------------------------------
    filler = None  # the atlas filler feeding this service background work, stopped with it (see .filler)

    def submit(self, request: RenderRequest, client: str, *, snapshot_every: int = 16, priority: int = 0,
               preemptible: bool = False) -> Job:
        """Queue ``request`` for ``client``; a cached or identical running request is reused.

        ``priority``: queued jobs of higher priority run first; a job counts against the queue length only
        among jobs of its own priority or higher, so background work (negative) never turns a visitor away.
        ``preemptible``: background work nobody watches; while it runs, a submit of higher priority that
        finds no free worker stops it at its next optimization step (its partial result is neither cached
        nor kept as final), so that job starts at once. A client joining it makes it non-preemptible.

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
                self._check_open_locked()
                if cached is not None:
                    return self._done_job_locked(request, cached, client, snapshot_every)
                joined = self._join_or_check_room_locked(key, client, priority, preemptible)
                if joined is not None:
                    return joined
                return self._enqueue_locked(request, key, client, priority, preemptible, snapshot_every)
        finally:
            self._write_stats()

    def submit_examples(self, request: "ZipExamplesRequest", data: bytes, client: str, *, priority: int = 0) -> Job:
        """Queue finding ``request``'s dataset examples in the uploaded zip ``data`` for ``client``, as a render
        is queued: behind every job of the same or higher priority already waiting (above background work,
        which it preempts like a render), shared by every client that uploads the same zip for the same model
        and layer while it runs, stopped by ``release``/``cancel`` or when nobody watches, turned away when the
        queue is full. A finished store of the same zip and weights is reused at once (a DONE job).

        The zip is checked (:mod:`featviz_core.examples.archive`) and unpacked here, before it is queued, into
        a private temporary folder that the job removes when it ends, however it ends. The job's ``progress``
        is the run's latest ExamplesProgress; its ``result`` an UploadedExamples.

        Raises:
            ExamplesError: the zip is refused, or uploads cannot be stored (one line); nothing is queued.
            QueueFull: as :meth:`submit`.
        """
        from featviz_core.examples.archive import ZipLimits, read_listing
        from featviz_core.examples.upload import UploadedExamples, finished_store, upload_root

        limits = ZipLimits.from_env()
        upload_root()  # refused now when uploads cannot be stored
        listing = read_listing(data, limits)
        reused = finished_store(request)
        try:
            with self._cond:
                self._check_open_locked(examples=True)
                if reused is not None:
                    result = UploadedExamples(reused, len(listing.images), len(listing.skipped), reused=True)
                    return self._done_job_locked(request, result, client, 0)
                joined = self._join_or_check_room_locked(request.key(), client, priority, False, examples=True)
            return joined if joined is not None else self._enqueue_upload(request, data, client, priority, limits)
        finally:
            self._write_stats()

    def _enqueue_upload(self, request: "ZipExamplesRequest", data: bytes, client: str, priority: int,
                        limits) -> Job:
        """Unpack the zip (outside the lock: it takes a moment) and queue its job, unless meanwhile the same
        upload was queued (then it joins that) or the queue filled up; the folder goes with any refusal."""
        from featviz_core.examples.upload import remove_folder, unpack_upload

        folder, listing = unpack_upload(data, limits)
        try:
            with self._cond:
                self._check_open_locked(examples=True)
                joined = self._join_or_check_room_locked(request.key(), client, priority, False, examples=True)
                if joined is not None:
                    remove_folder(folder)
                    return joined
                job = self._enqueue_locked(request, request.key(), client, priority, False, 0)
                job.workdir, job.listing = folder, listing
                return job
        except BaseException:
            remove_folder(folder)
            raise

    def get(self, job_id: str) -> Job | None:
        with self._cond:
            return self._jobs.get(job_id)

    def position(self, job: Job) -> int:
        """How many queued jobs are ahead of ``job`` (0 when it is not queued)."""
        with self._cond:
            self._prune_locked()
            return self._pending.position(job)

    def stats(self) -> dict[str, int]:
        """Counters since start (of renders: submitted, completed, stopped, failed, cancelled, rejected,
        cache_hits, shared; of zip jobs: the same with ``examples_``, reused for cache_hits; peak_running)
        and the present state (running and queued: jobs of either kind; examples_running: zip jobs among
        the running; workers, workers_alive)."""
        with self._cond:
            self._prune_locked()
            examples = sum(1 for job in self._jobs.values() if job.state == RUNNING and _is_examples(job.request))
            return {**self.counters.as_dict(), "running": self._running, "queued": len(self._pending),
                    "examples_running": examples, "workers": len(self._threads),
                    "workers_alive": self._workers.alive()}

    def prune(self) -> None:
        """Queued jobs that must stop (cancelled, abandoned) leave the queue now."""
        with self._cond:
            pruned = self._prune_locked()
        if pruned:
            self._write_stats()

    def busy_above(self, priority: int) -> bool:
        """Whether a job of higher priority than ``priority`` is queued or running."""
        with self._cond:
            return any(job.active and job.priority > priority for job in self._jobs.values())

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop accepting work, cancel queued jobs, stop running ones (keeping partial results), join.
        The atlas filler, if any, stops first (it submits no more)."""
        if self.filler is not None:
            self.filler.stop(timeout_s)
        with self._cond:
            self._closed = True
            for job in [j for j in self._jobs.values() if j.state == RUNNING]:
                job.stop_reason = "server shutting down"
            while self._pending:
                job = self._pending.take()
                job.stop_reason = "server shutting down"
                self._finish(job, CANCELLED, error=job.stop_reason)
            self._cond.notify_all()
        self._workers.join(timeout_s)
        self._write_stats()

    # ----- internals --------------------------------------------------------------------------------------
    def _check_open_locked(self, *, examples: bool = False) -> None:
        """Raise QueueFull once the service is shutting down. Caller holds ``_cond``."""
        if self._closed:
            self.counters.add("rejected", examples=examples)
            raise QueueFull("featviz is restarting; try again in a moment.")

    def _done_job_locked(self, request, result, client: str, snapshot_every: int) -> Job:
        """A job that is finished at once with ``result`` (from the cache, an atlas, a reused store)."""
        self.counters.add("cache_hits", examples=_is_examples(request))
        job = self._jobs.new(request, snapshot_every, self)
        job.state, job.result, job.finished = DONE, result, time.monotonic()
        job.touch(client)
        return job

    def _join_or_check_room_locked(self, key: str, client: str, priority: int, preemptible: bool, *,
                                   examples: bool = False) -> Job | None:
        """The active job of ``key`` with ``client`` joined to it, or None when a new job may wait
        (``examples``: counted as a zip job's).

        Raises:
            QueueFull: no new job of ``priority`` may wait (see ``JobQueue.has_room``).
        """
        shared = self._shared.find(key)
        if shared is not None:
            shared.touch(client)
            shared.preemptible = shared.preemptible and preemptible
            self._pending.raise_priority(shared, priority)  # a visitor wants it now
            self.counters.add("shared", examples=examples)
            return shared
        self._prune_locked()
        if not self._pending.has_room(priority, free_workers=max(0, len(self._threads) - self._running)):
            self.counters.add("rejected", examples=examples)
            raise QueueFull(self._pending.busy_message(self._running))
        return None

    def _enqueue_locked(self, request, key: str, client: str, priority: int, preemptible: bool,
                        snapshot_every: int) -> Job:
        """A new queued job of ``request``, shared under ``key``, waking a worker. Caller holds ``_cond``."""
        job = self._jobs.new(request, snapshot_every, self)
        job.key = key
        job.touch(client)
        self._shared.add(job)
        job.preemptible = preemptible
        self._pending.put(job, priority)
        if not preemptible:
            self._preempt_locked(priority)
        self.counters.add("submitted", examples=_is_examples(request))
        self._cond.notify()
        return job

    def _stop_reason(self, job: Job) -> str:
        return stop_reason(job, deadline_s=self.settings.deadline_s, idle_timeout_s=self.idle_timeout_s,
                                    session_alive=self.session_alive)

    def _preempt_locked(self, priority: int) -> None:
        """Jobs of ``priority`` or higher wait for a worker while preemptible jobs of lower priority run:
        ask enough of those (lowest first) to stop at their next step. Caller holds ``_cond``."""
        running = [j for j in self._jobs.values() if j.state == RUNNING]
        stopping = sum(1 for j in running if j.stop_reason)
        waiting = sum(1 for j in self._pending if j.priority >= priority)
        short = waiting - (len(self._threads) - self._running + stopping)
        candidates = sorted((j for j in running if j.preemptible and j.priority < priority and not j.stop_reason),
                            key=lambda j: j.priority)
        for job in candidates[:max(0, short)]:
            job.stop_reason = PREEMPTED

    def _prune_locked(self) -> int:
        """Queued jobs that were cancelled or whose clients are gone leave the queue now (so they neither
        count against its length nor stand ahead of anyone). Caller holds ``_cond``."""
        gone = [job for job in self._pending if self._stop_reason(job)]
        for job in gone:
            self._pending.remove(job)
            self._finish(job, CANCELLED, error=self._stop_reason(job))
        return len(gone)

    def _write_stats(self) -> None:
        if self._stats_writer is not None:
            self._stats_writer.write(self.stats)

    def _take(self) -> Job | None:
        """A worker's next job, marked running (blocks until there is one); None once the service closed."""
        with self._cond:
            while True:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return None
                job = self._pending.take()
                reason = self._stop_reason(job)
                if reason:  # cancelled while waiting: it leaves the queue without running
                    self._finish(job, CANCELLED, error=reason)
                    continue
                job.state, job.started = RUNNING, time.monotonic()
                self._running += 1
                self.counters.running(self._running)
                break
        self._write_stats()
        return job

    def _run(self, job: Job) -> None:
        if isinstance(job.request, RenderRequest):
            setup = RenderSetup(model_loader=self.model_loader, device=self.device, batch_size=self.batch_size,
                                compile=self.compile, cache=self.cache)
            outcome = run_job(job, setup, should_stop=lambda: self._stop_reason(job))
        else:
            outcome = run_examples_job(job, self.device, should_stop=lambda: self._stop_reason(job))
        with self._cond:
            self._finish(job, outcome.state, error=outcome.error)

    def _done(self, job: Job) -> None:
        with self._cond:
            self._running -= 1
            if job.active:  # never leave a job looking alive after its worker let go of it
                self._finish(job, FAILED, error="internal error: the render ended unexpectedly")
        self._write_stats()

    def _finish(self, job: Job, state: str, *, error: str = "") -> None:
        """``job`` ends in ``state``: it stops being shared and is counted. Caller holds ``_cond``."""
        if job.workdir is not None:  # an unpacked zip goes with its job (before it is seen to end), however it ends
            from featviz_core.examples.upload import remove_folder

            remove_folder(job.workdir)
            job.workdir = None
        stopped = job.end(state, error)
        self._shared.forget(job)
        self.counters.ended(job.state, stopped=stopped, examples=_is_examples(job.request))


def _is_examples(request) -> bool:
    """Whether a job's request is a zip searched for examples (counted apart from renders)."""
    return not isinstance(request, RenderRequest)

