"""One chunk of images through the model: the unit of work of both engines.

A :class:`ChunkScanner` holds the model once and turns a :class:`Chunk` (files already read as bytes, so a
Ray worker needs no access to the folder) into a partial top-K state: every image decoded with the upload
rules, cut to the model's square view, run as one batch up to the deepest requested layer (no gradients),
and for each channel its mean activation, the position of its highest and lowest activation, the crop box
around each and the spatial map. Images that cannot be used are returned as skipped, with the reason.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from featviz_core.examples import ExamplesError
from featviz_core.examples.folder import Placement, decode, view_of
from featviz_core.examples.topk import SIDES, Ranked, State


@dataclass
class Chunk:
    """Images ``first .. first + len(names) - 1`` of the folder's sorted list.

    Attributes:
        index: the chunk's number (chunk i holds images i*B .. i*B+B-1 of the sorted list).
        first: number of its first image.
        names: paths relative to the folder.
        data: each file's bytes, or None when it could not be read (``reasons`` says why).
    """

    index: int
    first: int
    names: list[str]
    data: list[bytes | None]
    reasons: list[str]


@dataclass
class ChunkOutput:
    index: int
    state: State
    used: int
    skipped: list[tuple[str, str]]
    seconds: float
    worker: dict = field(default_factory=dict)


class ChunkScanner:
    """One model on one device, scanning chunks for an examples identity.

    Args:
        identity: the store's :class:`~featviz_core.examples.store.ExamplesIdentity`; the weights found here
            must match its digest.
        device: "cpu", "cuda", ... (None: FEATVIZ_DEVICE or auto).
        threads: torch intra-op threads (None: torch's choice). Engines that must agree bit for bit use the
            same number.
    """

    def __init__(self, identity, *, device: str | None = None, threads: int | None = None) -> None:
        import torch

        from featviz_core.atlas.identity import weights_digest
        from featviz_core.device import keep_cpu_memory, resolve_device
        from featviz_core.models import get_spec, load_model

        if threads is not None:
            torch.set_num_threads(int(threads))
        self.identity = identity
        self.device = resolve_device(device)
        if self.device.type == "cpu":
            keep_cpu_memory()  # each batch's freed activations are reused by the next (see its docstring)
        found = weights_digest(identity.model, allow_download=True)
        if found != identity.weights_sha256:
            raise ExamplesError(f"the {identity.model} weights on {socket.gethostname()} have SHA-256 "
                                f"{found[:12]}..., but the examples are of {identity.weights_sha256[:12]}...; "
                                "give every worker the same weight file")
        self.spec = get_spec(identity.model)
        self.model = load_model(identity.model, self.device)
        self.worker = {"host": socket.gethostname(), "pid": os.getpid(), "device": str(self.device),
                       "threads": torch.get_num_threads()}

    def __call__(self, chunk: Chunk) -> ChunkOutput:
        import torch

        from featviz_core.models.capture import capture_layers

        started = time.perf_counter()
        settings = self.identity.settings_dict
        side, crop, k = settings["size"], settings["crop"], settings["top"]
        views, ids, placements, skipped = [], [], [], []
        for offset, (name, data, reason) in enumerate(zip(chunk.names, chunk.data, chunk.reasons)):
            image = None
            if data is not None:
                image, reason = decode(data, settings["max_bytes"], settings["max_side"])
            if image is None:
                skipped.append((name, reason))
                continue
            views.append(view_of(image, side))
            ids.append(chunk.first + offset)
            placements.append(Placement(image.width, image.height, side))
        layers = self.identity.layers
        if not views:
            state = {layer: {s: Ranked.empty(c, k, tuple(self.identity.grids[layer]), s) for s in SIDES}
                     for layer, c in layers.items()}
            return ChunkOutput(chunk.index, state, 0, skipped, time.perf_counter() - started, dict(self.worker))
        x = torch.from_numpy(np.stack(views)).permute(0, 3, 1, 2).contiguous().to(self.device)
        with torch.inference_mode():
            captured = capture_layers(self.model, list(layers), self.spec.preprocess.apply(x))
            acts = {layer: captured[layer].float().cpu().numpy() for layer in layers}
        state = {layer: self._partial(acts[layer], np.asarray(ids, np.int64), placements, crop, k)
                 for layer in layers}
        return ChunkOutput(chunk.index, state, len(ids), skipped, time.perf_counter() - started, dict(self.worker))

    @staticmethod
    def _partial(acts: np.ndarray, ids: np.ndarray, placements: list[Placement], crop: int, k: int):
        """acts: (B, C, h, w) -> {"top": Ranked, "bottom": Ranked}, each cut to the k best."""
        b, c, h, w = acts.shape
        means = acts.mean(axis=(2, 3), dtype=np.float64).astype(np.float32)  # the channel objective's score
        flat = acts.reshape(b, c, h * w)
        out = {}
        for side in SIDES:
            where = flat.argmax(axis=2) if side == "top" else flat.argmin(axis=2)  # (B, C), first on ties
            rows, cols = where // w, where % w
            ranked = Ranked(values=means.T.copy(), ids=np.broadcast_to(ids, (c, b)).copy(),
                            positions=np.stack([rows, cols], axis=-1).astype(np.int32).transpose(1, 0, 2),
                            boxes=np.zeros((c, b, 8), np.int32), maps=acts.transpose(1, 0, 2, 3))
            ranked = ranked.ranked(k, side)
            by_id = dict(zip(ids.tolist(), placements))
            for j, slot in zip(*np.nonzero(ranked.filled())):  # boxes of the kept ones only
                row, col = ranked.positions[j, slot]
                view, image = by_id[int(ranked.ids[j, slot])].box(int(row), int(col), (h, w), crop)
                ranked.boxes[j, slot] = view + image
            out[side] = ranked
        return out


class LocalEngine:
    """Scans chunks one after another in this process."""

    name = "local"

    def __init__(self, *, device: str | None = None, threads: int | None = None) -> None:
        self.device, self.threads = device, threads
        self._scanner: ChunkScanner | None = None
        self._threads_before: int | None = None

    def describe(self) -> str:
        import torch

        threads = self.threads or torch.get_num_threads()
        return f"one process ({threads} thread{'s' if threads > 1 else ''})"

    def start(self) -> None:
        """Nothing to start: the model is loaded with the first chunk."""

    def run(self, identity, indices: list[int], read) -> Iterator[ChunkOutput]:
        """Yield each chunk's output in order; ``read(index)`` gives the chunk's bytes."""
        if self._scanner is None:
            import torch

            self._threads_before = torch.get_num_threads()
            self._scanner = ChunkScanner(identity, device=self.device, threads=self.threads)
        for index in indices:
            yield self._scanner(read(index))

    def close(self) -> None:
        if self._scanner is not None and self._threads_before is not None:
            import torch

            torch.set_num_threads(self._threads_before)
        self._scanner = None
