"""One optimization step of a chunk, and the snapshot of all chunks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from featviz_core.errors import NonFiniteError
from featviz_core.method.alpha import rgba_for_display
from featviz_core.method.maco import importance_maps, optimizer_choice
from featviz_core.method.param import to_uint8
from featviz_core.models.activations import channels_first
from featviz_core.models.capture import capture_layers
from featviz_core.render.chunks import Chunk
from featviz_core.render.compiled import compile_seconds_for
from featviz_core.render.compute_path import ComputePath
from featviz_core.render.results import Snapshot
from featviz_core.render.start import RenderSetup
from featviz_core.request import RenderRequest

Forward = Callable[[torch.Tensor], dict[str, torch.Tensor]]


@dataclass
class ModelRun:
    """Runs the model to the layers a chunk reads: eagerly (hooks that stop at the last layer) or through
    a compiled forward pass, whose compile time it counts so that it can be left out of ``elapsed_s``."""

    model: torch.nn.Module
    preprocess: Callable[[torch.Tensor], torch.Tensor]
    compiled: Forward | None = None
    compiling_s: float = 0.0
    path: ComputePath | None = None  # the model's dtype and layout; None or the default: the model as is

    def __call__(self, x: torch.Tensor, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """Activations of ``layers`` for the (B, 3, S, S) images ``x`` in [0, 1], in float32."""
        if self.path is not None and not self.path.is_default:
            with self.path.autocast(x.device):
                acts = self._run(self.path.model_input(self.preprocess(x)), layers)
            return self.path.activations(acts)
        return self._run(self.preprocess(x), layers)

    def _run(self, x: torch.Tensor, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
        if self.compiled is None:
            return capture_layers(self.model, layers, x)
        before = compile_seconds_for(self.model)
        acts = self.compiled(x)
        self.compiling_s += compile_seconds_for(self.model) - before
        return {name: channels_first(output) for name, output in acts.items()}


def optimization_step(setup: RenderSetup, chunk: Chunk, step: int, run: ModelRun) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step (the request's optimizer, at its scheduled rate) of ``chunk`` at ``step`` (1-based);
    returns its detached (B,) scores and its loss.

    The scores are the objective of what the model saw this step (for a transparent render: the composite
    over this step's backgrounds, before the transparency weighting), computed before the step's update.
    """
    chunk.optimizer.zero_grad(set_to_none=True)
    pixels = chunk.param()
    seen, view_alpha = setup.model_input(pixels, chunk, step)
    acts = run(seen, chunk.objective.layers)
    scores = chunk.objective.score(acts)  # what the loop reports: the objective on what the model saw
    maximized = scores if setup.transparency is None else setup.transparency.weighted(scores, pixels, view_alpha)
    objective = setup.penalties.objective(maximized, pixels, acts, chunk)
    loss = setup.penalties.loss(objective, pixels, acts, chunk)
    loss.backward(inputs=chunk.tensors)  # gradients go to the image only, never into the model
    if setup.rates is not None:
        for group in chunk.optimizer.param_groups:
            group["lr"] = setup.rates[min(step, len(setup.rates)) - 1]
    chunk.optimizer.step()
    return scores.detach(), loss.detach()


@dataclass
class Progress:
    """What the loop has gathered so far: every image's score at every step and the latest total loss."""

    request: RenderRequest
    history: torch.Tensor  # (steps, count), filled up to the current step
    started: float
    note: str = ""

    def snapshot(self, setup: RenderSetup, run: ModelRun, step: int, loss_total: torch.Tensor,
                 reason: str | bool) -> Snapshot:
        """The snapshot after ``step``; ``reason`` (truthy) ends the render there.

        Raises:
            NonFiniteError: the loss or a parameter is no longer finite.
        """
        request = self.request
        loss_value = float(loss_total)
        if not np.isfinite(loss_value) or not all(torch.isfinite(t).all() for c in setup.chunks for t in c.tensors):
            raise NonFiniteError(
                f"the optimization produced non-finite values by step {step}; the learning rate "
                f"({optimizer_choice(request)[1]:g}) or the TV/L2 weights ({request.tv:g}/{request.l2:g}) are probably too "
                "large, or the model's weights are broken"
            )
        hist = self.history[:step].cpu().numpy()
        return Snapshot(
            step=step,
            steps=request.steps,
            images=current_images(setup),
            scores=hist[-1].copy(),
            history=hist,
            loss=loss_value,
            elapsed_s=time.perf_counter() - self.started - run.compiling_s,
            done=step == request.steps or bool(reason),
            stopped=(reason if isinstance(reason, str) and reason else "stopped") if reason and step < request.steps else "",
            note=self.note,
            importance=importance_maps(setup.chunks, setup.count),
        )


@torch.no_grad()
def current_images(setup: RenderSetup) -> np.ndarray:
    """(count, H, W, C) uint8: every chunk's images, each at its place in the request; C = 4 for a transparent
    render (gamma-encoded RGB and the alpha, as :func:`~featviz_core.method.alpha.rgba_for_display`)."""
    show = rgba_for_display if setup.transparency is not None else (lambda pixels: pixels)
    parts = [(chunk.images, to_uint8(show(chunk.param()))) for chunk in setup.chunks]
    images = np.empty((setup.count, *parts[0][1].shape[1:]), dtype=np.uint8)
    for where, pixels in parts:
        images[list(where)] = pixels
    return images
