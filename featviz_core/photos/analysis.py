"""Which channels of a layer a photo excites most: the bridge from a picture to feature visualizations.

The photo is resized so its shorter side is the model's native size and centre-cropped to a square (the
usual ImageNet evaluation crop), preprocessed by the model's own spec, and run only as far as the layer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from featviz_core.config import Limits
from featviz_core.device import resolve_device
from featviz_core.errors import RequestError
from featviz_core.models import get_spec, layer_table, load_model
from featviz_core.models.capture import capture_layers

# Analyses run in the visitor's script thread, beside the render workers; two at a time keeps a lecture
# hall uploading photos from starving the renders of CPU.
_analyses = threading.BoundedSemaphore(2)


@dataclass(frozen=True)
class ChannelActivation:
    """One channel of the layer and its activation averaged over the spatial positions."""

    channel: int
    mean: float


def photo_tensor(image: Image.Image, side: int) -> torch.Tensor:
    """RGB image -> (1, 3, side, side) float in [0, 1]: shorter side resized to ``side``, centre crop."""
    image = image.convert("RGB")
    width, height = image.size
    scale = side / min(width, height)
    resized = image.resize((max(side, round(width * scale)), max(side, round(height * scale))), Image.BICUBIC)
    left = (resized.width - side) // 2
    top = (resized.height - side) // 2
    cropped = resized.crop((left, top, left + side, top + side))
    array = np.asarray(cropped, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def layer_means(model_name: str, layer: str, image: Image.Image, *, model: torch.nn.Module | None = None,
                device: str | torch.device | None = None) -> np.ndarray:
    """Mean activation of every channel of ``layer`` for ``image``: (C,) float32."""
    spec = get_spec(model_name)
    table = {info.name: info for info in layer_table(model_name, spec.native_size)}
    if not isinstance(layer, str) or layer not in table:
        raise RequestError(
            f"unknown layer {layer!r} for {spec.name}; main layers are {', '.join(spec.featured_layers)}"
        )
    if not isinstance(image, Image.Image):
        raise RequestError("the photo must be a decoded image (see featviz_core.photos.uploads.load_upload)")
    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    model = model if model is not None else load_model(model_name, dev)
    x = spec.preprocess.apply(photo_tensor(image, spec.native_size).to(dev))
    with _analyses, torch.no_grad():
        acts = capture_layers(model, [layer], x)[layer]
    return acts[0].mean(dim=(-2, -1)).float().cpu().numpy()


def top_channels(model_name: str, layer: str, image: Image.Image, k: int = 10, *,
                 model: torch.nn.Module | None = None, device: str | torch.device | None = None
                 ) -> list[ChannelActivation]:
    """The ``k`` channels of ``layer`` with the highest mean activation on ``image``, highest first.

    Args:
        model_name: a registered model (``efficientnet-lite0``, ``inceptionv1``).
        layer: a layer name of that model (``_blocks.10``, ``mixed4a``).
        image: an RGB image, e.g. from :func:`featviz_core.photos.uploads.load_upload`.
        k: how many channels (1 up to the render limit FEATVIZ_MAX_CHANNELS); fewer when the layer has fewer.
        model: the loaded model (default: the shared pretrained one).
        device: where to run (default: FEATVIZ_DEVICE or auto).

    Raises:
        RequestError: unknown layer, bad ``k`` or not an image.
    """
    limit = Limits.from_env().max_channels
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= limit:
        raise RequestError(f"the number of channels must be a whole number from 1 to {limit}, got {k!r}")
    means = layer_means(model_name, layer, image, model=model, device=device)
    order = np.argsort(-means, kind="stable")[: min(k, len(means))]
    return [ChannelActivation(int(i), float(means[i])) for i in order]
