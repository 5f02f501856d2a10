"""The examples store on disk: identity, atomic checkpoints of a running scan, and the finished result.

Layout::

    STORE/checkpoint.npz         the running top-K state, the chunks done and the images skipped (one file,
                                 rewritten by rename every few chunks: a kill leaves the previous one whole)
    STORE/examples.json          the result, written last (its presence means the run finished): identity,
                                 counts, and per layer and channel the top and bottom examples
    STORE/crops/LAYER/C-top-R.png     rank R's crop around where channel C fires most (bottom: least)
    STORE/views/N.jpg            the model's square view of image number N (for the app's heatmaps)
    STORE/maps/LAYER.npy         (C, 2, K, h, w) float32 spatial maps of every example (sides: top, bottom)

Every file is written to a temporary name in its folder and renamed into place. The identity is the model,
the SHA-256 of its weights, the folder's digest (names, sizes, modification times), the layers and the
settings; a store refuses to be continued with another.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featviz_core.atlas.entries import write_atomically
from featviz_core.examples import ExamplesError
from featviz_core.examples.topk import PAD_ID, SIDES, State, from_arrays, to_arrays

FORMAT = "featviz-examples/1"
RESULT, CHECKPOINT = "examples.json", "checkpoint.npz"
CROPS, VIEWS, MAPS = "crops", "views", "maps"
CROP_SIDE = 160  # largest side of a crop PNG, in pixels
OWN_FILES = (RESULT, CHECKPOINT, CROPS, VIEWS, MAPS, ".lock")


@dataclass(frozen=True)
class ExamplesIdentity:
    """What a store is of: every number in it depends on these and only these."""

    model: str
    weights_sha256: str
    folder: str
    folder_digest: str
    images: int
    layers: dict[str, int]
    grids: dict[str, tuple[int, int]]
    settings: tuple[tuple[str, Any], ...]

    @property
    def settings_dict(self) -> dict[str, Any]:
        return dict(self.settings)

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "weights_sha256": self.weights_sha256, "folder": self.folder,
                "folder_digest": self.folder_digest, "images": self.images, "layers": dict(self.layers),
                "grids": {k: list(v) for k, v in self.grids.items()}, "settings": dict(self.settings)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ExamplesIdentity":
        try:
            return cls(str(data["model"]), str(data["weights_sha256"]), str(data["folder"]),
                       str(data["folder_digest"]), int(data["images"]),
                       {str(k): int(v) for k, v in dict(data["layers"]).items()},
                       {str(k): (int(v[0]), int(v[1])) for k, v in dict(data["grids"]).items()},
                       tuple(sorted(dict(data["settings"]).items())))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ExamplesError(f"the store does not say what it is of ({exc})") from None

    @property
    def key(self) -> str:
        payload = json.dumps({"format": FORMAT, **self.to_json()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def differences(self, other: "ExamplesIdentity") -> list[str]:
        """What differs from ``other`` (the store's), for a message."""
        mine, theirs = self.to_json(), other.to_json()
        found = []
        for name in ("model", "weights_sha256", "folder", "folder_digest", "images", "layers"):
            if mine[name] != theirs[name]:
                what = {"folder_digest": "the folder's files (names, sizes or times) differ",
                        "weights_sha256": "other weights"}.get(name, f"{name} {mine[name]!r} here, "
                                                                     f"{theirs[name]!r} in the store")
                found.append(what)
        for name in sorted(set(mine["settings"]) | set(theirs["settings"])):
            if mine["settings"].get(name) != theirs["settings"].get(name):
                found.append(f"{name} {mine['settings'].get(name)!r} here, {theirs['settings'].get(name)!r} "
                             "in the store")
        return found


@dataclass
class Checkpoint:
    identity: ExamplesIdentity
    state: State
    done: set[int]
    used: int
    skipped: list[tuple[str, str]]


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    meta = {"format": FORMAT, "identity": checkpoint.identity.to_json(), "done": sorted(checkpoint.done),
            "used": checkpoint.used, "skipped": [list(s) for s in checkpoint.skipped]}
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps(meta)), **to_arrays(checkpoint.state))
    write_atomically(Path(path) / CHECKPOINT, buffer.getvalue())


def load_checkpoint(path: Path) -> Checkpoint | None:
    """The store's checkpoint, or None when it has none. Raises ExamplesError when it is damaged."""
    file = Path(path) / CHECKPOINT
    if not file.exists():
        return None
    try:
        with np.load(file, allow_pickle=False) as arrays:
            meta = json.loads(str(arrays["meta"]))
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            identity = ExamplesIdentity.from_json(meta["identity"])
            state = from_arrays(arrays, list(identity.layers))
        return Checkpoint(identity, state, set(map(int, meta["done"])), int(meta["used"]),
                          [(str(a), str(b)) for a, b in meta["skipped"]])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ExamplesError(f"{file} is damaged ({exc}); remove it to start over") from None


