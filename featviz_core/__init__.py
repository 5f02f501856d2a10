"""featviz_core: fast, UI-free feature visualization (activation maximization) for CNNs.

The public entry points are :class:`featviz_core.request.RenderRequest` (what to render, validated on
construction), :func:`featviz_core.render.render_iter` (an iterator of snapshots) and
:func:`featviz_core.render.render` (drains it); every setting is declared in :mod:`featviz_core.settings`.
Nothing in this package imports a UI toolkit, prints, or shows images.

Its parts, each importing only parts above it in this list (each part's docstring names the parts it may
import; tests/test_layout.py checks that, and that no import cycle exists, counting imports inside functions):

    errors, device, config   error types and messages; the device; limits and settings from the environment
    objectives/              objectives as data: kinds, terms, the text that names them, the batched score
    settings/                every render setting declared once; the transforms and step presets
    models/                  model specs, weights, loading, layer tables, activations up to a layer
    photos/                  a visitor's photo: upload checks, the in-memory store, what it excites
    method/                  Lucid's method as tensor functions: parameterization, transforms, alpha, MACO, ...
    words                    a request in words: headings, figure notes, the method note
    image_plan, request      which images a request renders; the request itself, validated
    links                    a request as an app link, and links files
    render/                  the render loop: set-up, chunks, steps, penalties, scoring, results
    outputs/                 what a finished render becomes: layout, figures, files
    atlas/                   every channel of whole layers, rendered ahead into a store
    examples/                the dataset images that excite and suppress each channel, found ahead
    service/                 the shared render queue, its cache, prepared renders
    cli/                     ``python -m featviz_core ...``

Layer (checked by tests/test_layout.py): may import errors; torch at module level: no.
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
