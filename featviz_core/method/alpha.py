"""Transparent (RGBA) renders: random backgrounds, compositing and the transparency-weighted objective.

The method is Lucid's transparency notebook (tensorflow/lucid,
``notebooks/differentiable-parameterizations/transparency.ipynb``, its ``render`` function):

* the image is ``param.image(w, h, decorrelate=True, fft=True, alpha=True)``: four channels optimized together,
  color decorrelation on RGB only, sigmoid on all four (here: ``ImageParam`` with a 4-channel raw tensor from
  ``initial_raw(size, fft, generator, channels=RGBA_CHANNELS)``);
* every step a fresh random background ``image_sample([1, h, w, 3], sd=0.2, decay_power=1.5)`` is drawn: Fourier
  noise with a steeper 1/f^1.5 spectrum, color-decorrelated, through a sigmoid (:func:`random_backgrounds`);
* the image is composited over it in linear light, ``bg * (1 - a) + rgb * a`` (:func:`composite`), random
  scale and crop are applied to the composite with its alpha, and the composite is gamma-encoded
  (``x ** (1 / 2.2)``) before the model sees it (:func:`composite_for_model`);
* the objective is weighted by how transparent the image is:
  ``loss = -obj * (1 - mean(alpha_full)) * 0.5 - obj * (1 - mean(alpha_crop))``
  (:func:`transparency_weighted_scores`); the notebook has no additive alpha penalty;
* the saved PNG holds gamma-encoded RGB with the raw alpha (:func:`rgba_for_display`).

Lucid's library also has ``transform.collapse_alpha_random(sd=0.5)`` (backgrounds with sd 0.5 and the usual
1/f spectrum); the notebook's settings are the ones followed here. Lucent has no transparency.
"""

from __future__ import annotations

from typing import Sequence

import torch

from featviz_core.method.param import (
    RGB_CHANNELS,
    RGBA_CHANNELS,
    fourier_scale,
    raw_shape,
    spectrum_to_image,
    to_valid_image,
)
from featviz_core.settings import setting

BACKGROUND_SD = 0.2  # the notebook's image_sample(..., sd=0.2, ...)
BACKGROUND_DECAY_POWER = 1.5  # the notebook's image_sample(..., decay_power=1.5)
GAMMA = 2.2  # the notebook's linear2gamma / gamma2linear exponent
# The notebook weighs the whole image's transparency by 0.5 and the crop's (what the model saw) by 1.
FULL_IMAGE_WEIGHT = 0.5
VIEW_WEIGHT = 1.0
# 1 reproduces the notebook; 0 removes the push toward transparency. Declared with the setting (alpha_weight).
DEFAULT_ALPHA_STRENGTH = float(setting("alpha_weight").default)


def random_backgrounds(
    generators: Sequence[torch.Generator],
    size: int,
    device: torch.device | str = "cpu",
    sd: float = BACKGROUND_SD,
    decay_power: float = BACKGROUND_DECAY_POWER,
) -> torch.Tensor:
    """One fresh random background per image, as Lucid's ``param.random.image_sample``: (B, 3, size, size) in (0, 1).

    Image i's noise is drawn (on the CPU) from ``generators[i]`` only, so an image's backgrounds do not depend on
    which other images share its batch; call once per step for a new background each step, as the notebook does.

    Each background is ``sigmoid(decorrelate(irfft2(sd * N(0, 1) * scale) / 4))`` with Lucid's 1/f^decay_power
    spectrum scale and a unitary inverse FFT (Lucid's ``irfft2d`` times sqrt(h * w)).
    """
    if size < 1:
        raise ValueError(f"background size must be at least 1 pixel, got {size}")
    shape = raw_shape(size, fft=True, channels=RGB_CHANNELS)
    noise = torch.stack([torch.randn(shape, generator=generator) for generator in generators]) * sd
    scale = fourier_scale(size, size, decay_power)[None, None, :, :, None]
    linear = spectrum_to_image(noise, scale, size)
    return to_valid_image(linear, decorrelate=True).to(device)


