"""Set-up: everything a render fixes before its first step.

Each image's initial parameter and its random transforms for every step come from its own generator,
seeded from the request's seed and the image's objective, so batching does not change what an image
starts from or sees. The images are then planned into chunks (:mod:`featviz_core.render.chunks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from featviz_core.param import initial_raw
from featviz_core.render.chunks import Chunk, make_chunks, plan_chunks
from featviz_core.render.penalties import Penalties, penalties_for
from featviz_core.request import RenderRequest
from featviz_core.transforms import TransformSpec, apply_transforms, get_preset, sample_params


@dataclass
class RenderSetup:
    """A render ready to step.

    Attributes:
        count: number of images.
        preset: the random transforms.
        draws: (steps, count, 6) each image's transform draws for every step; on the device, or on the
            host for a preset whose image sizes depend on the draws (so the step loop never waits for it).
        side: side of the image the model sees.
        chunks: the images, in chunks that each share one forward pass.
        penalties: the terms subtracted from the objective.
    """

    count: int
    preset: TransformSpec
    draws: torch.Tensor
    side: int
    chunks: list[Chunk]
    penalties: Penalties

    def model_input(self, pixels: torch.Tensor, chunk: Chunk, step: int) -> torch.Tensor:
        """What the model sees of ``chunk``'s pixels at ``step`` (1-based): this step's transforms of them."""
        return apply_transforms(pixels, self.preset, self.draws[step - 1, chunk.where], self.side)


def set_up(request: RenderRequest, device: torch.device, batch_size: int,
           groups: Sequence[Sequence[int]] | None = None) -> RenderSetup:
    """Draw each image's start and transforms, and build its chunks of at most ``batch_size`` images.

    ``groups`` lists images that must share a forward pass (see :func:`~featviz_core.render.chunks.plan_chunks`);
    by default every image stands alone.
    """
    preset = get_preset(request.transforms)
    objectives = request.objectives()
    raws, draws = [], []
    for seed in request.image_seeds():
        generator = torch.Generator().manual_seed(seed)
        # The start is drawn first, then the transforms: a start given instead of noise (a photo) must
        # still draw it, so that the image sees the transforms it would have seen.
        raws.append(initial_raw(request.size, request.fft, generator))
        draws.append(sample_params(preset, request.steps, generator))
    raw = torch.stack(raws).to(device)
    draws_host = torch.stack(draws, dim=1)  # (steps, B, 6)
    plan = plan_chunks(len(objectives), batch_size, groups)
    return RenderSetup(
        count=len(objectives),
        preset=preset,
        draws=draws_host if preset.resample_each else draws_host.to(device),
        side=request.model_input_size,
        chunks=make_chunks(request, objectives, raw, plan, device),
        penalties=penalties_for(request),
    )
