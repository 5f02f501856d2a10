"""Content-addressed store of finished renders: request key -> PNGs + JSON, in memory and on disk.

A key covers the request's settings and the SHA-256 of the weights the render was made with
(:meth:`RenderRequest.key`), so replacing a model's weight file makes its old renders unreachable.

Bounded by entry count and bytes (least recently used go first), on disk and in memory. Entries are
written to a temporary folder and renamed into place, so a reader never sees half an entry; an entry that
fails to load (corrupt or truncated file, images of the wrong shape) is deleted and treated as a miss.
Images are RGB PNGs, or RGBA PNGs for a transparent render (``request.alpha``): the request decides which.
Temporary folders left behind by a crashed process are removed after an hour.
"""

from __future__ import annotations


import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

from featviz_core.models import weights_identity
from featviz_core.render import RenderResult
from featviz_core.request import RenderRequest

log = logging.getLogger(__name__)

STALE_TMP_S = 3600.0


class RenderCache:
    def __init__(self, path: Path | None, *, max_entries: int = 200, max_bytes: int = 500 * 1024**2,
                 memory_entries: int = 32, memory_bytes: int | None = None) -> None:
        """
        Args:
            path: folder of the on-disk store (None: memory only).
            max_entries / max_bytes: bounds of the on-disk store.
            memory_entries / memory_bytes: bounds of the in-memory copies (bytes of the uint8 images;
                default: a quarter of ``max_bytes``, at most 256 MiB).
        """
        self.path = Path(path) if path is not None else None
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.memory_entries = memory_entries
        self.memory_bytes = memory_bytes if memory_bytes is not None else min(max_bytes // 4, 256 * 1024**2)
        self._memory: OrderedDict[str, RenderResult] = OrderedDict()
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)

    # ----- public -----------------------------------------------------------------------------------------
    def get(self, key: str) -> RenderResult | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        result = self._load(key)
        if result is not None:
            self._remember(key, result)
        return result

    def put(self, result: RenderResult, *, weights: str | None = None) -> None:
        """Store a complete render under its key for ``weights``.

        Args:
            result: the render; stopped (partial) renders are not cached, and renders that start from a
                photo are kept in memory only.
            weights: SHA-256 of the weights it was made with (default: the model's weight file on this
                machine now). A render whose weights are unknown ("": no weight file) is not cached.
        """
        if result.stopped:
            return
        if weights is None:
            weights = weights_identity(result.request.model)
        if not weights:
            return
        key = result.request.key(weights)
        self._remember(key, result)
        # A render that starts from a photo may look much like it, and photos are never written to disk
        # (featviz_core.photos.store): such renders stay in memory only.
        if self.path is not None and not result.request.init:
            try:
                self._write(key, result, weights)
                self._evict()
            except Exception as exc:  # a full or read-only disk (or a bad image) must not fail the render
                log.warning("could not write render cache entry %s: %s", key, exc)

    def clear_memory(self) -> None:
        with self._lock:
            self._memory.clear()

    # ----- internals --------------------------------------------------------------------------------------
    def memory_usage(self) -> tuple[int, int]:
        """(entries, bytes of images) held in memory."""
        with self._lock:
            return len(self._memory), sum(r.images.nbytes for r in self._memory.values())

    def _remember(self, key: str, result: RenderResult) -> None:
        with self._lock:
            if result.images.nbytes > self.memory_bytes:  # too big to keep in memory; disk still has it
                self._memory.pop(key, None)
                return
            self._memory[key] = result
            self._memory.move_to_end(key)
            total = sum(r.images.nbytes for r in self._memory.values())
            while len(self._memory) > self.memory_entries or total > self.memory_bytes:
                _, dropped = self._memory.popitem(last=False)
                total -= dropped.images.nbytes

    def _entry(self, key: str) -> Path:
        if not key.isalnum():
            raise ValueError(f"bad cache key {key!r}")
        assert self.path is not None
        return self.path / key

    def _write(self, key: str, result: RenderResult, weights: str) -> None:
        final = self._entry(key)
        if final.exists():
            return
        tmp = self.path / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            for i, image in enumerate(result.images):
                Image.fromarray(image).save(tmp / f"{i}.png")
            meta = {
                "request": result.request.to_dict(),
                "weights": weights,
                "labels": result.labels,
                "scores": [float(s) for s in result.scores],
                "history": np.asarray(result.history, dtype=np.float32).round(5).tolist(),
                "steps_done": result.steps_done,
                "elapsed_s": result.elapsed_s,
                "device": result.device,
                "count": len(result.images),
            }
            (tmp / "meta.json").write_text(json.dumps(meta))
            try:
                os.replace(tmp, final)
            except OSError:  # another worker stored the same key first
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _load(self, key: str) -> RenderResult | None:
        if self.path is None:
            return None
        entry = self._entry(key)
        if not entry.is_dir():
            return None
        try:
            meta = json.loads((entry / "meta.json").read_text())
            settings = dict(meta["request"])
            settings["channels"] = tuple(settings["channels"])
            request = RenderRequest(**settings)
            if request.key(str(meta["weights"])) != key:
                raise ValueError("entry does not match its key")
            mode, depth = ("RGBA", 4) if request.alpha else ("RGB", 3)  # a transparent render keeps its alpha
            images = []
            for i in range(int(meta["count"])):
                with Image.open(entry / f"{i}.png") as img:
                    img.load()
                    if img.mode != mode:
                        raise ValueError(f"image {i} is {img.mode}, not {mode}")
                    images.append(np.asarray(img))
            result = RenderResult(
                request=request,
                images=np.stack(images),
                labels=list(meta["labels"]),
                scores=np.asarray(meta["scores"], dtype=np.float32),
                history=np.asarray(meta["history"], dtype=np.float32),
                steps_done=int(meta["steps_done"]),
                elapsed_s=float(meta["elapsed_s"]),
                device=str(meta["device"]),
                extra={"from_cache": True},
            )
            if len(result.labels) != len(images) or result.scores.shape != (len(images),):
                raise ValueError("entry is inconsistent")
            if result.images.shape != (len(request.objectives()), request.size, request.size, depth):
                raise ValueError(f"images are {result.images.shape}, not what the request renders")
            os.utime(entry / "meta.json")
            return result
        except Exception as exc:  # corrupt entry: drop it and render again
            log.warning("ignoring corrupt render cache entry %s: %s", key, exc)
            shutil.rmtree(entry, ignore_errors=True)
            return None

    def _evict(self) -> None:
        assert self.path is not None
        entries = []
        for entry in self.path.iterdir():
            if entry.name.startswith(".tmp-"):
                try:
                    if time.time() - entry.stat().st_mtime > STALE_TMP_S:  # left by a crashed writer
                        shutil.rmtree(entry, ignore_errors=True)
                except OSError:
                    pass
                continue
            if not entry.is_dir():
                continue
            try:
                size = sum(f.stat().st_size for f in entry.iterdir())
                stamp = (entry / "meta.json").stat().st_mtime
            except OSError:
                size, stamp = 0, 0.0
            entries.append((stamp, size, entry))
        entries.sort()
        total = sum(size for _, size, _ in entries)
        while entries and (len(entries) > self.max_entries or total > self.max_bytes):
            _, size, entry = entries.pop(0)
            shutil.rmtree(entry, ignore_errors=True)
            total -= size
            with self._lock:
                self._memory.pop(entry.name, None)


