"""Will a render fit? The memory one image's render needs, from the model's weights and its layers' shapes.

The weights' bytes and what a device has available are :mod:`featviz_core.models.memory`'s (checked before a
model is loaded); a render adds the activations of every targetable layer up to the deepest target for one
image (:mod:`featviz_core.models.layers`), times a factor for the forward pass's other tensors and the
backward pass.
"""

from __future__ import annotations

import torch

from featviz_core.models.layers import layer_table
from featviz_core.models.memory import (
    ACTIVATION_FACTOR, BYTES_PER_VALUE, TooLarge, available_bytes, megabytes, weight_bytes,
)


def render_bytes(name: str, input_size: int, layers: tuple[str, ...]) -> int:
    """Estimated bytes of a render of one image of ``layers`` at ``input_size`` px, weights included."""
    table = layer_table(name, input_size)
    names = [info.name for info in table]
    deepest = max((names.index(layer) for layer in layers if layer in names), default=len(names) - 1)
    values = sum(info.channels * info.height * info.width for info in table[:deepest + 1])
    image = 3 * input_size * input_size * 8  # the parameterized image, its transforms and its gradient
    return weight_bytes(name) + ACTIVATION_FACTOR * BYTES_PER_VALUE * values + BYTES_PER_VALUE * image


def check_render_fits(name: str, input_size: int, layers: tuple[str, ...], device: torch.device) -> None:
    """Refuse a render whose one-image estimate exceeds the memory available on ``device`` (larger batches
    halve themselves on out-of-memory; one image is the least a render can use).

    Raises:
        TooLarge: the estimate, what is available, and what to lower.
    """
    need = render_bytes(name, input_size, layers)
    have = available_bytes(device)
    if need > have:
        raise TooLarge(f"a render of {', '.join(layers)} of {name} at a {input_size} px model input needs about "
                       f"{megabytes(need)} per image, and {device.type} has {megabytes(have)} available; lower the "
                       "image size (and turn upsampling off), choose an earlier layer, or choose a smaller model")