def crop_name(layer: str, channel: int, side: str, rank: int) -> str:
    from featviz_core.atlas.store import layer_folder

    return f"{CROPS}/{layer_folder(layer)}/{channel}-{side}-{rank}.png"


def map_name(layer: str) -> str:
    from featviz_core.atlas.store import layer_folder

    return f"{MAPS}/{layer_folder(layer)}.npy"


def result_json(identity: ExamplesIdentity, state: State, files: list[str], used: int,
                skipped: list[tuple[str, str]]) -> dict[str, Any]:
    """examples.json's content (no clock time in it: a resumed run writes the very same file)."""
    layers = {}
    for layer, channels in identity.layers.items():
        rows = []
        for channel in range(channels):
            row = {}
            for side in SIDES:
                ranked = state[layer][side]
                row[side] = [{"image": files[int(ranked.ids[channel, r])], "number": int(ranked.ids[channel, r]),
                              "activation": float(ranked.values[channel, r]),
                              "position": [int(v) for v in ranked.positions[channel, r]],
                              "view_box": [int(v) for v in ranked.boxes[channel, r, :4]],
                              "box": [int(v) for v in ranked.boxes[channel, r, 4:]],
                              "crop": crop_name(layer, channel, side, r)}
                             for r in range(ranked.ids.shape[1]) if ranked.ids[channel, r] != PAD_ID]
            rows.append(row)
        layers[layer] = {"channels": channels, "grid": list(identity.grids[layer]), "maps": map_name(layer),
                         "examples": rows}
    return {"format": FORMAT, **identity.to_json(), "key": identity.key,
            "counts": {"images": len(files), "used": used, "skipped": len(skipped)},
            "skipped": [{"image": name, "reason": reason} for name, reason in sorted(skipped)],
            "layers": layers}


def write_result(out: Path, folder: Path, identity: ExamplesIdentity, state: State, files: list[str],
                 used: int, skipped: list[tuple[str, str]]) -> None:
    """Maps, crops and views of every example, then examples.json (each file atomically, the JSON last)."""
    from PIL import Image

    from featviz_core.examples.folder import decode, read_bytes, view_of

    settings = identity.settings_dict
    wanted: dict[int, list[tuple[str, int, str, int]]] = {}  # image number -> the crops cut from it
    for layer in identity.layers:
        maps = np.stack([state[layer][side].maps for side in SIDES], axis=1)  # (C, 2, K, h, w)
        buffer = io.BytesIO()
        np.save(buffer, maps.astype(np.float32))
        (out / map_name(layer)).parent.mkdir(parents=True, exist_ok=True)
        write_atomically(out / map_name(layer), buffer.getvalue())
        (out / crop_name(layer, 0, "top", 0)).parent.mkdir(parents=True, exist_ok=True)
        for side in SIDES:
            ids = state[layer][side].ids
            for channel, rank in zip(*np.nonzero(ids != PAD_ID)):
                wanted.setdefault(int(ids[channel, rank]), []).append((layer, int(channel), side, int(rank)))
    (out / VIEWS).mkdir(exist_ok=True)
    for number in sorted(wanted):
        data, _ = read_bytes(folder / files[number], settings["max_bytes"])
        image = decode(data, settings["max_bytes"], settings["max_side"])[0] if data is not None else None
        if image is None:
            raise ExamplesError(f"{files[number]} changed or vanished during the run; run again with a new --out")
        view = (view_of(image, settings["size"]) * 255).round().astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(view).save(buffer, format="JPEG", quality=90)
        write_atomically(out / VIEWS / f"{number}.jpg", buffer.getvalue())
        for layer, channel, side, rank in wanted[number]:
            x0, y0, x1, y1 = (int(v) for v in state[layer][side].boxes[channel, rank, 4:])
            crop = image.crop((x0, y0, x1, y1))
            crop.thumbnail((CROP_SIDE, CROP_SIDE), Image.LANCZOS)
            buffer = io.BytesIO()
            crop.save(buffer, format="PNG")
            write_atomically(out / crop_name(layer, channel, side, rank), buffer.getvalue())
    data = json.dumps(result_json(identity, state, files, used, skipped), indent=1).encode()
    write_atomically(out / RESULT, data)
