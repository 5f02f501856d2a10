"""The render loop: many images, one optimization, live snapshots.

``render_iter`` optimizes a batch of images (image ``i`` for objective ``i``) with Adam (MACO: NAdam, see
:func:`featviz_core.method.maco.optimizer_choice`) and yields a
:class:`Snapshot` every ``snapshot_every`` steps and at the end. Closing the iterator cancels the render;
``should_stop`` ends it early with a final snapshot that keeps the partial result. ``render`` drains it.

Its parts, each in its own module:
    * set-up (:mod:`.start`): each image's start (noise, or a photo) and transform draws, the penalties,
      the chunks;
    * chunks (:mod:`.chunks`): images that share a forward pass (:class:`Chunk`: which images, their
      parameter, optimizer and batch objective), planned so that a group of coupled images is never split;
    * one step (:mod:`.step`): transforms, forward pass to the target layers, scores, penalties, Adam;
    * penalties (:mod:`.penalties`): named per-image terms (TV, L2, the pull toward a photo) and per-chunk
      terms (diversity within a group);
    * transparency (:mod:`.transparency`): RGBA images over per-image random backgrounds;
    * snapshot (:mod:`.step`) and results (:mod:`.results`); scoring without transforms (:mod:`.scoring`).

Correctness contracts:
    * each image's initial noise and random transforms come from its own generator, seeded from the
      request's seed and the image's objective, so batching does not change what an image starts from or
      sees;
    * the loss is a sum over images, so image ``i``'s gradient does not depend on the batch (a per-chunk
      penalty couples only the images of one group, which always share a chunk);
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
      its pixels are not promised equal;
    * the compute path (``precision``, ``memory_format``: :mod:`featviz_core.render.compute_path`) is part of
      the request: same request, seed, machine and path give identical pixels; another path rounds differently
      (its images' neutral score stays within 1% of float32's, tested); the defaults run the model as is.

Layer (checked by tests/test_layout.py): may import errors, device, settings, objectives, models, method, photos,
image_plan, request; torch at module level: yes.
"""

from featviz_core.render.chunks import Chunk, make_chunks, plan_chunks
from featviz_core.render.loop import render, render_iter
from featviz_core.render.penalties import ChunkTerm, ImageTerm, Penalties, l2_norm_squared, penalties_for, total_variation
from featviz_core.render.results import RenderResult, Snapshot, final_images
from featviz_core.render.scoring import default_batch_size, evaluate, result_from_snapshot
from featviz_core.render.start import RenderSetup, set_up

__all__ = [
    "Chunk", "ChunkTerm", "ImageTerm", "Penalties", "RenderResult", "RenderSetup", "Snapshot", "default_batch_size",
    "evaluate", "final_images", "l2_norm_squared", "make_chunks", "penalties_for", "plan_chunks", "render",
    "render_iter", "result_from_snapshot", "set_up", "total_variation",
]
