"""Worker threads, and what a worker does with one job: render it, publish its snapshots, store the result.

A worker renders one job's request at a time and never puts two requests in one batch, so a render's pixels
do not depend on what else is running: they equal ``render(request, batch_size=...)`` with the service's
batch size.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

import torch

from featviz_core.errors import FeatvizError
from featviz_core.models import weights_identity
from featviz_core.render import render_iter, result_from_snapshot
from featviz_core.service.job import CANCELLED, DONE, FAILED, Job
from featviz_core.service.render_cache import RenderCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderSetup:
    """What a worker renders with, read from the service as each job starts (so later changes apply).

    model_loader: ``(model name, device) -> eval-mode model``; batch_size: images per forward pass (None:
    the render's default); compile: forward passes through ``torch.compile``; cache: where finished
    results go.
    """

    model_loader: Callable[[str, torch.device], torch.nn.Module]
    device: torch.device
    batch_size: int | None
    compile: bool
    cache: RenderCache


@dataclass(frozen=True)
class Outcome:
    """How a job's render ended: its final state and why it did not finish ("" when it did)."""

    state: str
    error: str = ""


def run_job(job: Job, setup: RenderSetup, should_stop: Callable[[], str]) -> Outcome:
    """Render ``job``'s request, keeping ``job.snapshot`` current and setting ``job.result``.

    A render that runs to the end goes into the cache; a stopped one (``should_stop()`` said why) keeps
    its partial result but is not cached. Never raises: a failed render is an :class:`Outcome` saying why.
    """
    request = job.request
    try:
        model = setup.model_loader(request.model, setup.device)
        # The weights this render is made with, read right after loading: a weight file replaced while
        # the render runs does not relabel it, and the cache stores it under these weights only.
        weights = weights_identity(request.model)
        for snapshot in render_iter(request, model=model, device=setup.device, snapshot_every=job.snapshot_every,
                                    batch_size=setup.batch_size, should_stop=should_stop, compile=setup.compile):
            job.snapshot = snapshot
        last = job.snapshot
        assert last is not None
        job.result = result_from_snapshot(request, last, model, setup.device, batch_size=setup.batch_size)
        if not last.stopped:
            setup.cache.put(job.result, weights=weights)
        return Outcome(DONE if not last.stopped else CANCELLED, last.stopped)
    except FeatvizError as exc:
        return Outcome(FAILED, str(exc))
    except Exception as exc:  # the worker must survive anything a render does
        log.exception("render %s failed", job.id)
        return Outcome(FAILED, f"internal error while rendering ({type(exc).__name__}: {exc})")


class WorkerPool:
    """``count`` daemon threads, each taking a job, running it and handing it back, until none is left.

    ``take()`` blocks for the next job and returns None when the service closes; ``run(job)`` renders it;
    ``done(job)`` runs after every job, whatever ``run`` did.
    """

    def __init__(self, count: int, *, take: Callable[[], Job | None], run: Callable[[Job], None],
                 done: Callable[[Job], None]) -> None:
        self._take, self._run, self._done = take, run, done
        self.threads = [threading.Thread(target=self._loop, name=f"featviz-render-{i}", daemon=True)
                        for i in range(count)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def alive(self) -> int:
        return sum(thread.is_alive() for thread in self.threads)

    def join(self, timeout_s: float) -> None:
        for thread in self.threads:
            thread.join(timeout_s)

    def _loop(self) -> None:
        while (job := self._take()) is not None:
            try:
                self._run(job)
            except BaseException:  # pragma: no cover - run_job catches everything a render raises
                log.exception("render worker error on %s", job.id)
            finally:
                self._done(job)
