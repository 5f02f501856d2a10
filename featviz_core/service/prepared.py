"""Prepared renders: rendered ahead of time into the render cache, and found there without queueing anything.

``python -m featviz_core warm`` (and the Lecture page) prepare every link of a lecture's links file
(:func:`prepare`). A link is prepared when every render its page shows for it is in the cache (the
Explorer's one render; the Neuron page's channel and its pixel twin). The renders go through a
:class:`~featviz_core.service.RenderService` on the cache the app reads, so an app started with the same
``FEATVIZ_CACHE_DIR`` finds each of them under the same key and shows it at once (:func:`prepared_result`).
Links already in the cache are skipped. Bad lines do not stop the others.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

from featviz_core.config import ServiceSettings
from featviz_core.errors import FeatvizError
from featviz_core.links import EXPLORER, PAGES, LinkLine, pixel_twin
from featviz_core.render import RenderResult
from featviz_core.request import RenderRequest
from featviz_core.service.job import DONE
from featviz_core.service.render_cache import RenderCache
from featviz_core.service.render_service import RenderService
from featviz_core.words import describe

RENDERED, SKIPPED, BAD, FAILED = "rendered", "already prepared", "bad line", "failed"
CLIENT = "featviz-warm"


@dataclass(frozen=True)
class PrepareOutcome:
    """What happened to one link: ``state`` is RENDERED, SKIPPED, BAD or FAILED; ``seconds`` its wall time;
    ``message`` the reason when it was not prepared."""

    line: LinkLine
    state: str
    seconds: float = 0.0
    message: str = ""


def describe_line(line: LinkLine) -> str:
    """:func:`featviz_core.words.describe` of a link's main render, with its page when that is not the Explorer
    and the other renders the page shows for it (``+ the same in plain pixels``)."""
    text = describe(line.request)
    if line.page != EXPLORER:
        text = f"{PAGES[line.page]} page, {text}"
    for other in line.companions:
        text += " + " + ("the same in plain pixels" if other == pixel_twin(line.request) else describe(other))
    return text


def preparing_service(*, device=None, batch_size: int | None = None) -> RenderService:
    """A render service on the app's cache (``FEATVIZ_CACHE_DIR``), for preparing renders.

    Unlike the app's, it has no deadline (a prepared render is allowed its time) and leaves the app's
    stats file alone.
    """
    settings = dataclasses.replace(ServiceSettings.from_env(), workers=1, queue_length=1, deadline_s=float("inf"))
    return RenderService(settings, device=device, batch_size=batch_size, stats_file="")


def prepare(line: LinkLine, service: RenderService, *, on_snapshot: Callable | None = None, poll_s: float = 0.2,
            snapshot_every: int = 16) -> PrepareOutcome:
    """Render each of a link's requests into ``service``'s cache unless it is already there (blocks until
    they are done). RENDERED when one of them ran, SKIPPED when all were there; FAILED at the first failure.

    ``on_snapshot(snapshot)`` is called with each new snapshot while a render runs.
    """
    if line.request is None:
        return PrepareOutcome(line, BAD, message=line.error)
    started = time.monotonic()
    ran = False
    for request in line.requests:
        state, message = _prepare_one(request, service, on_snapshot, poll_s, snapshot_every)
        if state == FAILED:
            return PrepareOutcome(line, FAILED, time.monotonic() - started, message)
        ran = ran or state == RENDERED
    return PrepareOutcome(line, RENDERED if ran else SKIPPED, time.monotonic() - started)


def _prepare_one(request, service, on_snapshot, poll_s: float, snapshot_every: int) -> tuple[str, str]:
    try:
        job = service.submit(request, CLIENT, snapshot_every=snapshot_every)
    except FeatvizError as exc:
        return FAILED, str(exc)
    if job.state == DONE and job.started is None:  # answered from the cache without running
        return SKIPPED, ""
    seen = None
    try:
        while job.active:
            job.touch(CLIENT)
            if on_snapshot is not None and job.snapshot is not None and job.snapshot is not seen:
                seen = job.snapshot
                on_snapshot(seen)
            time.sleep(poll_s)
    except BaseException:  # interrupted: do not leave the render running
        job.cancel("interrupted")
        raise
    if job.state == DONE and job.result is not None and not job.result.stopped:
        return RENDERED, ""
    return FAILED, job.error or "the render ended before it was complete"


def prepared_result(request: RenderRequest, cache: RenderCache) -> RenderResult | None:
    """The finished render of ``request`` if one is stored, else None: the one place the app asks "is this
    already rendered?" (the Explorer's first screen, a link that only fills in the form, the Neuron page, the
    presentation view). Never renders and never queues."""
    return cache.get(request.key())
