"""The atlas store on disk: ``manifest.json``, ``images/LAYER/CHANNEL.png`` and a render log.

Every file is written to a temporary name in its final folder and renamed into place (``os.replace``), so
a process killed at any moment leaves whole entries and a whole manifest, never half of one. The images
are the truth and the manifest their index: each PNG carries its own identity and final activation in a
text chunk, so :meth:`AtlasStore.reconcile` can adopt entries written just before a kill and drop index
rows whose file is gone. One run writes a store at a time (an advisory ``flock``, released by the kernel
when the process dies, even by ``kill -9``).

Layout::

    STORE/manifest.json          identity (model, weights SHA-256, settings), plan, activations per layer
    STORE/images/LAYER/C.png     channel C of LAYER, RGB, text chunk "featviz-atlas" = JSON entry record
    STORE/renders.jsonl          one line per batch started and finished (runs, workers, seconds)
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from featviz_core.atlas import AtlasError
from featviz_core.atlas.batch_plan import Batch, Plan
from featviz_core.atlas.entries import TMP_PREFIX, encode_entry, read_entry, write_atomically
from featviz_core.atlas.guard import LOCK, LOG, MANIFEST, prepare_folder, writer_lock
from featviz_core.atlas.identity import FORMAT, AtlasIdentity

IMAGES = "images"
__all__ = ["AtlasStore", "IMAGES", "LOCK", "LOG", "MANIFEST", "TMP_PREFIX", "encode_entry", "layer_folder",
           "prepare_folder", "read_entry", "read_log", "write_atomically", "writer_lock"]


def layer_folder(layer: str) -> str:
    """Folder name of a layer's images (layer names are module paths: letters, digits, '.', '_')."""
    from featviz_core.outputs.export import safe_filename

    return safe_filename(layer)


