"""Set-up: everything a render fixes before its first step.

Each image's initial parameter and its random transforms for every step come from its own generator,
seeded from the request's seed and the image's objective, so batching does not change what an image
starts from or sees. The images are then planned into chunks (:mod:`featviz_core.render.chunks`): images of
one group (diverse images of an objective, an interpolation's frames) share a chunk.

What each image's generator draws, in order:
    1. its start: ``initial_raw`` noise (RGB, or RGBA for a transparent render); an interpolation's frames
       draw theirs as :func:`~featviz_core.method.interpolation.draw_aligned_raws` says (each frame its own noise,
       then the first frame's generator the shared part). A photo-seeded render still draws the noise and
       then starts from the photo instead, so its images see the transforms they would have seen;
    2. its transforms for every step;
    3. (transparent renders) one random background per step, during the loop.
A plain request (no photo, no alpha, no groups) draws exactly what renders always drew.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from featviz_core.errors import RequestError
from featviz_core.image_plan import coupled_groups
from featviz_core.method.interpolation import draw_aligned_raws
from featviz_core.method.maco import initial_raw_for, optimizer_choice
from featviz_core.method.param import RGB_CHANNELS, RGBA_CHANNELS
from featviz_core.method.photo_start import photo_to_raw
from featviz_core.method.schedule import learning_rate
from featviz_core.method.transforms import apply_transforms, sample_params
from featviz_core.render.chunks import Chunk, make_chunks, plan_chunks
from featviz_core.render.penalties import Penalties, penalties_for
from featviz_core.render.transparency import Transparency, composite_with_alpha
from featviz_core.request import RenderRequest
from featviz_core.settings.transform_presets import TransformSpec, get_preset


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
        transparency: the backgrounds and weighting of a transparent render (None: opaque RGB images).
        rates: the learning rate of every step (index 0: step 1) when the request's schedule varies it;
            None: the optimizer's own rate throughout.
    """

    count: int
    preset: TransformSpec
    draws: torch.Tensor
    side: int
    chunks: list[Chunk]
    penalties: Penalties
    transparency: Transparency | None = None
    rates: tuple[float, ...] | None = None

    def model_input(self, pixels: torch.Tensor, chunk: Chunk, step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What the model sees of ``chunk``'s pixels at ``step`` (1-based): (B, 3, side, side), and for a
        transparent render the mean alpha of each view, (B,) (None for opaque images).

        Opaque images are transformed as they are; transparent ones are first composited over this step's
        backgrounds (drawn here, one per image, from its generator) and transformed with their alpha."""
        params = self.draws[step - 1, chunk.where]
        if self.transparency is None:
            return apply_transforms(pixels, self.preset, params, self.side), None
        background = self.transparency.backgrounds(chunk.images, pixels.device)
        seen = apply_transforms(composite_with_alpha(pixels, background), self.preset, params, self.side)
        return seen[:, :RGB_CHANNELS], seen[:, RGB_CHANNELS].mean(dim=(-2, -1))


def set_up(request: RenderRequest, device: torch.device, batch_size: int,
           groups: Sequence[Sequence[int]] | None = None) -> RenderSetup:
    """Draw each image's start and transforms, and build its chunks of at most ``batch_size`` images.

    ``groups`` lists images that must share a forward pass (see :func:`~featviz_core.render.chunks.plan_chunks`);
    by default the request's own groups (:meth:`RenderRequest.images`). For an interpolation, each group is
    a run of frames whose parameterization has a shared part.

    Raises:
        RequestError: the request's photo is no longer held by this process.
    """
    preset = get_preset(request.transforms)
    planned = request.images()
    objectives = [image.objective for image in planned]
    groups = coupled_groups(planned) if groups is None else [tuple(g) for g in groups]
    generators = [torch.Generator().manual_seed(image.seed) for image in planned]
    channels = RGBA_CHANNELS if request.alpha else RGB_CHANNELS
    aligned = groups if request.interpolate else []
    raws: list[torch.Tensor | None] = [None] * len(planned)
    shared: dict[tuple[int, ...], list[torch.Tensor]] = {}
    for group in aligned:
        unique, shared[tuple(group)] = draw_aligned_raws([generators[i] for i in group], request.size, request.fft,
                                                         channels)
        for k, image in enumerate(group):
            raws[image] = unique[k]
    for image, generator in enumerate(generators):
        if raws[image] is None:
            raws[image] = initial_raw_for(request, generator, channels)
    draws = torch.stack([sample_params(preset, request.steps, generator) for generator in generators], dim=1)
    raw = torch.stack(raws)  # type: ignore[arg-type]
    photo = start_photo(request)
    if photo is not None:
        # Every image starts exactly at the photo; an interpolation's shared part starts at zero so it adds nothing.
        raw = photo_to_raw(photo, request.fft, request.decorrelate).expand_as(raw).contiguous()
        shared = {group: [torch.zeros_like(low) for low in lows] for group, lows in shared.items()}
        photo = photo.to(device)
    plan = plan_chunks(len(objectives), batch_size, groups)
    transparency = Transparency(generators, request.size, request.alpha_weight) if request.alpha else None
    rates = None
    if request.lr_schedule != "constant":
        full = optimizer_choice(request)[1]
        rates = tuple(learning_rate(full, request.lr_schedule, step, request.steps) for step in range(1, request.steps + 1))
    return RenderSetup(
        rates=rates,
        count=len(objectives),
        preset=preset,
        draws=draws if preset.resample_each else draws.to(device),
        side=request.model_input_size,
        chunks=make_chunks(request, objectives, raw.to(device), plan, device,
                           {group: [low.to(device) for low in lows] for group, lows in shared.items()}),
        penalties=penalties_for(request, photo),
        transparency=transparency,
    )


def start_photo(request: RenderRequest) -> torch.Tensor | None:
    """The photo a photo-seeded request starts from, (1, 3, size, size) in [0, 1] (shorter side resized to the
    image size, centre crop); None without one.

    Raises:
        RequestError: this process no longer holds the photo (photos are kept in memory only).
    """
    if not request.init:
        return None
    from featviz_core.photos.analysis import photo_tensor
    from featviz_core.photos.store import get_photo

    image = get_photo(request.init)
    if image is None:
        raise RequestError("the photo this render starts from is no longer on this server (photos are kept in "
                           "memory only while it runs); upload it again on the Photo page")
    return photo_tensor(image, request.size)
