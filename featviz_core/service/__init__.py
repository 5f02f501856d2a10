"""A process-wide render queue: a few worker threads, fair order, cancel, deadlines, progress.

Pages (or any client) ``submit`` a request and poll the returned :class:`Job`; workers call no UI code.
A job is shared by every client that asks for the same request while it runs (a lecture hall pressing
Render on the same settings costs one render). Clients prove they are still there with ``touch``; a job
nobody has touched for ``idle_timeout_s`` is cancelled (the tab was closed) and leaves the queue, unless
the UI session it is watched from is still connected (see :mod:`.liveness`).
A worker renders one job's request at a time and never puts two requests in one batch, so a render's
pixels do not depend on what else is running: they equal ``render(request, batch_size=...)`` with the
service's batch size.

With ``FEATVIZ_STATS_FILE`` set, the service keeps that JSON file up to date (see :mod:`.stats`).

The parts, one job each: :mod:`.job` (a job and its states), :mod:`.queue` (priority order and the
queue-length rule), :mod:`.sharing` (identical requests share one job), :mod:`.registry` (jobs by id, kept
for a while), :mod:`.liveness` (deadline, cancel, abandoned tabs), :mod:`.stats` (counters and the stats
file), :mod:`.worker` (worker threads and rendering one job); :mod:`.render_service` composes them.
:mod:`.filler` feeds the service background work: an atlas filled while no visitor renders.
A job may also be a visitor's zip of images searched for dataset examples (``submit_examples``;
:mod:`.examples_job` runs it): it waits in the same queue as renders, with the same order, sharing, cancel,
liveness and busy rule, and reports images done of total instead of snapshots.

Layer (checked by tests/test_layout.py): may import errors, config, device, models, render, request, links, words,
atlas, examples; torch at module level: yes.
"""

from __future__ import annotations

import threading

from featviz_core.service.job import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Job
from featviz_core.service.render_service import RenderService

__all__ = ["CANCELLED", "DONE", "FAILED", "QUEUED", "RUNNING", "Job", "RenderService", "get_service"]

_service: RenderService | None = None
_service_lock = threading.Lock()


def get_service() -> RenderService:
    """The process-wide render service (created on first use from environment settings)."""
    global _service
    with _service_lock:
        if _service is None:
            from featviz_core.atlas.lookup import lookup as atlas_lookup

            from featviz_core.service.filler import AtlasFiller

            _service = RenderService(lookup=atlas_lookup)  # a request an atlas holds is shown at once
            # Fills an atlas while nobody renders (FEATVIZ_ATLAS_FILL); "Render this layer now" either way.
            _service.filler = AtlasFiller(_service, auto=_service.settings.atlas_fill)
            if _service.settings.atlas_fill:
                _service.filler.start()
        return _service
