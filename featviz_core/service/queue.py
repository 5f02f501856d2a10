"""The queue of jobs waiting for a worker: priority order and the queue-length rule.

Not thread-safe on its own: the service calls it while holding its lock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from featviz_core.service.job import Job


class JobQueue:
    """Queued jobs, highest priority first and first come, first served within a priority."""

    def __init__(self, limit: int) -> None:
        """``limit``: how many jobs may wait beyond those a free worker is about to take."""
        self.limit = limit
        self._pending: deque[Job] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def __iter__(self) -> Iterator[Job]:
        return iter(self._pending)

    def __contains__(self, job: Job) -> bool:
        return job in self._pending

    def put(self, job: Job, priority: int) -> None:
        """Queue ``job`` behind every queued job of the same or higher priority."""
        job.priority = priority
        behind = next((i for i, queued in enumerate(self._pending) if queued.priority < priority), len(self._pending))
        self._pending.insert(behind, job)

    def raise_priority(self, job: Job, priority: int) -> None:
        """A queued ``job`` moves up to ``priority`` (a visitor wants what background work queued)."""
        if priority > job.priority and job in self._pending:
            self._pending.remove(job)
            self.put(job, priority)

    def take(self) -> Job:
        """The next job to run (the queue must not be empty)."""
        return self._pending.popleft()

    def remove(self, job: Job) -> None:
        self._pending.remove(job)

    def position(self, job: Job) -> int:
        """How many queued jobs are ahead of ``job`` (0 when it is not queued)."""
        try:
            return self._pending.index(job)
        except ValueError:
            return 0

    def has_room(self, priority: int, free_workers: int) -> bool:
        """Whether one more job of ``priority`` may wait. A job counts against the length only among jobs
        of its own priority or higher, so background work (negative) never turns a visitor away; jobs a
        free worker is about to take do not wait, so only the rest count against the limit."""
        ahead = sum(1 for queued in self._pending if queued.priority >= priority)
        waiting = max(0, ahead + 1 - free_workers)
        return waiting <= self.limit

    def busy_message(self, running: int) -> str:
        """What a client turned away by :meth:`has_room` is told."""
        return (f"featviz is busy: {running} render(s) running and {len(self._pending)} waiting "
                f"(at most {self.limit} may wait). Try again in a moment.")
