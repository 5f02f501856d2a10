"""Render slots: what one browser tab is rendering or has rendered for one place on a page.

A slot keeps the id of its job in the process-wide render queue and the last result, in
``st.session_state``, so a rerun, a widget change or a visit to another page loses neither. The job runs
in a worker thread of :func:`featviz_core.service.get_service`; pages only submit, poll and stop it. Polling
``touch``es the job: when no page of the tab polls any more (the tab was closed), the queue cancels it.
A hidden tab polls rarely (browsers throttle its timers), so the queue also asks Streamlit whether the
tab's session is still connected (:func:`session_connected`) before it cancels a quiet render.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

CLIENT_KEY = "featviz_client_id"
SLOTS_KEY = "featviz_slots"


@dataclass
class Slot:
    """State of one render place (e.g. the Explorer grid) in one session.

    Attributes:
        name: the slot's name, unique in the app ("explorer", "neuron", ...).
        job_id: the job being followed, or None when nothing runs.
        result: the last finished (or stopped) RenderResult, kept while a new one renders.
        error: why the last attempt failed (shown with ``st.error``), "" when it did not.
        notice: a remark on the result (came from the cache, was stopped early), "" when none.
        stopping: Stop was pressed; the job is no longer touched and ends at its next step.
        submitted_at: ``time.monotonic()`` when the job was submitted.
        first_snapshot_s: seconds from submission until this tab first saw a snapshot.
        keep_steps: steps whose snapshot images are kept as they arrive (the Neuron page's progress row).
        kept: chosen step -> (step of the snapshot actually kept, (H, W, 3) uint8 image).
    """

    name: str
    job_id: str | None = None
    result: Any = None
    error: str = ""
    notice: str = ""
    stopping: bool = False
    submitted_at: float = 0.0
    first_snapshot_s: float | None = None
    keep_steps: tuple[int, ...] = ()
    kept: dict[int, tuple[int, Any]] = field(default_factory=dict)


def client_id() -> str:
    """A random id for this browser session: the render queue counts watchers by it."""
    if CLIENT_KEY not in st.session_state:
        st.session_state[CLIENT_KEY] = uuid.uuid4().hex
    return st.session_state[CLIENT_KEY]


def session_id() -> str | None:
    """Streamlit's id of this browser tab's session (None outside a script run)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else None


def session_connected(session: str) -> bool:
    """Whether the Streamlit session ``session`` still has its browser connected (any thread may ask).

    The render queue calls this for a render nobody has polled for a while: an open tab in the background
    keeps its render, a closed tab (its websocket gone) does not.
    """
    from streamlit.runtime import Runtime

    return Runtime.exists() and Runtime.instance().is_active_session(session)


def get_slot(name: str) -> Slot:
    slots = st.session_state.setdefault(SLOTS_KEY, {})
    if name not in slots:
        slots[name] = Slot(name)
    return slots[name]


def service():
    """The process-wide render queue, told how to ask whether a watching tab is still open."""
    from featviz_core.service import get_service

    shared = get_service()
    if shared.session_alive is None:
        shared.session_alive = session_connected
    return shared


def current_job(slot: Slot):
    """The job the slot follows, or None (also when the queue has forgotten it)."""
    if slot.job_id is None:
        return None
    job = service().get(slot.job_id)
    if job is None:
        slot.job_id = None
    return job


def is_active(slot: Slot) -> bool:
    job = current_job(slot)
    return job is not None and job.active


def submit(slot: Slot, request, *, snapshot_every: int = 16, keep_steps: tuple[int, ...] = (),
           priority: int = 0) -> bool:
    """Queue ``request`` for this slot (``priority`` as in ``RenderService.submit``). A cached result, or
    one an atlas holds, is shown at once.

    Returns False (with ``slot.error`` set) when the queue refuses it; the previous result stays.
    """
    from featviz_core.errors import FeatvizError
    from featviz_core.service import DONE

    previous = current_job(slot)
    try:
        job = service().submit(request, client_id(), snapshot_every=snapshot_every, priority=priority)
        job.touch(client_id(), session_id())  # the tab's session, so an open but quiet tab keeps the render
    except FeatvizError as exc:
        slot.error = str(exc)
        return False
    if previous is not None and previous is not job and previous.active:
        previous.release(client_id(), "replaced by a newer render")
    slot.error, slot.notice, slot.stopping = "", "", False
    slot.submitted_at, slot.first_snapshot_s = time.monotonic(), None
    slot.keep_steps, slot.kept = tuple(sorted(set(keep_steps))), {}
    if job.state == DONE and job.result is not None:
        slot.job_id = None
        slot.result = job.result
        slot.notice = "Shown from the cache: this exact request was rendered before."
        if job.result.extra.get("from_atlas"):
            slot.notice = ("Shown from the atlas: these channels were rendered ahead of time with exactly these "
                           "settings (the atlas keeps final images, not the optimization curve).")
    else:
        slot.job_id = job.id
    return True


def _keep_snapshots(slot: Slot, step: int, images) -> None:
    for wanted in slot.keep_steps:
        if wanted not in slot.kept and step >= wanted:
            slot.kept[wanted] = (step, images[0].copy())


def poll(slot: Slot):
    """Touch the slot's job and return it while it is queued or running.

    When the job has ended, its result (or error) moves into the slot and None is returned.
    """
    job = current_job(slot)
    if job is None:
        return None
    if not slot.stopping:
        job.touch(client_id(), session_id())
    snapshot = job.snapshot
    if snapshot is not None:
        if slot.first_snapshot_s is None:
            slot.first_snapshot_s = time.monotonic() - slot.submitted_at
        _keep_snapshots(slot, snapshot.step, snapshot.images)
    if job.active:
        return job
    _harvest(slot, job)
    return None


def _harvest(slot: Slot, job) -> None:
    from featviz_core.service import DONE, FAILED

    slot.job_id, slot.stopping = None, False
    if job.state == DONE and job.result is not None:
        result = job.result
        slot.result = result
        _keep_snapshots(slot, result.steps_done, result.images)
        if result.stopped:
            slot.notice = (f"Stopped at step {result.steps_done} of {result.request.steps} "
                           f"({result.stopped}): these images are the partial result.")
    elif job.state == FAILED:
        slot.error = f"The render failed: {job.error}"
    else:
        slot.error = f"The render was cancelled ({job.error or 'no reason given'}) before it produced an image."


def partial_result(job):
    """A RenderResult from a running job's latest snapshot (for a tab that stops watching a shared job)."""
    from featviz_core.render import RenderResult

    snapshot = job.snapshot
    return RenderResult(
        request=job.request, images=snapshot.images, labels=job.request.labels(), scores=snapshot.scores,
        history=snapshot.history, steps_done=snapshot.step, elapsed_s=snapshot.elapsed_s,
        device=str(service().device), stopped="stopped by you", note=snapshot.note,
    )


def stop(slot: Slot) -> None:
    """Stop following the slot's job. Alone on it, the job stops and its partial result is kept;
    if other tabs still watch it, it goes on for them and this tab keeps the images so far."""
    from featviz_core.service import QUEUED

    job = current_job(slot)
    if job is None or not job.active:
        return
    job.release(client_id())
    slot.stopping = True
    if job.state == QUEUED:
        slot.job_id, slot.stopping = None, False
        slot.notice = "The render was cancelled before it started."
        return
    if not job.stop_reason and job.snapshot is not None:  # other tabs keep it running
        slot.job_id, slot.stopping = None, False
        slot.result = partial_result(job)
        slot.notice = (f"Stopped following at step {job.snapshot.step} of {job.request.steps}: "
                       "these images are the partial result (the render goes on for other viewers).")


def forget(slot: Slot, reason: str = "replaced by a newer render") -> None:
    """Stop following the slot's job and clear the slot (no partial result, no message): for a render
    the user's newer request made unnecessary. Alone on the job, it stops."""
    job = current_job(slot)
    if job is not None and job.active:
        job.release(client_id(), reason)
    slot.job_id, slot.stopping, slot.result, slot.error, slot.notice = None, False, None, "", ""


def queue_ahead(job) -> int:
    """Renders this queued job waits for: the queued ones ahead of it, plus running ones when every
    worker is busy."""
    stats = service().stats()
    busy = stats["running"] if stats["running"] >= stats["workers"] else 0
    return job.position() + busy
