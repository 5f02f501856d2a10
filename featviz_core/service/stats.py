"""The service's counters and the JSON stats file a monitor or a load test in another process reads.

With ``FEATVIZ_STATS_FILE`` set, the service rewrites that file (atomically) whenever a job is queued,
starts, finishes or is turned away; among the counters is ``peak_running``: the most jobs that ever ran at
the same time (each holds a worker).

Renders and visitors' zips searched for examples are counted apart: ``submitted``, ``completed``,
``stopped``, ``failed``, ``cancelled``, ``rejected``, ``cache_hits`` and ``shared`` count renders only;
``examples_submitted``, ``examples_completed``, ``examples_failed``, ``examples_cancelled``,
``examples_rejected``, ``examples_reused`` (a finished store of the same zip served at once) and
``examples_shared`` count zip jobs.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

from featviz_core.service.job import DONE, FAILED

log = logging.getLogger(__name__)


class Counters:
    """Counts since the service started. Not thread-safe on its own: the service holds its lock.

    ``completed`` counts every render that produced images; ``stopped``, those of them that ended early
    (deadline, Stop, closed tab) and kept a partial result. A zip job (``examples=True``) is counted under
    ``examples_`` names instead, its finished store served at once as ``examples_reused``.
    """

    NAMES = ("submitted", "completed", "stopped", "failed", "cancelled", "rejected", "cache_hits",
             "peak_running", "shared")
    EXAMPLES_NAMES = ("examples_submitted", "examples_completed", "examples_failed", "examples_cancelled",
                      "examples_rejected", "examples_reused", "examples_shared")

    def __init__(self) -> None:
        self._counts = dict.fromkeys(self.NAMES + self.EXAMPLES_NAMES, 0)

    @staticmethod
    def _name(name: str, examples: bool) -> str:
        if not examples:
            return name
        return "examples_reused" if name == "cache_hits" else f"examples_{name}"

    def add(self, name: str, *, examples: bool = False) -> None:
        """One more of ``name`` (a render's counter name; ``examples``: of a zip job)."""
        self._counts[self._name(name, examples)] += 1

    def running(self, now_running: int) -> None:
        """``now_running`` renders run at once: keep the peak."""
        self._counts["peak_running"] = max(self._counts["peak_running"], now_running)

    def ended(self, state: str, *, stopped: bool, examples: bool = False) -> None:
        """A job ended in ``state``; ``stopped``: it ended early but kept a partial result (a render);
        ``examples``: a zip job."""
        if stopped and not examples:  # a stopped zip job keeps a checkpoint, not a result
            self.add("stopped")
        if state == DONE:
            self.add("completed", examples=examples)
        elif state == FAILED:
            self.add("failed", examples=examples)
        else:
            self.add("cancelled", examples=examples)

    def as_dict(self) -> dict[str, int]:
        return dict(self._counts)


def stats_path(stats_file: str | Path | None) -> Path | None:
    """The stats file to keep: ``stats_file``, else FEATVIZ_STATS_FILE; None (or "") for none."""
    chosen = stats_file if stats_file is not None else os.environ.get("FEATVIZ_STATS_FILE") or None
    return Path(chosen) if chosen else None


class StatsFile:
    """Rewrites one JSON file atomically (a reader never sees half a file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, read_stats: Callable[[], dict[str, int]]) -> None:
        """Write ``read_stats()`` with this process's id and the time. The stats are read under the file's
        lock, one writer at a time, so the file never goes back to older counters."""
        with self._lock:
            data = {**read_stats(), "pid": os.getpid(), "time": time.time()}
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_text(json.dumps(data))
                os.replace(tmp, self.path)
            except OSError as exc:  # monitoring must never break rendering
                log.warning("could not write service stats to %s: %s", self.path, exc)