def composite(rgba: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Alpha "over" compositing: (B, 4, H, W) image over a (B or 1, 3, H, W) background -> (B, 3, H, W).

    ``background * (1 - alpha) + rgb * alpha``, as the notebook's ``t_composed``; all values in [0, 1] and
    treated as linear light (the notebook composites before gamma encoding).
    """
    if rgba.dim() != 4 or rgba.shape[1] != RGBA_CHANNELS:
        raise ValueError(f"composite needs RGBA images of shape (B, 4, H, W), got {tuple(rgba.shape)}")
    if background.dim() != 4 or background.shape[1] != RGB_CHANNELS or background.shape[-2:] != rgba.shape[-2:]:
        raise ValueError(
            f"the background must be (B, 3, H, W) with the image's H and W {tuple(rgba.shape[-2:])}, "
            f"got {tuple(background.shape)}"
        )
    rgb, alpha = rgba[:, :RGB_CHANNELS], rgba[:, RGB_CHANNELS:]
    return background * (1.0 - alpha) + rgb * alpha


def linear_to_gamma(images: torch.Tensor) -> torch.Tensor:
    """The notebook's ``linear2gamma``: ``x ** (1 / 2.2)`` elementwise, same shape.

    Values are clamped to at least 1e-8 first: the power's gradient is infinite at 0 (sigmoid outputs never
    reach it, so the clamp changes nothing a render produces).
    """
    return images.clamp_min(1e-8) ** (1.0 / GAMMA)


def composite_for_model(rgba: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """What the model sees of a transparent image: the composite, gamma-encoded: (B, 3, H, W) in [0, 1].

    The notebook applies random scale and crop to the composite (with its alpha) before gamma encoding. Gamma
    is applied pixel by pixel, so it commutes exactly with a crop and up to interpolation error with a rescale:
    callers may transform before or after it.
    """
    return linear_to_gamma(composite(rgba, background))


def rgba_for_display(rgba: torch.Tensor) -> torch.Tensor:
    """The notebook's saved PNG: gamma-encoded RGB with the alpha unchanged, (B, 4, H, W) in [0, 1]."""
    return torch.cat([linear_to_gamma(rgba[:, :RGB_CHANNELS]), rgba[:, RGB_CHANNELS:]], dim=1)


def mean_alpha(images: torch.Tensor) -> torch.Tensor:
    """Per-image mean of the alpha channel (channel 3) over all pixels: (B, 4, H, W) -> (B,), in [0, 1]."""
    return images[:, RGB_CHANNELS].mean(dim=(-2, -1))


def transparency_weighted_scores(
    scores: torch.Tensor,
    alpha_full: torch.Tensor,
    alpha_view: torch.Tensor | None = None,
    strength: float = DEFAULT_ALPHA_STRENGTH,
) -> torch.Tensor:
    """The notebook's objective for transparent images, per image (higher is better): (B,).

    ``scores * (0.5 * (1 - strength * alpha_full) + (1 - strength * alpha_view))`` where ``alpha_full`` is each
    image's mean alpha over the whole image and ``alpha_view`` over the crop the model saw (both (B,), in
    [0, 1]; ``None`` uses ``alpha_full``). With ``strength`` 1 this is exactly the notebook's
    ``-loss = obj * (1 - mean_full) * 0.5 + obj * (1 - mean_crop)``: an opaque image earns nothing, so the
    optimizer keeps only the pixels that raise the objective. ``strength`` in [0, 1] scales that push
    (0: alpha is free and the objective is 1.5 x the plain score).

    The factor rewards transparency only while the score is positive; a negative score (a pre-ReLU channel
    below zero) is made less negative by opacity instead, exactly as in the notebook.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"alpha strength must be between 0 and 1 (1 is the notebook's), got {strength:g}")
    if alpha_view is None:
        alpha_view = alpha_full
    factor = FULL_IMAGE_WEIGHT * (1.0 - strength * alpha_full) + VIEW_WEIGHT * (1.0 - strength * alpha_view)
    return scores * factor
