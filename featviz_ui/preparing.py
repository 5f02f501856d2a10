"""Prepare a list of renders from the app: one link after another through the shared render queue.

The same job as ``python -m featviz_core warm``, for a lecturer without a shell: each link that is not
prepared yet is rendered into the cache, one at a time (so a long list never fills the queue other
visitors wait in); the Lecture page shows each link's state as it goes. A link is prepared when every render
its page shows is (the Neuron page's channel and its pixel twin). It runs while the tab is open.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import streamlit as st

from featviz_ui import finished_renders, views
from featviz_ui.slots import Slot, get_slot, poll, stop, submit

RUN_KEY = "featviz_prepare_run"
SLOT = "lecture"


@dataclass
class PrepareRun:
    """Progress through a list: ``states`` maps a link (its text) to what happened to it; ``part`` is the
    next of the current line's requests, ``rendered`` whether one of them ran."""

    lines: list
    index: int = 0
    part: int = 0
    submitted: bool = False
    started: float = 0.0
    rendered: bool = False
    states: dict[str, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.index >= len(self.lines)

    def counts(self) -> dict[str, int]:
        kinds = ("rendered", "already prepared", "bad line", "failed")
        return {kind: sum(state.startswith(kind) for state in self.states.values()) for kind in kinds}


def start(lines: list) -> None:
    """Prepare ``lines`` (LinkLines), replacing any run in progress."""
    cancel()
    st.session_state[RUN_KEY] = PrepareRun(list(lines))


def current() -> PrepareRun | None:
    return st.session_state.get(RUN_KEY)


def cancel() -> None:
    run = current()
    if run is not None and not run.done:
        stop(get_slot(SLOT))
        run.states[run.lines[run.index].text] = "stopped"
        run.index = len(run.lines)


def _next_line(run: PrepareRun, state: str) -> None:
    run.states[run.lines[run.index].text] = state
    run.index, run.part, run.submitted, run.rendered = run.index + 1, 0, False, False


def advance(run: PrepareRun, slot: Slot) -> None:
    """Move the run on as far as it can go without waiting (call on every poll)."""
    while not run.done:
        line = run.lines[run.index]
        if line.request is None:
            _next_line(run, f"bad line: {line.error}")
            continue
        request = line.requests[run.part]
        if not run.submitted:
            if run.part == 0:
                run.started = time.monotonic()
            if not finished_renders.show(slot, request):
                if not submit(slot, request):
                    _next_line(run, f"failed: {slot.error}")
                    continue
                run.submitted = run.rendered = True
                run.states[line.text] = "rendering"
                if poll(slot) is not None:
                    return
                continue  # finished at once (rendered by someone meanwhile)
        elif poll(slot) is not None:
            return
        else:
            run.submitted = False
            result = slot.result
            if result is None or result.request != request or result.stopped:
                _next_line(run, f"failed: {slot.error or 'the render did not finish'}")
                continue
        run.part += 1
        if run.part == len(line.requests):
            _next_line(run, f"rendered in {views.duration(time.monotonic() - run.started)}" if run.rendered
                       else "already prepared")


def status_rows(run: PrepareRun | None, lines: list) -> list[dict[str, str]]:
    """One row per link: slide number, line, what it renders, and its state."""
    from featviz_core.service.prepared import describe_line

    rows = []
    for number, line in enumerate(lines, start=1):
        if line.request is None:
            state = f"bad line: {line.error}"
        else:
            state = run.states.get(line.text, "waiting") if run is not None else "not checked yet"
        what = describe_line(line) if line.request is not None else line.text[:80]
        rows.append({"slide": str(number), "line": str(line.number), "render": what, "state": state})
    return rows


def table(lines: list) -> None:
    """The list's links and what the last run did with each."""
    st.dataframe(status_rows(current(), lines), hide_index=True, width="stretch")


@st.fragment(run_every=1.0)
def follow() -> None:
    """The run's progress and table, moved on and redrawn every second; the page redraws when it ends."""
    run = current()
    slot = get_slot(SLOT)
    advance(run, slot)
    if run.done:
        st.rerun()  # the whole page, which then stops polling
    job = poll(slot)
    if job is not None:
        views.progress_panel(slot, job, label=f"Line {run.lines[run.index].number}")
    st.button("Stop preparing", on_click=cancel, icon=":material/stop_circle:", key="lec_stop")
    st.dataframe(status_rows(run, run.lines), hide_index=True, width="stretch")


def summary(run: PrepareRun) -> str:
    counts = run.counts()
    return (f"{counts['rendered']} rendered, {counts['already prepared']} already prepared, "
            f"{counts['bad line']} bad, {counts['failed']} failed")
