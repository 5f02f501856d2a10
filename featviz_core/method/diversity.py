"""Lucid's diversity term: push a group of images of one objective toward different "styles".

As Lucid's ``lucid/optvis/objectives.py`` ``diversity(layer)``: for each image, the Gram matrix of the layer's
activations (channels x channels, summed over positions), L2-normalized as a whole
(``tf.nn.l2_normalize(grams, axis=[1, 2], epsilon=1e-10)``); the term is the sum, over every ordered pair of
distinct images (i, j), of the cosine similarity ``<G_i, G_j>``, divided by the number of images.

Sign convention: the values here are similarities (higher = more alike, Lucid's sign). Subtract them from the
objective being maximized: ``objective = scores - DIVERSITY_WEIGHT * diversity_per_image(acts)``, as Lucid's
``neuron_diversity.ipynb`` (``channel("mixed5a_pre_relu", 9) - 1e2 * diversity("mixed5a")``, batch 4) and
Lucent's ``diversity.ipynb`` (``channel("mixed5a", 9) - 1e2 * diversity("mixed5a")``, batch 4). Lucent's
``objectives.diversity`` returns the negation (a loss to minimize); the notebook line reads the same in both.

Cost: one (N, C, C) Gram per image and an (N, N) similarity per group, quadratic in the group size.
"""

from __future__ import annotations

import torch

from featviz_core.settings import setting

# The 1e2 of Lucid's and Lucent's diversity notebooks, declared with the setting (diversity_weight).
DIVERSITY_WEIGHT = float(setting("diversity_weight").default)
_NORMALIZE_EPSILON = 1e-10  # tf.nn.l2_normalize's epsilon in Lucid (a floor on the squared norm)


def normalized_grams(acts: torch.Tensor) -> torch.Tensor:
    """Per-image Gram matrix of channel activations, L2-normalized: (N, C, H, W) -> (N, C * C).

    ``G_i = A_i A_i^T`` with ``A_i`` the (C, H * W) activations of image i, divided by its Frobenius norm
    (at least sqrt(1e-10), as Lucid).
    """
    if acts.dim() != 4:
        raise ValueError(f"diversity needs a layer's activations of shape (N, C, H, W), got {tuple(acts.shape)}")
    flat = acts.flatten(2)  # (N, C, H*W)
    grams = torch.bmm(flat, flat.transpose(1, 2)).flatten(1)  # (N, C*C)
    squared_norm = grams.pow(2).sum(dim=1, keepdim=True)
    return grams * torch.rsqrt(squared_norm.clamp_min(_NORMALIZE_EPSILON))


def diversity_per_image(acts: torch.Tensor, group_size: int | None = None) -> torch.Tensor:
    """Each image's share of Lucid's diversity value within its group: (B, C, H, W) -> (B,).

    Image i's share is ``sum_{j != i in its group} <G_i, G_j> / N``; the shares of a group add up to Lucid's
    ``diversity`` of that group (each unordered pair counted twice, as Lucid's double loop does). Images
    ``[k * N, (k + 1) * N)`` form group k, with ``N = group_size`` (default: the whole batch is one group), so
    several groups can share one forward pass without pushing each other apart.

    Values are cosine similarities summed and divided by N: between 0 and (N-1)/N per image (Gram matrices
    are positive semi-definite, so their inner products are never negative); a group of N identical images
    totals N - 1.
    A group of one image has no pairs: its value is 0.
    """
    batch = acts.shape[0]
    group_size = batch if group_size is None else group_size
    if group_size < 1 or batch % group_size != 0:
        raise ValueError(f"a batch of {batch} images cannot be split into groups of {group_size}")
    grams = normalized_grams(acts).view(batch // group_size, group_size, -1)  # (groups, N, C*C)
    similarity = torch.bmm(grams, grams.transpose(1, 2))  # (groups, N, N)
    self_similarity = torch.diagonal(similarity, dim1=1, dim2=2)
    shares = (similarity.sum(dim=2) - self_similarity) / group_size
    return shares.reshape(batch)


def diversity(acts: torch.Tensor) -> torch.Tensor:
    """Lucid's ``diversity`` of one group of N images: (N, C, H, W) -> scalar similarity (subtract it, weighted)."""
    return diversity_per_image(acts).sum()
