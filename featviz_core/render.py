"""The render loop: many images, one optimization, live snapshots.

``render_iter`` optimizes a batch of images (image ``i`` for objective ``i``) with Adam and yields a
:class:`Snapshot` every ``snapshot_every`` steps and at the end. Closing the iterator cancels the render;
``should_stop`` ends it early with a final snapshot that keeps the partial result. ``render`` drains it.

Correctness contracts:
    * each image's initial noise and random transforms come from its own generator, seeded from the
      request's seed and the image's objective, so batching does not change what an image starts from or
      sees;
    * the loss is a sum over images, so image ``i``'s gradient does not depend on the batch;
    * the model must be in eval mode (batch norm in training mode would couple the images);
    * gradients flow only into the image parameters; the shared model is never modified.

Reproducibility (what the tests check, on Intel and AMD CPUs alike):
    * the same request with the same ``batch_size`` gives identical pixels on the same machine: how the
      images are split into batches depends only on the request and ``batch_size``;
    * with ``batch_size=1`` an image is bit-identical alone or beside other channels: it is computed on
      its own;
    * in a batch of another shape, an image follows the same optimization but kernels may round
      differently (oneDNN picks kernels by batch shape), and Adam can amplify that rounding (most in a
      channel whose gradient is almost zero): its first step's objective agrees within float rounding,
      its pixels are not promised equal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from featviz_core.capture import capture_layers
from featviz_core.compiled import compile_seconds_for
from featviz_core.device import resolve_device
from featviz_core.errors import NonFiniteError, RenderError
from featviz_core.models import get_spec, load_model
from featviz_core.models.fast import model_for_render
from featviz_core.objectives import BatchObjective, Objective
from featviz_core.param import INIT_SD, ImageParam, raw_shape, to_uint8
from featviz_core.request import RenderRequest
from featviz_core.transforms import apply_transforms, get_preset, sample_params


@dataclass(frozen=True)
class Snapshot:
    """The state of a render after ``step`` of ``steps`` optimization steps.

    Attributes:
        images: (B, H, W, 3) uint8, the current images.
        scores: (B,) objective value of each image at this step (on the transformed input).
        history: (step, B) objective of each image at every step so far.
        loss: total loss at this step (minus the objectives plus the penalties, summed over images).
        elapsed_s: seconds since the render started.
        done: True on the last snapshot (all steps ran, or the render was stopped).
        stopped: why the render ended early ("" when it ran all steps).
    """

    step: int
    steps: int
    images: np.ndarray
    scores: np.ndarray
    history: np.ndarray
    loss: float
    elapsed_s: float
    done: bool = False
    stopped: str = ""
    note: str = ""

    @property
    def fraction(self) -> float:
        return self.step / self.steps if self.steps else 1.0

    @property
    def remaining_s(self) -> float:
        if self.step == 0:
            return float("nan")
        return self.elapsed_s / self.step * (self.steps - self.step)


@dataclass
class RenderResult:
    """A finished (or stopped) render."""

    request: RenderRequest
    images: np.ndarray  # (B, H, W, 3) uint8
    labels: list[str]
    scores: np.ndarray  # (B,) objective of each final image, evaluated without transforms
    history: np.ndarray  # (steps_done, B)
    steps_done: int
    elapsed_s: float
    device: str
    stopped: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Per-image ``sum |x[i+1,j] - x[i,j]| + |x[i,j+1] - x[i,j]|`` over channels and pixels: (B,)."""
    dy = (images[:, :, 1:, :] - images[:, :, :-1, :]).abs().sum(dim=(1, 2, 3))
    dx = (images[:, :, :, 1:] - images[:, :, :, :-1]).abs().sum(dim=(1, 2, 3))
    return dy + dx


def l2_norm_squared(images: torch.Tensor) -> torch.Tensor:
    """Per-image ``||x||^2``: (B,)."""
    return images.pow(2).sum(dim=(1, 2, 3))


