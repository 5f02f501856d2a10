"""One render job as its clients see it: its state, live snapshot, result, and who is watching it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from featviz_core.render import RenderResult, Snapshot
from featviz_core.request import RenderRequest

if TYPE_CHECKING:
    from featviz_core.examples.upload import UploadedExamples, ZipExamplesRequest

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


class JobOwner(Protocol):
    """The two calls a job makes on the service that owns it (:class:`~.render_service.RenderService`)."""

    def position(self, job: "Job") -> int:
        """How many queued jobs are ahead of ``job`` (0 when it is not queued)."""

    def prune(self) -> None:
        """Queued jobs that must stop (cancelled, abandoned) leave the queue now."""


@dataclass(eq=False)
class Job:
    """A render (``request`` is a RenderRequest: ``snapshot`` and ``result`` a RenderResult) or a visitor's
    zip of images searched for dataset examples (a ZipExamplesRequest: ``progress``, ``listing``, ``workdir``
    and ``result`` an UploadedExamples); both wait in the same queue and are shared, cancelled and
    abandoned alike."""

    id: str
    request: "RenderRequest | ZipExamplesRequest"
    snapshot_every: int
    state: str = QUEUED
    snapshot: Snapshot | None = None
    result: "RenderResult | UploadedExamples | None" = None
    progress: Any = None  # an examples job's latest ExamplesProgress (images done of total)
    listing: Any = None  # an examples job's checked zip (ZipListing: its images and the files skipped)
    workdir: Path | None = None  # a private temporary folder the job owns (the unpacked zip), removed at its end
    error: str = ""
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    clients: dict[str, float] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)  # client -> the UI session it watches from
    stop_reason: str = ""
    priority: int = 0  # queued jobs of higher priority go first (visitors 0, the Gallery's background -1)
    key: str = ""  # the request's key when it was submitted (the weights' identity may change later)
    preemptible: bool = False  # background work nobody watches (the atlas filler): a visitor's job stops it
    service: JobOwner | None = field(default=None, repr=False)
    # Clients touch from their own threads while a worker reads the times: guard the dict.
    _clients_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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
                self.service.prune()

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop the job for every client: a running render keeps its partial result, a queued one leaves."""
        self.stop_reason = reason
        if self.service is not None:
            self.service.prune()

    def last_seen(self) -> float:
        """When a client last touched the job (time.monotonic), or -inf when nobody ever did."""
        with self._clients_lock:
            return max(self.clients.values(), default=float("-inf"))

    def watching_sessions(self) -> list[str]:
        """Ids of the UI sessions its clients watch from (those that named one)."""
        with self._clients_lock:
            return list(self.sessions.values())

    def end(self, state: str, error: str = "") -> bool:
        """Move to the final ``state`` (DONE, FAILED or CANCELLED) with ``error`` saying why it did not finish.

        Returns True when the job was a stopped render that kept its partial result (it ends DONE).
        """
        self.state, self.error, self.finished = state, error, time.monotonic()
        if self.result is not None and state == CANCELLED:
            # A stopped render keeps its partial result; it is shown, not treated as a failure.
            self.state = DONE
            return True
        return False
