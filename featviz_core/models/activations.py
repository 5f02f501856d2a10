"""Activations of any layout, seen as (batch, channels, height, width).

Objectives gather from ``(B, C, H, W)`` activations. Other networks lay theirs out differently, and the
layout is read from the shape alone (never from a class name); featviz always feeds square images, which is
what makes the shapes unambiguous:

* ``(B, C, H, W)`` (convolutions): as is; recognised by ``H == W``.
* ``(B, H, W, C)`` (Swin blocks, ConvNeXt's inner layer norms and linears): ``dim 1 == dim 2 != dim 3``;
  permuted to channels first.
* ``(B, T, D)`` (vision transformers): ``T = prefix + side * side`` tokens, the prefix being the class token
  (and any register or distillation tokens) in front of a square grid of patch tokens. The prefix is left out
  and the patch tokens are laid out on their grid: a "channel" is a hidden unit averaged over the patch
  tokens, a "neuron" is one unit at one patch.

Anything else (a vector per image, a tuple) is not targetable.
"""

from __future__ import annotations

import math

import torch

#: At most this many tokens in front of the patch grid (class, distillation and register tokens).
MAX_PREFIX_TOKENS = 16


def layout_of(shape: tuple[int, ...]) -> str | None:
    """``"nchw"``, ``"nhwc"``, ``"tokens"``, or None (not targetable) for an output of ``shape``."""
    if len(shape) == 4:
        if shape[2] == shape[3]:
            return "nchw"
        return "nhwc" if shape[1] == shape[2] else None
    if len(shape) == 3:
        side = math.isqrt(shape[1])
        return "tokens" if side > 0 and shape[1] - side * side <= MAX_PREFIX_TOKENS else None
    return None


def channels_first_shape(shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """The (B, C, H, W) shape :func:`channels_first` makes of an output of ``shape`` (None: not targetable)."""
    layout = layout_of(shape)
    if layout == "nchw":
        return tuple(shape)  # type: ignore[return-value]
    if layout == "nhwc":
        return shape[0], shape[3], shape[1], shape[2]
    if layout == "tokens":
        side = math.isqrt(shape[1])
        return shape[0], shape[2], side, side
    return None


def channels_first(output: object) -> torch.Tensor | None:
    """``output`` as (B, C, H, W) activations (a view where possible), or None when it is not targetable."""
    if not isinstance(output, torch.Tensor):
        return None
    layout = layout_of(tuple(output.shape))
    if layout == "nchw":
        return output
    if layout == "nhwc":
        return output.permute(0, 3, 1, 2)
    if layout == "tokens":
        batch, tokens, width = output.shape
        side = math.isqrt(tokens)
        patches = output[:, tokens - side * side:]  # the class (and register) tokens come first
        return patches.transpose(1, 2).reshape(batch, width, side, side)
    return None
