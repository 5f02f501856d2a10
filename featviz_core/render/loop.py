"""The render loop: set up, step every chunk in lock-step, snapshot; retry in smaller chunks on out-of-memory."""

from __future__ import annotations

import time
from typing import Callable, Iterator

import torch

from featviz_core.device import keep_cpu_memory, resolve_device
from featviz_core.errors import RenderError
from featviz_core.method.maco import optimizer_note
from featviz_core.models import get_spec, load_model
from featviz_core.models.budget import check_render_fits
from featviz_core.models.fast import render_model
from featviz_core.render.compute_path import ComputePath, model_for_path, request_path
from featviz_core.render.results import RenderResult, Snapshot
from featviz_core.render.scoring import check_retry, default_batch_size, halved, result_from_snapshot
from featviz_core.render.start import set_up
from featviz_core.render.step import Forward, ModelRun, Progress, optimization_step
from featviz_core.request import RenderRequest


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
            On out-of-memory (CUDA, or the CPU allocator) the chunk is halved and the render restarts.
            Pixels can depend on it in the last bits (see the module's reproducibility notes); 1 makes every
            image independent of its neighbours.
        should_stop: polled every step; a truthy value (a reason string) ends the render with a final
            snapshot marked ``stopped``.
        fast: optimize with the model's checked render variant (batch norm folded into convolutions,
            cheaper redirected-ReLU backward; see ``featviz_core.models.fast``). Same function, less work.
        compile: run the forward pass through ``torch.compile`` (``featviz_core.render.compiled``), cut at the
            target layers. A runtime setting, not part of the request: activations agree with eager within
            float rounding, not bitwise. Compiling takes seconds to minutes, once per process for each
            (model, layers, batch shape), and is not counted in ``elapsed_s``. A model that cannot be cut
            renders eagerly, with a note on the snapshots.

    Raises:
        NonFiniteError: the optimization produced NaN/inf (checked at every snapshot).
        RenderError: out of memory even with one image per chunk.
    """
    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    if dev.type == "cpu":
        keep_cpu_memory()  # once per process: a step's freed tensors are reused by the next (see its docstring)
    model, layers, path, eager_note = _render_model(request, model, dev, snapshot_every, fast)
    chunk = max(1, batch_size or default_batch_size(dev, path.channels_last))
    forward, compile_note = _forward_pass(model, layers, compile)
    compile_note = "; ".join(filter(None, [optimizer_note(request), eager_note, path.why, compile_note]))
    note = compile_note
    while True:
        try:
            yield from _render_chunks(request, model, dev, snapshot_every, chunk, should_stop, note, forward, path)
            return
        except RenderError:
            raise
        except RuntimeError as exc:
            check_retry(exc, chunk, dev, "even with one image per batch; try a smaller image size or an earlier "
                        "layer, or try again when fewer renders are running")
        chunk = halved(chunk, dev)
        # Only the latest chunk size is news: each retry replaces the memory note, never appends to it.
        note = "; ".join(filter(None, [compile_note, f"memory was short; continued with {chunk} image(s) per batch"]))


def _render_model(request: RenderRequest, model: torch.nn.Module | None, dev: torch.device, snapshot_every: int,
                  fast: bool) -> tuple[torch.nn.Module, tuple[str, ...], ComputePath, str]:
    """The model a render runs (the shared one of ``request.model`` by default; with ``fast``, its checked render
    variant; laid out for the request's compute path), the layers the request's objectives read, that path, and
    why the plain model runs ("" when the variant does or ``fast`` is off); the arguments checked first, and the
    render's memory estimate against the device's."""
    if model is None:
        model = load_model(request.model, dev)
    if model.training:
        raise RenderError("the model is in training mode; images in a batch are independent only in eval mode")
    if snapshot_every < 1:
        raise RenderError("snapshot_every must be at least 1")
    layers = tuple(dict.fromkeys(layer for objective in request.objectives() for layer in objective.layers))
    check_render_fits(request.model, request.model_input_size, layers, dev)
    eager_note = ""
    if fast:
        model, eager_note = render_model(model, layers, request.model_input_size)
    path = request_path(request, dev)  # float32/contiguous unless the request asks otherwise (compute_path)
    return model_for_path(model, path), layers, path, eager_note


def _forward_pass(model: torch.nn.Module, layers: tuple[str, ...], compile: bool) -> tuple[Forward | None, str]:
    """The compiled forward pass up to ``layers`` (None: eager) and a note when compiling was refused."""
    if not compile:
        return None, ""
    from featviz_core.render.compiled import CompileUnavailable, compiled_forward

    try:
        return compiled_forward(model, layers), ""
    except CompileUnavailable as exc:
        return None, f"not compiled ({exc}); rendered eagerly"


def _render_chunks(
    request: RenderRequest,
    model: torch.nn.Module,
    dev: torch.device,
    snapshot_every: int,
    batch_size: int,
    should_stop: Callable[[], str | bool] | None,
    note: str,
    forward: Forward | None = None,
    path: ComputePath | None = None,
) -> Iterator[Snapshot]:
    setup = set_up(request, dev, batch_size)
    run = ModelRun(model, get_spec(request.model).preprocess.apply, forward, path=path)
    progress = Progress(request, torch.zeros(request.steps, setup.count, device=dev), time.perf_counter(), note)
    for step in range(1, request.steps + 1):
        loss_total = torch.zeros((), device=dev)
        for part in setup.chunks:
            scores, loss = optimization_step(setup, part, step, run)
            progress.history[step - 1, part.where] = scores
            loss_total = loss_total + loss
        reason = should_stop() if should_stop is not None else ""
        if step % snapshot_every == 0 or step == request.steps or reason:
            yield progress.snapshot(setup, run, step, loss_total, reason)
            if reason:
                return


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
