"""A render whose tab is open but quiet (a hidden browser tab polls about once a minute) keeps running; one
whose tab is gone still leaves within the idle timeout. The service asks a liveness callback, as the app
asks Streamlit whether a session's browser is still connected."""

from __future__ import annotations

import time

from featviz_core.service import CANCELLED, DONE, RUNNING

from service_helpers import tiny, wait_for

IDLE_S = 0.5


def quiet_for(job, seconds: float) -> None:
    """Wait until nobody has touched ``job`` for ``seconds`` (it is never touched in these tests)."""
    wait_for(lambda: time.monotonic() - job.last_seen() > seconds, timeout_s=seconds + 30,
             what=f"{seconds:g} s without a poll")


def test_a_connected_but_quiet_tab_keeps_its_render_and_a_closed_one_frees_the_queue(make_service):
    connected = {"open-tab": True, "closed-tab": False}
    asked: list[str] = []

    def session_alive(session: str) -> bool:
        asked.append(session)
        return connected[session]

    service = make_service(workers=1, queue_length=4, idle_timeout_s=IDLE_S)
    service.session_alive = session_alive  # set after creation, as the app does on the shared service
    kept = service.submit(tiny(seed=40, steps=4000), "client-a", snapshot_every=1)
    kept.touch("client-a", "open-tab")  # as the app does right after submitting: the tab's session
    dropped = service.submit(tiny(seed=41, steps=4), "client-b")
    dropped.touch("client-b", "closed-tab")

    # The closed tab's queued render leaves the queue when anyone looks at it (the app's sidebar reads the
    # queue's load every 2 s), although no worker ever took it.
    wait_for(lambda: service.stats() and not dropped.active, timeout_s=30, what="the closed tab's render to leave the queue")
    assert dropped.state == CANCELLED and "nobody is watching" in dropped.error

    wait_for(lambda: kept.snapshot is not None, timeout_s=60, what="the first snapshot")
    quiet_for(kept, 4 * IDLE_S)
    step = kept.snapshot.step
    wait_for(lambda: kept.snapshot.step > step, timeout_s=30, what="more steps while the tab is quiet")
    assert kept.state == RUNNING and not kept.stop_reason
    assert "open-tab" in asked

    connected["open-tab"] = False  # the tab is closed now: the render stops within the idle timeout
    wait_for(lambda: not kept.active, timeout_s=30, what="the render of the closed tab to stop")
    assert kept.state == DONE and "nobody is watching" in kept.result.stopped
    assert 1 <= kept.result.steps_done < 4000
    assert service.stats()["running"] == 0 and service.stats()["queued"] == 0


def test_clients_that_name_no_session_still_time_out(make_service):
    service = make_service(workers=1, idle_timeout_s=IDLE_S)
    service.session_alive = lambda session: True  # every session looks alive; this client named none
    job = service.submit(tiny(seed=42, steps=4000), "client", snapshot_every=1)
    wait_for(lambda: not job.active, timeout_s=30, what="the unwatched render to stop")
    reason = job.result.stopped if job.result is not None else job.error
    assert "nobody is watching" in reason


def test_a_failing_liveness_check_counts_as_closed(make_service):
    def broken(session: str) -> bool:
        raise RuntimeError("runtime gone")

    service = make_service(workers=1, idle_timeout_s=IDLE_S)
    service.session_alive = broken
    job = service.submit(tiny(seed=43, steps=4000), "client", snapshot_every=1)
    job.touch("client", "tab")
    wait_for(lambda: not job.active, timeout_s=30, what="the render to stop")
    assert job.state in (DONE, CANCELLED)
    assert "nobody is watching" in (job.result.stopped if job.result is not None else job.error)
    assert service.stats()["workers_alive"] == 1


def test_release_forgets_the_clients_session(make_service):
    service = make_service(workers=1)
    job = service.submit(tiny(seed=44, steps=4000), "client", snapshot_every=1)
    job.touch("client", "tab")
    assert job.watching_sessions() == ["tab"]
    wait_for(lambda: job.snapshot is not None, timeout_s=60, what="the render to run")
    at_release = job.snapshot.step
    job.release("client")
    assert job.watching_sessions() == []
    wait_for(lambda: not job.active, timeout_s=60, what="the released render to stop")
    # Stopped by the release, not run to its end: the worker polls the stop every step, so it ends within a
    # step or two of the one on screen at the release, whatever the machine's speed.
    assert job.state == DONE and job.result.stopped == "stopped by user", (job.state, job.error)
    assert at_release <= job.result.steps_done <= at_release + 2 < 4000
    assert service.stats()["stopped"] == 1
