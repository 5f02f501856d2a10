"""featviz_core: fast, UI-free feature visualization (activation maximization) for CNNs.

The public entry points are :class:`RenderRequest` (what to render, validated on construction),
:func:`render_iter` (an iterator of :class:`Snapshot` objects) and :func:`render` (drains it).
Nothing in this package imports a UI toolkit, prints, or shows images.
"""

from featviz_core.errors import FeatvizError, RenderError, RequestError, WeightsUnavailable

__version__ = "0.1.0"

__all__ = [
    "FeatvizError",
    "RenderError",
    "RequestError",
    "WeightsUnavailable",
    "__version__",
]
