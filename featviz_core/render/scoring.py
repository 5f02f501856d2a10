"""Scoring finished images without random transforms, and the batch sizes both rendering and scoring use."""

from __future__ import annotations

import numpy as np
import torch

from featviz_core.errors import RenderError
from featviz_core.models import get_spec
from featviz_core.models.capture import capture_layers
from featviz_core.objectives import BatchObjective, Objective
from featviz_core.render.results import RenderResult, Snapshot, final_images
from featviz_core.render.transparency import scoring_view
from featviz_core.request import RenderRequest


def default_batch_size(device: torch.device, channels_last: bool = False) -> int:
    """Images per pass when the caller names none. On a GPU, large batches amortize kernel launches. On a CPU,
    small batches keep activations in cache: 2 images per pass measured fastest on 2 cores in the default
    layout (bench/scaling.py), and 5 in channels-last (10 channels of EfficientNet-Lite0 ``_blocks.10`` at
    128 px, Intel Xeon with AVX-512, 2 threads: 4.06 s against 4.56 s with 2 for 32 steps, best of 2), whose
    oneDNN kernels gain more from a wider batch."""
    if device.type == "cuda":
        return 64
    return 5 if channels_last else 2


# How an allocation failure reads when torch raises it as a plain RuntimeError: CUDA's "out of memory", and the
# CPU allocator's "DefaultCPUAllocator: can't allocate memory: ... (Cannot allocate memory)" (Linux) or
# "... not enough memory: ..." (Windows).
_OUT_OF_MEMORY_TEXTS = ("out of memory", "can't allocate memory", "cannot allocate memory", "not enough memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure, on a GPU (``torch.OutOfMemoryError``) or on the CPU."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return any(words in text for words in _OUT_OF_MEMORY_TEXTS)


def check_retry(exc: RuntimeError, chunk: int, device: torch.device, what: str) -> None:
    """Inside ``except RuntimeError``: re-raise ``exc`` unless it is out-of-memory; at one image per chunk
    raise :class:`RenderError` ``"out of DEVICE memory {what}"``. Otherwise return: the caller retries with
    :func:`halved` chunks."""
    if not is_out_of_memory(exc):
        raise exc
    if chunk == 1:
        raise RenderError(f"out of {device.type.upper()} memory {what}") from None


def halved(chunk: int, device: torch.device) -> int:
    """Half the images per chunk (at least one). Call it outside the ``except`` block: the traceback, whose
    frames hold the failed step's tensors, is gone then, so emptying the CUDA cache can return that memory."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return max(1, chunk // 2)


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

    ``images`` are (B, 3, H, W) in [0, 1], or (B, 4, H, W) display images of a transparent request (scored
    over the fixed background of :func:`~featviz_core.render.transparency.scoring_view`).

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
            check_retry(exc, chunk, images.device, "scoring one image; try a smaller image size")
        chunk = halved(chunk, images.device)


def _evaluate_chunk(model: torch.nn.Module, request: RenderRequest, images: torch.Tensor,
                    objectives: list[Objective]) -> np.ndarray:
    spec = get_spec(request.model)
    side = request.scoring_input_size
    # A transparent image is scored over a fixed background (the random backgrounds' mean), so its score is
    # deterministic (featviz_core.render.transparency).
    x = scoring_view(images) if request.alpha else images
    if x.shape[-1] != side:
        x = torch.nn.functional.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
    batch = BatchObjective(objectives, device=x.device)
    acts = capture_layers(model, batch.layers, spec.preprocess.apply(x))
    return batch.score(acts).cpu().numpy()


def result_from_snapshot(request: RenderRequest, last: Snapshot, model: torch.nn.Module, dev: torch.device,
                         *, batch_size: int | None = None) -> RenderResult:
    """The result a render's last snapshot leaves, its images scored without transforms."""
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
        extra={} if last.importance is None else {"importance": last.importance},
    )
