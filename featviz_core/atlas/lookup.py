"""Finding atlases for the app: stores under the atlas folders, and the entries a render request matches.

The app never writes an atlas and never loads a model for one: it reads manifests (cached until the file
changes) and PNG files. ``FEATVIZ_ATLAS_DIR`` names a store or a folder of stores (several folders separated
by ``:``); without it the app looks in the cache folder's ``atlas/``, where ``atlas fetch`` puts them.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from featviz_core.config import store_folders
from featviz_core.atlas import AtlasError
from featviz_core.atlas.store import MANIFEST, AtlasStore, read_entry

log = logging.getLogger(__name__)

_stores: dict[str, tuple[int, AtlasStore]] = {}
_stores_lock = threading.Lock()


def atlas_roots() -> list[Path]:
    """The folders the app reads atlases from (FEATVIZ_ATLAS_DIR, else CACHE/atlas)."""
    from featviz_core.config import store_roots

    return store_roots("FEATVIZ_ATLAS_DIR", "atlas")


def _open_cached(path: Path) -> AtlasStore | None:
    """The store at ``path``, re-read only when its manifest changed; None when it holds none."""
    try:
        stamp = (path / MANIFEST).stat().st_mtime_ns
    except OSError:
        return None
    with _stores_lock:
        known = _stores.get(str(path))
    if known is not None and known[0] == stamp:
        return known[1]
    try:
        store = AtlasStore.open(path)
    except AtlasError as exc:
        log.warning("ignoring atlas %s: %s", path, exc)
        return None
    with _stores_lock:
        _stores[str(path)] = (stamp, store)
    return store


def find_stores(roots: list[Path] | None = None) -> list[AtlasStore]:
    """Every readable store under ``roots`` (a root may itself be a store), sorted by model and path."""
    found = []
    for path in store_folders(roots if roots is not None else atlas_roots(), MANIFEST):
        store = _open_cached(path)
        if store is not None:
            found.append(store)
    return sorted(found, key=lambda s: (s.model, str(s.path)))


def load_images(store: AtlasStore, layer: str, channels: tuple[int, ...]) -> np.ndarray | None:
    """(B, H, W, 3) uint8 images of finished channels, or None when one is missing or does not decode."""
    images = []
    for channel in channels:
        try:
            pixels, record = read_entry(store.image_path(layer, channel))
        except (OSError, ValueError, KeyError, SyntaxError):
            return None
        if record.get("key") != store.identity.key or record.get("channel") != channel:
            return None
        images.append(pixels)
    return np.stack(images)


def matching_result(request, roots: list[Path] | None = None):
    """A RenderResult from an atlas for ``request``, or None.

    It matches when the request is plain channel objectives (no negation, no expression) of one layer, and
    a store of the same model, with the same settings and the same weights as this machine's, has every
    requested channel. The result has no optimization history (the atlas keeps only final images and
    activations) and says where it came from in ``extra["from_atlas"]``.
    """
    from featviz_core.atlas.identity import local_weights_digest, settings_of
    from featviz_core.render import RenderResult

    if (request.objective != "channel" or request.negate or request.expression or not request.channels
            or request.beyond):
        return None
    stores = [s for s in find_stores(roots) if s.model == request.model
              and dict(s.identity.settings) == settings_of(request)]
    stores = [s for s in stores if all(c in s.done(request.layer) for c in request.channels)]
    if not stores:
        return None
    digest = local_weights_digest(request.model)
    for store in stores:
        if store.identity.weights_sha256 != digest:
            continue
        images = load_images(store, request.layer, request.channels)
        if images is None:
            continue
        done = store.done(request.layer)
        return RenderResult(
            request=request, images=images, labels=request.labels(),
            scores=np.asarray([done[c] for c in request.channels], dtype=np.float32),
            history=np.zeros((0, len(request.channels)), dtype=np.float32), steps_done=request.steps,
            elapsed_s=0.0, device=f"atlas {store.path.name}", extra={"from_atlas": str(store.path)},
        )
    return None


def lookup(request):
    """The render service's hook (``RenderService(lookup=...)``): :func:`matching_result` that never raises."""
    try:
        return matching_result(request)
    except Exception as exc:  # an unreadable atlas must never break a render: render it instead
        log.warning("atlas lookup failed for %s: %s", request.key(), exc)
        return None
