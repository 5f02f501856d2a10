"""Sharing of identical requests: while a request renders, everyone who asks for it watches the same job
(a lecture hall pressing Render on the same settings costs one render).

Not thread-safe on its own: the service calls it while holding its lock.
"""

from __future__ import annotations

from featviz_core.service.job import Job


class SharedJobs:
    """The running or queued job of each request key."""

    def __init__(self) -> None:
        self._by_key: dict[str, Job] = {}

    def find(self, key: str) -> Job | None:
        """The job a new client asking for ``key`` may join: still active and not being stopped."""
        job = self._by_key.get(key)
        if job is not None and job.active and not job.stop_reason:
            return job
        return None

    def add(self, job: Job) -> None:
        """``job`` (with its ``key`` set) now renders its request for everyone who asks."""
        self._by_key[job.key] = job

    def forget(self, job: Job) -> None:
        """``job`` ended: the next client asking for its request starts a new one."""
        if self._by_key.get(job.key) is job:
            del self._by_key[job.key]
