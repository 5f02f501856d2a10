"""Helpers shared by the shared-use tests: tiny renders, bounded waits, service settings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from featviz_core.config import ServiceSettings
from featviz_core.request import RenderRequest

TINY = dict(model="efficientnet-lite0", layer="_blocks.1", steps=8, size=32, upsample=False)


def tiny(seed: int = 0, channels: tuple[int, ...] = (0, 1), **changes) -> RenderRequest:
    """A render that takes a fraction of a second on a CPU (32 px, no upsampling, an early layer)."""
    return RenderRequest(**{**TINY, "seed": seed, "channels": channels, **changes})


def wait_for(predicate: Callable[[], object], timeout_s: float = 60.0, what: str = "condition") -> object:
    """Poll ``predicate`` until it is truthy; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def settings(path: Path, **changes) -> ServiceSettings:
    base = dict(workers=1, queue_length=4, deadline_s=120.0, cache_entries=50, cache_bytes=50 * 1024**2,
                cache_path=path / "renders", idle_timeout_s=60.0)
    return ServiceSettings(**{**base, **changes})
