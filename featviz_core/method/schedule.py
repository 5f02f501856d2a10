"""Learning-rate schedules (the ``lr_schedule`` setting).

``constant`` is Lucid's: the optimizer's rate at every step. ``tail`` holds the rate for the first
:data:`TAIL_START` of the steps, then lowers it linearly to :data:`TAIL_END` of itself at the last step: the
images settle into their features instead of ending on a full-size step. With NAdam at 0.1 it is the fast
preset's schedule (EfficientNet-Lite0 ``_blocks.10``, 10 channels: Lucent's 512-step neutral score in 144
steps instead of 288; BENCHMARKS.md).
"""

from __future__ import annotations

from featviz_core.settings.declarations import TAIL_END, TAIL_START  # declared with the setting


def learning_rate(rate: float, schedule: str, step: int, steps: int) -> float:
    """The learning rate of step ``step`` (1-based) of ``steps`` under ``schedule``, for a full rate ``rate``."""
    if schedule == "constant" or steps <= 0:
        return rate
    if schedule != "tail":
        raise ValueError(f"unknown learning-rate schedule {schedule!r}")
    done = min(max(step / steps, 0.0), 1.0)
    if done <= TAIL_START:
        return rate
    return rate * (1.0 - (1.0 - TAIL_END) * (done - TAIL_START) / (1.0 - TAIL_START))
