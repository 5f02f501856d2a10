"""Every job by id, kept long enough for each tab to collect its result, and no longer.

Not thread-safe on its own: the service calls it while holding its lock.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable

from typing import TYPE_CHECKING

from featviz_core.request import RenderRequest
from featviz_core.service.job import Job, JobOwner

if TYPE_CHECKING:
    from featviz_core.examples.upload import ZipExamplesRequest

# Beyond the newest KEEP_NEWEST finished jobs, a finished job is forgotten FORGET_AFTER_S after it ended,
# and beyond KEEP_AT_MOST finished jobs at once (finished jobs hold their images).
KEEP_NEWEST = 64
FORGET_AFTER_S = 120.0
KEEP_AT_MOST = 512


class JobRegistry:
    """Jobs by id, in the order they were made."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._jobs)

    def values(self) -> Iterable[Job]:
        return self._jobs.values()

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def new(self, request: "RenderRequest | ZipExamplesRequest", snapshot_every: int, service: JobOwner) -> Job:
        """A new queued job for ``request``, registered under a fresh id (old finished jobs may go)."""
        job = Job(id=f"job-{next(self._ids)}", request=request, snapshot_every=snapshot_every, service=service)
        self._jobs[job.id] = job
        self._forget_old()
        return job

    def _forget_old(self) -> None:
        # Keep the registry bounded, but give every tab time to collect its result.
        finished = [j for j in self._jobs.values() if not j.active]
        now = time.monotonic()
        for index, old in enumerate(finished[:-KEEP_NEWEST]):
            if len(finished) - index > KEEP_AT_MOST or (old.finished is not None and now - old.finished > FORGET_AFTER_S):
                self._jobs.pop(old.id, None)
