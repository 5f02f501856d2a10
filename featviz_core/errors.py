"""Error types, and how a message quotes a value. Every message is written for a person: what was wrong and
what is allowed.

Layer (checked by tests/test_layout.py): may import nothing; torch at module level: no.
"""

from typing import Any


def shown(value: Any) -> str:
    """A value quoted in a message, shortened: a hostile URL must not make a page-long error."""
    text = repr(value)
    return text if len(text) <= 44 else text[:40] + "..."



class FeatvizError(Exception):
    """Base class of every error featviz raises on purpose."""


class RequestError(FeatvizError, ValueError):
    """A render request (from the CLI, a form, a URL or code) is invalid."""


class WeightsUnavailable(FeatvizError):
    """A model's weights are missing, could not be downloaded, or failed verification."""


class RenderError(FeatvizError):
    """A render could not finish (diverged, out of memory, ...)."""


class NonFiniteError(RenderError):
    """The optimization produced NaN or infinite values."""


class QueueFull(FeatvizError):
    """The render queue is full; the caller should try again shortly."""
