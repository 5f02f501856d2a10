"""Keep a fragment's rerun from hiding the script run that has just ended in the same tab.

Every page has fragments that rerun on a timer (the sidebar's queue status, the live view of a render). A
tab's timer can fire just as a full run of its script ends: the run's thread has finished, but the messages it
queued for the browser (its page, and "script finished") are still waiting on the server's event loop.
Streamlit then refuses the fragment's request to the ending ScriptRunner and starts a new one at once, and
from that moment ignores every message of the old runner as "not current". The browser never receives the
end of the full run: after a click on Render the render is queued, but the tab keeps showing the page from
before the click, with no progress and nothing to poll it (seen on a loaded 2-core server: one click in a few
hundred in a room of tabs).

:func:`install` makes Streamlit wait instead: a fragment rerun that arrives while the current ScriptRunner is
still winding down is retried on the event loop until that runner has shut down (its last message delivered),
then started if its fragment still exists; if a full run (a click, a page switch) has replaced the ending runner
meanwhile, the timer rerun is dropped: the full run draws the fragments of its page afresh, and the timer fires
again. Full reruns are unchanged. Streamlit versions without the internals this relies on are left alone.
"""

from __future__ import annotations

import time

RETRY_S = 0.02  # between checks of the winding-down runner, on the event loop (no thread waits)
GIVE_UP_S = 5.0  # after this, fall back to Streamlit's own behaviour
_MARK = "_featviz_waits_for_ending_run"


def install() -> bool:
    """Patch Streamlit's AppSession once per process. Returns whether the patch is in place."""
    try:
        from streamlit.runtime.app_session import AppSession, AppSessionState
    except ImportError:
        return False
    create = getattr(AppSession, "_create_scriptrunner", None)
    if create is None or not hasattr(AppSessionState, "SHUTDOWN_REQUESTED") or not hasattr(AppSession, "has_fragment"):
        return False
    if getattr(create, _MARK, False):
        return True

    def _create_scriptrunner(self, initial_rerun_data) -> None:
        ending = getattr(self, "_scriptrunner", None)
        if _fragment_run(initial_rerun_data) and ending is not None:
            # Streamlit calls this with a runner still current only when that runner refused the request
            # (it is ending) and fast reruns did not replace it: a fragment rerun racing the end of a run.
            _wait_for_ending_run(self, initial_rerun_data, ending, time.monotonic() + GIVE_UP_S)
            return
        create(self, initial_rerun_data)

    def _wait_for_ending_run(session, rerun_data, ending, deadline: float) -> None:
        if session._state == AppSessionState.SHUTDOWN_REQUESTED:
            return  # the tab is gone
        runner = session._scriptrunner
        if runner is not None and runner is not ending:
            # A full run (a click, a page switch) replaced the ending one meanwhile: it draws every fragment of
            # its page afresh, and this timer rerun, of the page as it was, must not run inside it (it would
            # take the new run's place, or bring back the page it left); the fragment's timer fires again.
            return
        if runner is None or time.monotonic() > deadline:
            if not session.has_fragment(_fragment_id(rerun_data)):
                return  # the run that ended removed it (Streamlit's own check, made again now)
            create(session, rerun_data)  # the ending run's messages have all been handled
        elif not runner.request_rerun(rerun_data):
            session._event_loop.call_later(RETRY_S, _wait_for_ending_run, session, rerun_data, ending, deadline)

    setattr(_create_scriptrunner, _MARK, True)
    AppSession._create_scriptrunner = _create_scriptrunner
    return True


def _fragment_run(rerun_data) -> bool:
    return bool(_fragment_id(rerun_data))


def _fragment_id(rerun_data) -> str:
    queue = getattr(rerun_data, "fragment_id_queue", None) or [None]
    return getattr(rerun_data, "fragment_id", None) or queue[0] or ""
