"""Error types. Every message is written for a person: what was wrong and what is allowed."""


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
