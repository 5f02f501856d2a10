"""Finished renders that cost nothing to show: the one place the app asks "is this already rendered?".

The Explorer's first screen, a link that only presets the form, and the presentation view all look a
request up here before anything is queued. Today the answer comes from the render cache (filled by
renders and by ``python -m featviz_core warm``); a store of precomputed renders can be consulted here too.
"""

from __future__ import annotations

from featviz_core.render import RenderResult
from featviz_core.request import RenderRequest
from featviz_core.service.render_cache import RenderCache


def prepared_result(request: RenderRequest, cache: RenderCache) -> RenderResult | None:
    """The finished render of ``request`` if one is stored, else None. Never renders and never queues."""
    return cache.get(request.key())
