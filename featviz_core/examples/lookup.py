"""Finding examples stores for the app, and reading one channel's examples (no model is loaded here).

``FEATVIZ_EXAMPLES_DIR`` names a store or a folder of stores (several separated by ``:``); without it the
app looks in the cache folder's ``examples/``. Only finished stores (with ``examples.json``) are shown;
their JSON is read and checked (:mod:`.check`) only when the file changes. A store that fails the check is
skipped, with a warning in the log and, from :func:`survey_examples`, one line saying what is wrong.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featviz_core.config import store_folders
from featviz_core.examples.store import RESULT, VIEWS

log = logging.getLogger(__name__)
_cache: dict[str, tuple[int, "ExamplesStore | SkippedStore"]] = {}
_lock = threading.Lock()


def examples_roots() -> list[Path]:
    """The folders the app reads examples stores from (FEATVIZ_EXAMPLES_DIR, else CACHE/examples)."""
    from featviz_core.config import store_roots

    return store_roots("FEATVIZ_EXAMPLES_DIR", "examples")


@dataclass
class ExamplesStore:
    """A finished store, read: its examples.json as data, and its files on demand."""

    path: Path
    data: dict[str, Any]

    @property
    def model(self) -> str:
        return self.data["model"]

    @property
    def weights_sha256(self) -> str:
        return self.data["weights_sha256"]

    @property
    def layers(self) -> list[str]:
        return list(self.data["layers"])

    def label(self) -> str:
        counts = self.data["counts"]
        return (f"{Path(self.data['folder']).name}: {counts['used']} images, top {self.data['settings']['top']} · "
                f"{self.path.name}")

    def examples(self, layer: str, channel: int) -> dict[str, list[dict]] | None:
        """{"top": [...], "bottom": [...]} of a channel (entries as in examples.json), or None."""
        rows = self.data["layers"].get(layer, {}).get("examples", [])
        return rows[channel] if 0 <= channel < len(rows) else None

    def file_bytes(self, relative: str) -> bytes | None:
        path = (self.path / relative).resolve()
        if self.path.resolve() not in path.parents:  # a damaged JSON must not read outside the store
            return None
        try:
            return path.read_bytes()
        except OSError:
            return None

    def view(self, entry: dict) -> np.ndarray | None:
        """The model's square view of the entry's image: (S, S, 3) uint8, or None (also when it is damaged)."""
        import io

        from PIL import Image

        data = self.file_bytes(f"{VIEWS}/{int(entry['number'])}.jpg")
        if data is None:
            return None
        try:
            with Image.open(io.BytesIO(data)) as image:
                return np.asarray(image.convert("RGB"))
        except (OSError, ValueError, Image.DecompressionBombError):
            return None

    def activation_map(self, layer: str, channel: int, side: str, rank: int) -> np.ndarray | None:
        """(h, w) float32 map of the channel on that example, or None."""
        path = self.path / self.data["layers"][layer]["maps"]
        try:
            maps = np.load(path, mmap_mode="r", allow_pickle=False)
            return np.array(maps[channel, 0 if side == "top" else 1, rank], dtype=np.float32)
        except (OSError, ValueError, IndexError):
            return None


@dataclass(frozen=True)
class SkippedStore:
    """A store the app does not show, and why (one line); its model and layers when they could be read."""

    path: Path
    problem: str
    model: str | None = None
    layers: frozenset[str] | None = None

    def covers(self, model: str | None, layer: str | None) -> bool:
        """Whether it may be a store of ``model`` covering ``layer`` (what could not be read may be)."""
        return (model is None or self.model in (None, model)) and \
            (layer is None or self.layers is None or layer in self.layers)

    def line(self) -> str:
        return f"The examples store {self.path.name} is skipped: {self.problem}."


def _read(path: Path) -> ExamplesStore | SkippedStore:
    from featviz_core.examples.check import problem

    try:
        data = json.loads((path / RESULT).read_text())
    except (OSError, ValueError) as exc:
        return SkippedStore(path, f"its {RESULT} cannot be read as JSON ({' '.join(str(exc).split())[:100]})")
    wrong = problem(path, data)
    if wrong is None:
        return ExamplesStore(path, data)
    model = data.get("model") if isinstance(data, dict) and isinstance(data.get("model"), str) else None
    layers = data.get("layers") if isinstance(data, dict) else None
    return SkippedStore(path, wrong, model, frozenset(layers) if isinstance(layers, dict) else None)


def _open(path: Path) -> ExamplesStore | SkippedStore | None:
    try:
        stamp = (path / RESULT).stat().st_mtime_ns
    except OSError:
        return None
    with _lock:
        known = _cache.get(str(path))
    if known is not None and known[0] == stamp:
        return known[1]
    opened = _read(path)
    if isinstance(opened, SkippedStore):  # logged once per change of the file: the result is cached
        log.warning("skipping examples store %s: %s", path, opened.problem)
    with _lock:
        _cache[str(path)] = (stamp, opened)
    return opened


def survey_examples(model: str | None = None, layer: str | None = None, roots: list[Path] | None = None
                    ) -> tuple[list[ExamplesStore], list[SkippedStore]]:
    """Finished stores under ``roots`` (a root may itself be a store), of ``model`` and with ``layer`` when
    given, and the stores skipped as damaged that may be of them; each sorted by path."""
    found, skipped = [], []
    for path in store_folders(roots if roots is not None else examples_roots(), RESULT):
        store = _open(path)
        if isinstance(store, SkippedStore):
            if store.covers(model, layer):
                skipped.append(store)
        elif store is not None and (model is None or store.model == model) and \
                (layer is None or layer in store.data["layers"]):
            found.append(store)
    return sorted(found, key=lambda s: str(s.path)), sorted(skipped, key=lambda s: str(s.path))


def find_examples(model: str | None = None, layer: str | None = None,
                  roots: list[Path] | None = None) -> list[ExamplesStore]:
    """Finished stores under ``roots`` (a root may itself be a store), of ``model`` and with ``layer`` when
    given, sorted by path; damaged ones are left out (:func:`survey_examples` says which and why)."""
    return survey_examples(model, layer, roots)[0]