class AtlasStore:
    """A store folder and its manifest.

    Attributes:
        path: the store folder.
        identity: model, weights digest and settings of every image in it.
        plan: batch size and images per forward pass its images were rendered with.
        activations: layer -> one entry per channel: its final activation, or None while it is missing.
    """

    def __init__(self, path: Path, identity: AtlasIdentity, plan: Plan,
                 activations: dict[str, list[float | None]], meta: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.identity = identity
        self.plan = plan
        self.activations = activations
        self.meta = dict(meta or {})

    # ----- reading (the app: no model, no lock, never writes) -------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> "AtlasStore":
        """Read a store's manifest. Raises AtlasError when ``path`` holds no readable atlas."""
        path = Path(path)
        manifest = path / MANIFEST
        try:
            data = json.loads(manifest.read_text())
        except FileNotFoundError:
            raise AtlasError(f"{path} holds no atlas (no {MANIFEST})") from None
        except (OSError, ValueError) as exc:
            raise AtlasError(f"cannot read {manifest}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise AtlasError(f"{manifest} is not a featviz atlas manifest (format {FORMAT} expected)")
        activations: dict[str, list[float | None]] = {}
        try:
            for layer, row in dict(data["layers"]).items():
                values = list(row["activations"])
                if len(values) != int(row["channels"]):
                    raise ValueError(f"layer {layer} lists {len(values)} of {row['channels']} channels")
                activations[str(layer)] = [None if v is None else float(v) for v in values]
            if not activations:
                raise ValueError("it lists no layer")
        except (KeyError, TypeError, ValueError) as exc:
            raise AtlasError(f"{manifest} has a damaged layer table ({exc})") from None
        meta = {k: data[k] for k in ("created", "updated", "featviz_version", "device") if k in data}
        return cls(path, AtlasIdentity.from_json(data), Plan.from_json(data.get("plan")), activations, meta)

    @property
    def model(self) -> str:
        return self.identity.model

    def channels(self, layer: str) -> int:
        return len(self.activations[layer])

    def done(self, layer: str) -> dict[int, float]:
        """Finished channels of ``layer``: channel -> final activation."""
        return {c: v for c, v in enumerate(self.activations.get(layer, [])) if v is not None}

    def missing(self, layer: str) -> list[int]:
        return [c for c, v in enumerate(self.activations.get(layer, [])) if v is None]

    def count(self) -> tuple[int, int]:
        """(finished channels, channels) over every layer."""
        values = [v for row in self.activations.values() for v in row]
        return sum(v is not None for v in values), len(values)

    def image_path(self, layer: str, channel: int) -> Path:
        return self.path / IMAGES / layer_folder(layer) / f"{int(channel)}.png"

    def image_bytes(self, layer: str, channel: int) -> bytes | None:
        """The PNG of a finished channel, or None (missing from the manifest or from the disk)."""
        if channel not in self.done(layer):
            return None
        try:
            return self.image_path(layer, channel).read_bytes()
        except OSError:
            return None

    # ----- writing (one atlas run, holding the lock) -----------------------------------------------------
    def manifest_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, **self.identity.to_json(), "key": self.identity.key, "plan": self.plan.to_json(),
            **self.meta,
            "layers": {layer: {"channels": len(row), "activations": row} for layer, row in self.activations.items()},
        }

    def save(self) -> None:
        """Rewrite the manifest atomically."""
        self.meta["updated"] = _now()
        data = json.dumps(self.manifest_json(), indent=1).encode()
        write_atomically(self.path / MANIFEST, data)

    def add_layers(self, layers: dict[str, int]) -> None:
        for layer, count in layers.items():
            row = self.activations.get(layer)
            if row is None:
                self.activations[layer] = [None] * count
            elif len(row) != count:
                raise AtlasError(f"layer {layer} has {count} channels but the store lists {len(row)}; "
                                 "the store was made with another model definition")

    def write_batch(self, batch: Batch, images: np.ndarray, activations: list[float]) -> None:
        """Write a rendered batch: every PNG (each atomically), then the manifest.

        images: (B, H, W, 3) uint8 in ``batch.channels`` order; activations: B final activations.
        """
        if len(images) != len(batch.channels) or len(activations) != len(batch.channels):
            raise AtlasError(f"batch {batch.name} came back with {len(images)} images for "
                             f"{len(batch.channels)} channels")
        folder = self.path / IMAGES / layer_folder(batch.layer)
        folder.mkdir(parents=True, exist_ok=True)
        for channel, image, activation in zip(batch.channels, images, activations):
            record = {"key": self.identity.key, "layer": batch.layer, "channel": channel,
                      "activation": float(activation)}
            write_atomically(self.image_path(batch.layer, channel), encode_entry(image, record))
        row = self.activations[batch.layer]
        for channel, activation in zip(batch.channels, activations):
            row[channel] = float(activation)
        self.save()

    def reconcile(self) -> tuple[int, int]:
        """Make the manifest match the files after an interrupted run; returns (adopted, dropped).

        Adopted: complete PNGs of this identity that the manifest does not list yet (written just before a
        kill). Dropped: manifest rows whose file is missing or empty. Temporary files are removed (the
        caller holds the lock, so no writer owns them). Changes are saved atomically.
        """
        adopted = dropped = 0
        for layer, row in self.activations.items():
            folder = self.path / IMAGES / layer_folder(layer)
            if not folder.is_dir():
                dropped += sum(v is not None for v in row)
                row[:] = [None] * len(row)
                continue
            for leftover in folder.glob(f"{TMP_PREFIX}*"):
                leftover.unlink(missing_ok=True)
            for channel in range(len(row)):
                path = self.image_path(layer, channel)
                exists = path.is_file() and path.stat().st_size > 0
                if row[channel] is not None and not exists:
                    row[channel] = None
                    dropped += 1
                elif row[channel] is None and exists:
                    try:
                        _, record = read_entry(path)
                        if (record.get("key"), record.get("layer"), record.get("channel")) != \
                                (self.identity.key, layer, channel):
                            raise ValueError("it belongs to another atlas")
                        row[channel] = float(record["activation"])
                        adopted += 1
                    except (OSError, ValueError, KeyError, TypeError, SyntaxError):
                        path.unlink(missing_ok=True)  # damaged or foreign: render it again
        if adopted or dropped:
            self.save()
        return adopted, dropped

    def log(self, event: str, batch: Batch, **info: Any) -> None:
        """Append one line to the render log (a single write of a short line: never interleaved)."""
        line = json.dumps({"event": event, "batch": batch.name, "time": round(time.time(), 3), **info})
        fd = os.open(self.path / LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The render log of a store, one dict per line (a torn last line, from a kill, is skipped)."""
    events = []
    try:
        lines = (Path(path) / LOG).read_text().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        with contextlib.suppress(ValueError):
            events.append(json.loads(line))
    return events


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
