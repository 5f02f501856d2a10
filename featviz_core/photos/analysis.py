"""Which channels of a layer a photo excites most: the bridge from a picture to feature visualizations.

The photo is resized so its shorter side is the model's native size and centre-cropped to a square (the
usual ImageNet evaluation crop), preprocessed by the model's own spec, and run only as far as the layer.
One pass gives a layer's every channel map and mean (:func:`photo_layer`); the last few results are kept in
memory (never on disk) by the photo's digest, the model, its weights and the layer, so a page that reruns
with the same photo and layer does not run the model again.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
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
KEPT = 4  # photo layers kept in memory (a visitor flipping between a few layers of one photo)
_kept: "OrderedDict[tuple, tuple[weakref.ref, PhotoLayer]]" = OrderedDict()
_kept_lock = threading.Lock()


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


@dataclass(frozen=True)
class PhotoLayer:
    """One pass of a photo up to a layer: the model's view of it, every channel's map and mean (read-only)."""

    view: np.ndarray  # (S, S, 3) uint8
    maps: np.ndarray  # (C, h, w) float32
    means: np.ndarray  # (C,) float32


def photo_layer(model_name: str, layer: str, image: Image.Image, *, model: torch.nn.Module | None = None,
                device: str | torch.device | None = None) -> PhotoLayer:
    """``image`` through the model up to ``layer``, or the kept result of the same photo (digest of its
    pixels), model (name, weight file's SHA-256 and the very module) and layer on the same device."""
    from featviz_core.models import weights_identity
    from featviz_core.photos.store import photo_digest

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
    key = (photo_digest(image), model_name, weights_identity(model_name), layer, str(dev))
    with _kept_lock:
        kept = _kept.get(key)
        if kept is not None and kept[0]() is model:
            _kept.move_to_end(key)
            return kept[1]
    pixels = photo_tensor(image, spec.native_size)
    with _analyses, torch.no_grad():
        acts = capture_layers(model, [layer], spec.preprocess.apply(pixels.to(dev)))[layer][0]
    view = (pixels[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    result = PhotoLayer(view, acts.float().cpu().numpy(), acts.mean(dim=(-2, -1)).float().cpu().numpy())
    for array in (result.view, result.maps, result.means):
        array.setflags(write=False)
    with _kept_lock:
        _kept[key] = (weakref.ref(model), result)
        _kept.move_to_end(key)
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    return result


def layer_means(model_name: str, layer: str, image: Image.Image, *, model: torch.nn.Module | None = None,
                device: str | torch.device | None = None) -> np.ndarray:
    """Mean activation of every channel of ``layer`` for ``image``: (C,) float32 (see :func:`photo_layer`)."""
    return photo_layer(model_name, layer, image, model=model, device=device).means


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
