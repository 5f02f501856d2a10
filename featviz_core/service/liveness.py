"""When a job must stop: asked to, past its deadline, or abandoned by every client.

A client proves it is still there with ``Job.touch``; a job nobody has touched for ``idle_timeout_s`` is
abandoned (the tab was closed). It is kept, though, while a client that named the UI session it watches
from (``touch(client, session)``) has that session still connected, as the ``session_alive`` callback
says: a browser throttles a hidden tab's timers to about once a minute, so an open tab in the background may
poll rarely, and its render must go on.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from featviz_core.service.job import Job

log = logging.getLogger(__name__)


def abandoned(job: Job, idle_timeout_s: float, session_alive: Callable[[str], bool] | None) -> bool:
    """Nobody polled the job for ``idle_timeout_s`` and none of its watching sessions is connected."""
    if time.monotonic() - job.last_seen() < idle_timeout_s:
        return False
    if session_alive is None:
        return True
    for session in job.watching_sessions():
        try:
            if session_alive(session):
                return False
        except Exception as exc:  # a broken liveness check must not keep renders forever, nor kill workers
            log.warning("session liveness check failed for %s: %s", session, exc)
    return True


def stop_reason(job: Job, *, deadline_s: float, idle_timeout_s: float,
                session_alive: Callable[[str], bool] | None) -> str:
    """Why ``job`` must stop now (shown to its clients), or "" while it may go on.

    Args:
        deadline_s: the longest a render may run, counted from when a worker took it.
        idle_timeout_s, session_alive: see :func:`abandoned`.
    """
    if job.stop_reason:
        return job.stop_reason
    if job.started is not None and time.monotonic() - job.started > deadline_s:
        return f"stopped at the {deadline_s:g} s deadline"
    if abandoned(job, idle_timeout_s, session_alive):
        return "cancelled: nobody is watching"
    return ""
