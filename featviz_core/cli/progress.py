"""Progress bars the commands write to stderr: steps of a render, channels of an atlas, images of an examples run."""

from __future__ import annotations

import math


def step_bar(done: int, total: int, elapsed: float, width: int = 30) -> str:
    """``\\r[#####.....] step 12/512  3.1s  120s left``: a render's steps (starts with a carriage return, so
    each call overwrites the last on a terminal)."""
    filled = int(width * done / total) if total else width
    rate = done / elapsed if elapsed > 0 else 0.0
    remaining = (total - done) / rate if rate > 0 else float("nan")
    eta = f"{remaining:5.0f}s left" if remaining == remaining else "   ...   "
    return f"\r[{'#' * filled}{'.' * (width - filled)}] step {done}/{total}  {elapsed:6.1f}s  {eta}"


def duration(seconds: float) -> str:
    """``75`` -> ``1 min 15 s``; ``?`` when unknown."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def channel_bar(progress, width: int = 30) -> str:
    """An atlas build's channels done of total, channels per minute and the time left (``progress``: the
    runner's progress record with ``done``, ``total``, ``per_minute`` and ``remaining_s``)."""
    filled = int(width * progress.done / progress.total) if progress.total else width
    return (f"[{'#' * filled}{'.' * (width - filled)}] {progress.done}/{progress.total} channels  "
            f"{progress.per_minute:6.1f} channels/min  {duration(progress.remaining_s)} left")


def image_bar(progress, width: int = 30) -> str:
    """An examples run's images done of total, images per second, the time left and the images skipped
    (``progress``: the runner's progress record)."""
    filled = int(width * progress.done / progress.total) if progress.total else width
    skipped = f"  {progress.skipped} skipped" if progress.skipped else ""
    return (f"[{'#' * filled}{'.' * (width - filled)}] {progress.done}/{progress.total} images  "
            f"{progress.per_second:6.1f} images/s  {duration(progress.remaining_s)} left{skipped}")
