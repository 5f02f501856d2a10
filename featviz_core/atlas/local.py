"""Rendering atlas batches: the renderer every engine uses, and the single-process engine.

A :class:`BatchRenderer` holds one model on one device and turns a :class:`Batch` into images and final
activations with the ordinary core (``render``), at the store's images per forward pass and a fixed number
of intra-op threads: the Ray actors wrap the same class, so one batch is the same arithmetic in both engines.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from featviz_core.atlas import AtlasError
from featviz_core.atlas.batch_plan import Batch, Plan
from featviz_core.atlas.identity import AtlasIdentity, weights_digest


@dataclass
class BatchOutput:
    """A rendered batch.

    Attributes:
        batch: which channels.
        images: (B, H, W, 3) uint8, in ``batch.channels`` order.
        activations: B final activations (objective without random transforms, as ``render`` scores it).
        seconds: wall time of the render.
        worker: where it ran: ``{"host", "pid", "device", "threads"}``.
    """

    batch: Batch
    images: np.ndarray
    activations: list[float]
    seconds: float
    worker: dict = field(default_factory=dict)


class BatchRenderer:
    """One model on one device, rendering batches of an atlas identity.

    Args:
        identity: the store's model, weights digest and settings; the weights found here must match.
        plan: images per forward pass.
        device: "cpu", "cuda", ... (None: FEATVIZ_DEVICE or auto).
        threads: intra-op threads of torch in this process (None: leave torch's choice). Results can
            differ in the last bits between thread counts, so engines that must agree set the same number.
    """

    def __init__(self, identity: AtlasIdentity, plan: Plan, *, device: str | None = None,
                 threads: int | None = None) -> None:
        import torch

        from featviz_core.device import resolve_device
        from featviz_core.models import load_model

        if threads is not None:
            torch.set_num_threads(int(threads))
        self.identity, self.plan = identity, plan
        self.device = resolve_device(device)
        found = weights_digest(identity.model, allow_download=True)
        if found != identity.weights_sha256:
            raise AtlasError(
                f"the {identity.model} weights on {socket.gethostname()} have SHA-256 {found[:12]}..., but the "
                f"atlas is of {identity.weights_sha256[:12]}...; give every worker the same weight file"
            )
        self.model = load_model(identity.model, self.device)
        self.worker = {"host": socket.gethostname(), "pid": os.getpid(), "device": str(self.device),
                       "threads": torch.get_num_threads()}

    def __call__(self, batch: Batch) -> BatchOutput:
        from featviz_core.render import render

        request = self.identity.request(batch.layer, batch.channels)
        started = time.perf_counter()
        # One snapshot, at the end: snapshots only read the images, so their interval never changes them.
        result = render(request, model=self.model, device=self.device, snapshot_every=request.steps,
                        batch_size=self.plan.images_per_pass)
        return BatchOutput(batch, result.images, [float(s) for s in result.scores],
                           time.perf_counter() - started, dict(self.worker))


class LocalEngine:
    """Renders batches one after another in this process."""

    name = "local"

    def __init__(self, *, device: str | None = None, threads: int | None = None) -> None:
        from featviz_core.device import resolve_device

        self.device_name = device
        self.device_type = resolve_device(device).type
        self.threads = threads
        self.in_flight = 1
        self._renderer: BatchRenderer | None = None
        self._threads_before: int | None = None

    def describe(self) -> str:
        import torch

        threads = self.threads or torch.get_num_threads()
        return f"one process on {self.device_type} ({threads} thread{'s' if threads > 1 else ''})"

    def start(self) -> None:
        """Nothing to start: the model is loaded with the first batch."""

    def run(self, identity: AtlasIdentity, plan: Plan, batches: list[Batch],
            started=lambda batch: None) -> Iterator[BatchOutput]:
        """Yield each batch's output in order; ``started(batch)`` just before it renders."""
        if self._renderer is None:
            import torch

            self._threads_before = torch.get_num_threads()
            self._renderer = BatchRenderer(identity, plan, device=self.device_name, threads=self.threads)
        for batch in batches:
            started(batch)
            yield self._renderer(batch)

    def close(self) -> None:
        """Forget the renderer and give torch back the thread count it had (this process may go on)."""
        if self._renderer is not None and self._threads_before is not None:
            import torch

            torch.set_num_threads(self._threads_before)
        self._renderer = None