def default_batch_size(device: torch.device) -> int:
    # On a CPU, small batches keep activations in cache: 2 images per pass measured fastest on 2 cores
    # (bench/scaling.py); on a GPU, large batches amortize kernel launches.
    return 64 if device.type == "cuda" else 2


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    request: RenderRequest,
    images: torch.Tensor,
    objectives: list[Objective] | None = None,
    *,
    batch_size: int | None = None,
) -> np.ndarray:
    """Objective of each image without random transforms (resized to the model's input size): (B,).

    Images are scored ``batch_size`` at a time (default as for rendering), halving on out-of-memory, so a
    render that only fitted in small chunks can still be scored.
    """
    objectives = objectives if objectives is not None else request.objectives()
    chunk = max(1, batch_size or default_batch_size(images.device))
    while True:
        try:
            parts = [_evaluate_chunk(model, request, images[i:i + chunk], objectives[i:i + chunk])
                     for i in range(0, len(objectives), chunk)]
            return np.concatenate(parts)
        except RuntimeError as exc:
            if not _is_oom(exc):
                raise
            if chunk == 1:
                raise RenderError(
                    f"out of {images.device.type.upper()} memory scoring one image; try a smaller image size"
                ) from None
        if images.device.type == "cuda":
            torch.cuda.empty_cache()
        chunk = max(1, chunk // 2)


def _evaluate_chunk(model: torch.nn.Module, request: RenderRequest, images: torch.Tensor,
                    objectives: list[Objective]) -> np.ndarray:
    spec = get_spec(request.model)
    side = request.scoring_input_size
    x = images
    if x.shape[-1] != side:
        x = torch.nn.functional.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
    batch = BatchObjective(objectives, device=x.device)
    acts = capture_layers(model, batch.layers, spec.preprocess.apply(x))
    return batch.score(acts).cpu().numpy()


def render_iter(
    request: RenderRequest,
    *,
    model: torch.nn.Module | None = None,
    device: str | torch.device | None = None,
    snapshot_every: int = 16,
    batch_size: int | None = None,
    should_stop: Callable[[], str | bool] | None = None,
    fast: bool = True,
    compile: bool = False,
) -> Iterator[Snapshot]:
    """Render ``request``, yielding snapshots.

    Args:
        request: what to render.
        model: the model to use (default: the shared pretrained model of ``request.model``). Must be in
            eval mode; it is not modified.
        device: "cpu", "cuda", ... (default: FEATVIZ_DEVICE or auto). The model is expected on it.
        snapshot_every: yield every this many steps (and always at the last step).
        batch_size: images per forward pass; more images are processed in chunks, all in lock-step.
            On CUDA out-of-memory the chunk is halved and the render restarts. Pixels can depend on it
            in the last bits (see the module's reproducibility notes); 1 makes every image independent
            of its neighbours.
        should_stop: polled every step; a truthy value (a reason string) ends the render with a final
            snapshot marked ``stopped``.
        fast: optimize with the model's checked render variant (batch norm folded into convolutions,
            cheaper redirected-ReLU backward; see ``featviz_core.models.fast``). Same function, less work.
        compile: run the forward pass through ``torch.compile`` (``featviz_core.compiled``), cut at the
            target layers. A runtime setting, not part of the request: activations agree with eager within
            float rounding, not bitwise. Compiling takes seconds to minutes, once per process for each
            (model, layers, batch shape), and is not counted in ``elapsed_s``. A model that cannot be cut
            renders eagerly, with a note on the snapshots.

    Raises:
        NonFiniteError: the optimization produced NaN/inf (checked at every snapshot).
        RenderError: out of memory even with one image per chunk.
    """
    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    if model is None:
        model = load_model(request.model, dev)
    if model.training:
        raise RenderError("the model is in training mode; images in a batch are independent only in eval mode")
    if snapshot_every < 1:
        raise RenderError("snapshot_every must be at least 1")
    if fast:
        layers = tuple(dict.fromkeys(layer for objective in request.objectives() for layer in objective.layers))
        model = model_for_render(model, layers)
    chunk = max(1, batch_size or default_batch_size(dev))
    forward, compile_note = _forward_pass(model, request, compile)
    note = compile_note
    while True:
        try:
            yield from _render_chunks(request, model, dev, snapshot_every, chunk, should_stop, note, forward)
            return
        except RenderError:
            raise
        except RuntimeError as exc:
            if not _is_oom(exc):
                raise
            if chunk == 1:
                raise RenderError(
                    f"out of {dev.type.upper()} memory even with one image per batch; try a smaller image "
                    "size or an earlier layer, or try again when fewer renders are running"
                ) from None
        # Outside the except block: the traceback, whose frames hold the failed step's tensors, is gone,
        # so emptying the CUDA cache can actually return that memory.
        if dev.type == "cuda":
            torch.cuda.empty_cache()
        chunk = max(1, chunk // 2)
        # Only the latest chunk size is news: each retry replaces the memory note, never appends to it.
        note = "; ".join(filter(None, [compile_note, f"memory was short; continued with {chunk} image(s) per batch"]))


Forward = Callable[[torch.Tensor], dict[str, torch.Tensor]]


def _forward_pass(model: torch.nn.Module, request: RenderRequest, compile: bool) -> tuple[Forward | None, str]:
    """The compiled forward pass for the request's layers (None: eager) and a note when compiling was refused."""
    if not compile:
        return None, ""
    from featviz_core.compiled import CompileUnavailable, compiled_forward

    layers = tuple(dict.fromkeys(layer for objective in request.objectives() for layer in objective.layers))
    try:
        return compiled_forward(model, layers), ""
    except CompileUnavailable as exc:
        return None, f"not compiled ({exc}); rendered eagerly"


def _render_chunks(
    request: RenderRequest,
    model: torch.nn.Module,
    dev: torch.device,
    snapshot_every: int,
    chunk: int,
    should_stop: Callable[[], str | bool] | None,
    note: str,
    forward: Forward | None = None,
) -> Iterator[Snapshot]:
    spec = get_spec(request.model)
    preset = get_preset(request.transforms)
    objectives = request.objectives()
    count = len(objectives)
    steps = request.steps
    side = request.model_input_size

    raws, draws = [], []
    for seed in request.image_seeds():
        generator = torch.Generator().manual_seed(seed)
        raws.append(torch.randn(raw_shape(request.size, request.fft), generator=generator) * INIT_SD)
        draws.append(sample_params(preset, steps, generator))
    raw = torch.stack(raws).to(dev)
    draws_host = torch.stack(draws, dim=1)  # (steps, B, 6)
    # A preset whose image sizes depend on the draws reads them on the host; the others on the device, so
    # the step loop never waits for it.
    draws_dev = draws_host if preset.resample_each else draws_host.to(dev)

    chunks = []
    for start in range(0, count, chunk):
        idx = list(range(start, min(start + chunk, count)))
        image = ImageParam(raw[idx].clone(), request.size, request.fft, request.decorrelate).to(dev)
        optimizer = torch.optim.Adam([image.raw], lr=request.lr)
        chunks.append((slice(idx[0], idx[-1] + 1), image, optimizer, BatchObjective([objectives[i] for i in idx], dev)))

    history = torch.zeros(steps, count, device=dev)
    loss_total = torch.zeros((), device=dev)
    started = time.perf_counter()
    compiling_s = 0.0  # compile time (first step of each batch shape) is left out of elapsed_s
    for step in range(1, steps + 1):
        loss_total = torch.zeros((), device=dev)
        for where, image, optimizer, batch in chunks:
            optimizer.zero_grad(set_to_none=True)
            pixels = image()
            x = apply_transforms(pixels, preset, draws_dev[step - 1, where], side)
            if forward is None:
                acts = capture_layers(model, batch.layers, spec.preprocess.apply(x))
            else:
                before = compile_seconds_for(model)
                acts = forward(spec.preprocess.apply(x))
                compiling_s += compile_seconds_for(model) - before
            scores = batch.score(acts)
            objective = scores
            if request.tv:
                objective = objective - request.tv * total_variation(pixels)
            if request.l2:
                objective = objective - request.l2 * l2_norm_squared(pixels)
            loss = -objective.sum()
            loss.backward(inputs=[image.raw])  # gradients go to the image only, never into the model
            optimizer.step()
            history[step - 1, where] = scores.detach()
            loss_total = loss_total + loss.detach()
        reason = should_stop() if should_stop is not None else ""
        if step % snapshot_every == 0 or step == steps or reason:
            loss_value = float(loss_total)
            if not np.isfinite(loss_value) or not all(torch.isfinite(c[1].raw).all() for c in chunks):
                raise NonFiniteError(
                    f"the optimization produced non-finite values by step {step}; the learning rate "
                    f"({request.lr:g}) or the TV/L2 weights ({request.tv:g}/{request.l2:g}) are probably too "
                    "large, or the model's weights are broken"
                )
            with torch.no_grad():
                images = np.concatenate([to_uint8(c[1]()) for c in chunks])
            hist = history[:step].cpu().numpy()
            yield Snapshot(
                step=step,
                steps=steps,
                images=images,
                scores=hist[-1].copy(),
                history=hist,
                loss=loss_value,
                elapsed_s=time.perf_counter() - started - compiling_s,
                done=step == steps or bool(reason),
                stopped=(reason if isinstance(reason, str) and reason else "stopped") if reason and step < steps else "",
                note=note,
            )
            if reason:
                return


def final_images(snapshot: Snapshot) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(snapshot.images).permute(0, 3, 1, 2).float() / 255.0


def render(
    request: RenderRequest,
    *,
    model: torch.nn.Module | None = None,
    device: str | torch.device | None = None,
    on_snapshot: Callable[[Snapshot], None] | None = None,
    **options,
) -> RenderResult:
    """Run ``render_iter`` to the end and return the result with final objective values."""
    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    model = model if model is not None else load_model(request.model, dev)
    last: Snapshot | None = None
    for snapshot in render_iter(request, model=model, device=dev, **options):
        last = snapshot
        if on_snapshot is not None:
            on_snapshot(snapshot)
    assert last is not None
    return result_from_snapshot(request, last, model, dev, batch_size=options.get("batch_size"))


def result_from_snapshot(request: RenderRequest, last: Snapshot, model: torch.nn.Module, dev: torch.device,
                         *, batch_size: int | None = None) -> RenderResult:
    scores = evaluate(model, request, final_images(last).to(dev), batch_size=batch_size)
    return RenderResult(
        request=request,
        images=last.images,
        labels=request.labels(),
        scores=scores,
        history=last.history,
        steps_done=last.step,
        elapsed_s=last.elapsed_s,
        device=str(dev),
        stopped=last.stopped,
        note=last.note,
    )
