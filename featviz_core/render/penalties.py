"""Penalties: named terms subtracted from the objective.

Two shapes of term:
    * :class:`ImageTerm`: a (B,) value per image (TV and L2 of its pixels, the pull toward a starting
      photo), subtracted from that image's objective; a term that reads only an image's own pixels keeps
      its gradient independent of the batch, one that reads the activations may couple the images of a
      group (``chunk.groups``);
    * :class:`ChunkTerm`: one value for a whole chunk (a term over the images of its groups: diversity),
      added to the chunk's loss.

Both see the chunk's pixels (B, C, H, W) in [0, 1] before transforms, the activations of the layers the
chunk's objective reads (layer -> (B, C', H', W')), and the :class:`~featviz_core.render.chunks.Chunk`
itself (which images, which groups).

:func:`penalties_for` lists the terms a request asks for; terms of weight 0 are left out, so they cost
nothing and change no bit of the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch

from featviz_core.method.diversity import diversity_per_image
from featviz_core.method.photo_start import photo_pull
from featviz_core.request import RenderRequest

if TYPE_CHECKING:
    from featviz_core.render.chunks import Chunk


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Per-image ``sum |x[i+1,j] - x[i,j]| + |x[i,j+1] - x[i,j]|`` over channels and pixels: (B,)."""
    dy = (images[:, :, 1:, :] - images[:, :, :-1, :]).abs().sum(dim=(1, 2, 3))
    dx = (images[:, :, :, 1:] - images[:, :, :, :-1]).abs().sum(dim=(1, 2, 3))
    return dy + dx


def l2_norm_squared(images: torch.Tensor) -> torch.Tensor:
    """Per-image ``||x||^2``: (B,)."""
    return images.pow(2).sum(dim=(1, 2, 3))


@dataclass(frozen=True)
class ImageTerm:
    """``weight * measure(pixels, acts, chunk)``, (B,), is subtracted from each image's objective."""

    name: str
    weight: float
    measure: Callable[[torch.Tensor, dict[str, torch.Tensor], "Chunk"], torch.Tensor]


@dataclass(frozen=True)
class ChunkTerm:
    """``weight * measure(pixels, acts, chunk)``, a scalar, is added to the chunk's loss."""

    name: str
    weight: float
    measure: Callable[[torch.Tensor, dict[str, torch.Tensor], "Chunk"], torch.Tensor]


@dataclass(frozen=True)
class Penalties:
    """The terms of one render, applied in order."""

    per_image: tuple[ImageTerm, ...] = ()
    per_chunk: tuple[ChunkTerm, ...] = ()

    def objective(self, scores: torch.Tensor, pixels: torch.Tensor, acts: dict[str, torch.Tensor],
                  chunk: "Chunk") -> torch.Tensor:
        """(B,) each image's score minus its weighted per-image terms."""
        objective = scores
        for term in self.per_image:
            objective = objective - term.weight * term.measure(pixels, acts, chunk)
        return objective

    def loss(self, objective: torch.Tensor, pixels: torch.Tensor, acts: dict[str, torch.Tensor],
             chunk: "Chunk") -> torch.Tensor:
        """The chunk's loss: minus the summed objectives plus the weighted per-chunk terms (a scalar)."""
        loss = -objective.sum()
        for term in self.per_chunk:
            loss = loss + term.weight * term.measure(pixels, acts, chunk)
        return loss


def penalties_for(request: RenderRequest, photo: torch.Tensor | None = None) -> Penalties:
    """The penalties ``request`` asks for (zero weights left out).

    Args:
        request: the render.
        photo: the starting photo of a photo-seeded render, (1, 3, H, W) in [0, 1] on the render's device,
            for the pull toward it (``init_l2``).
    """
    per_image = [
        ImageTerm("tv", request.tv, lambda pixels, acts, chunk: total_variation(pixels)),
        ImageTerm("l2", request.l2, lambda pixels, acts, chunk: l2_norm_squared(pixels)),
    ]
    if photo is not None:
        per_image.append(ImageTerm("init_l2", request.init_l2, lambda pixels, acts, chunk: photo_pull(pixels, photo)))
    per_chunk = []
    if request.diversity > 1:
        layer = request.objectives()[0].terms[0].layer
        per_chunk.append(ChunkTerm("diversity", request.diversity_weight, group_diversity(layer)))
    return Penalties(per_image=tuple(term for term in per_image if term.weight),
                     per_chunk=tuple(term for term in per_chunk if term.weight))


def group_diversity(layer: str) -> Callable[[torch.Tensor, dict[str, torch.Tensor], "Chunk"], torch.Tensor]:
    """A chunk measure: Lucid's diversity (summed cosine similarity of the Gram matrices of ``layer``'s
    activations, :func:`~featviz_core.method.diversity.diversity_per_image`) of each of the chunk's groups, added up.
    Images alone contribute nothing, so groups never push each other apart.

    Each group's value is multiplied by its size N: Lucid's and Lucent's objective averages the channel over
    the batch (``channel - w * diversity``), while featviz sums the images' objectives, so scaling the term by
    N keeps their balance and a weight means what it means in their notebooks (100)."""

    def measure(pixels: torch.Tensor, acts: dict[str, torch.Tensor], chunk: "Chunk") -> torch.Tensor:
        total = pixels.new_zeros(())
        for group in chunk.groups:
            if len(group) > 1:
                total = total + len(group) * diversity_per_image(acts[layer][list(group)]).sum()
        return total

    return measure
