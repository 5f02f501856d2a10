"""Where a channel fires in an image, drawn: an activation map over the model's view, and a photo's maps.

Pure numpy and Pillow for drawing (the app and figures use it); :func:`layer_maps` runs the model.
"""

from __future__ import annotations

import numpy as np

# A dark-to-bright ramp (black, purple, orange, pale yellow): readable over photos and in print.
_RAMP = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float32)


def colorize(values: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] -> (H, W, 3) uint8 on the ramp."""
    scaled = np.clip(values, 0, 1) * (len(_RAMP) - 1)
    low = np.floor(scaled).astype(int).clip(0, len(_RAMP) - 2)
    frac = (scaled - low)[..., None]
    return (_RAMP[low] * (1 - frac) + _RAMP[low + 1] * frac).round().astype(np.uint8)


def overlay(view: np.ndarray, activation_map: np.ndarray, *, box: list[int] | None = None,
            opacity: float = 0.55, suppress: bool = False) -> np.ndarray:
    """The map, upsampled to the view, blended over it; the crop ``box`` [x0, y0, x1, y1] outlined.

    Args:
        view: (S, S, 3) uint8, the model's view of an image.
        activation_map: (h, w) the channel's activations on it.
        suppress: show where the channel is most negative (for bottom examples) instead of most positive.

    Returns:
        (S, S, 3) uint8. Bright is where the channel fires most (least, with ``suppress``); the scale is
        the map's own range, so maps are compared by shape, not by level.
    """
    from PIL import Image, ImageDraw

    values = -np.asarray(activation_map, np.float32) if suppress else np.asarray(activation_map, np.float32)
    low, high = float(values.min()), float(values.max())
    normed = (values - low) / (high - low) if high > low else np.zeros_like(values)
    size = (view.shape[1], view.shape[0])
    upsampled = np.asarray(Image.fromarray(normed.astype(np.float32)).resize(size, Image.BILINEAR))
    heat = colorize(upsampled).astype(np.float32)
    blended = (view.astype(np.float32) * (1 - opacity) + heat * opacity).round().astype(np.uint8)
    if box is not None:
        picture = Image.fromarray(blended)
        width = max(2, view.shape[0] // 112)
        ImageDraw.Draw(picture).rectangle([box[0], box[1], box[2] - 1, box[3] - 1], outline=(0, 255, 255),
                                          width=width)
        blended = np.asarray(picture)
    return blended


def layer_maps(model_name: str, layer: str, image, *, model=None, device=None) -> tuple[np.ndarray, np.ndarray]:
    """A photo as the model sees it and every channel's map of ``layer``: ((S, S, 3) uint8, (C, h, w) float32),
    both read-only.

    The same pass as :func:`featviz_core.photos.analysis.top_channels` (shorter side resized, centre crop), so
    the map of channel c averages to the mean activation listed there; a photo, model and layer seen lately
    is not run again (:func:`featviz_core.photos.analysis.photo_layer`).
    """
    from featviz_core.photos.analysis import photo_layer

    result = photo_layer(model_name, layer, image, model=model, device=device)
    return result.view, result.maps
