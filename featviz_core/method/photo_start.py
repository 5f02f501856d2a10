"""Photo-seeded renders: start the optimization from a photo, and optionally keep pulling toward it.

:func:`photo_to_raw` inverts the image parameterization of :mod:`featviz_core.method.param` (inverse sigmoid,
inverse color matrix, forward FFT divided by the 1/f scale), so ``ImageParam(photo_to_raw(photo, fft,
decorrelate), size, fft, decorrelate)()`` reproduces the photo at step 0. Lucid's ``pixel_image(shape,
init_val=...)`` accepts such a start for the pixel parameterization only; the Fourier and decorrelated
inversions are ours.

:func:`photo_pull` is a penalty keeping the render near the photo. Lucid and Lucent have no such term; the
closest is Lucid's ``objectives.input_diff(orig_img)`` (``sqrt(mean((input - orig) ** 2))``, used negated for
adversarial examples). Ours is the mean squared difference without the square root, per image.
"""

from __future__ import annotations

import torch

from featviz_core.method.param import (
    COLOR_MATRIX,
    FOURIER_MAGIC,
    RGB_CHANNELS,
    RGBA_CHANNELS,
    fourier_scale,
    raw_shape,
)

# Photos are clamped to [PHOTO_CLAMP, 1 - PHOTO_CLAMP] so the inverse sigmoid stays finite (|logit| <= 6.9);
# 1e-3 is a quarter of one uint8 level, so every 8-bit value survives the round trip.
PHOTO_CLAMP = 1e-3
_INVERSE_COLOR_MATRIX = torch.linalg.inv(COLOR_MATRIX.double()).float()


def correlate_colors(images: torch.Tensor) -> torch.Tensor:
    """Inverse of ``decorrelate_colors``: (B, 3, H, W) -> (B, 3, H, W), ``x @ inverse(M).T`` per pixel."""
    inverse = _INVERSE_COLOR_MATRIX.to(device=images.device, dtype=images.dtype)
    return torch.einsum("bchw,dc->bdhw", images, inverse)


def photo_to_raw(photo: torch.Tensor, fft: bool, decorrelate: bool) -> torch.Tensor:
    """The parameters that make ``ImageParam(raw, size, fft, decorrelate)`` draw ``photo``.

    Args:
        photo: (B, C, size, size) in [0, 1], C = 3 (RGB) or 4 (RGBA), square, e.g. from
            ``featviz_core.photos.analysis.photo_tensor(image, size)``. Values are clamped to
            [PHOTO_CLAMP, 1 - PHOTO_CLAMP] first, so pure black and white come back as 0.001 and 0.999.
        fft: invert the Fourier parameterization when True, the pixel one when False.
        decorrelate: invert the color decorrelation (RGB channels only) when True.

    Returns (B, *raw_shape(size, fft, C)), float32. Within float rounding, the round trip reproduces the
    clamped photo (every uint8 value exactly, bar a last-bit tie).
    """
    if photo.dim() != 4 or photo.shape[1] not in (RGB_CHANNELS, RGBA_CHANNELS) or photo.shape[2] != photo.shape[3]:
        raise ValueError(f"a start photo must be a square (B, 3 or 4, size, size) tensor, got {tuple(photo.shape)}")
    if not torch.isfinite(photo).all() or photo.min() < 0 or photo.max() > 1:
        raise ValueError("a start photo's values must be finite and in [0, 1] (divide 8-bit pixels by 255)")
    batch, channels, size, _ = photo.shape
    clamped = photo.float().clamp(PHOTO_CLAMP, 1 - PHOTO_CLAMP)
    linear = torch.logit(clamped)
    if decorrelate:
        linear = torch.cat([correlate_colors(linear[:, :RGB_CHANNELS]), linear[:, RGB_CHANNELS:]], dim=1)
    if not fft:
        return linear.contiguous()
    spectrum = torch.fft.rfftn(linear.double() * FOURIER_MAGIC, s=(size, size), norm="ortho")
    scale = fourier_scale(size, size).to(spectrum.device, torch.float64)[:, : spectrum.shape[-1]]
    spectrum = spectrum / scale[None, None]
    raw = torch.zeros((batch, *raw_shape(size, fft=True, channels=channels)), dtype=torch.float64, device=photo.device)
    # Odd sides carry one more frequency column than rfft returns (Lucid's layout); it is ignored on the way
    # back, so it stays zero.
    raw[:, :, :, : spectrum.shape[-1]] = torch.view_as_real(spectrum)
    return raw.float()


def photo_pull(images: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared difference from the photo, over channels and pixels: (B,), in [0, 1].

    ``images`` (B, C, H, W) and ``photo`` (B or 1, C', H, W) in [0, 1]; the first C' channels of the images are
    compared (RGB of an RGBA render against an RGB photo). A mean, not a sum, so a weight means the same at
    every image size: subtracting ``w * photo_pull`` costs ``w * d ** 2`` for an RMS pixel difference ``d``
    (w = 100 makes a 0.1 RMS drift cost 1 unit of the objective).
    """
    if photo.shape[-2:] != images.shape[-2:] or photo.shape[1] > images.shape[1]:
        raise ValueError(
            f"the photo {tuple(photo.shape)} must have the images' size and no more channels {tuple(images.shape)}"
        )
    difference = images[:, : photo.shape[1]] - photo
    return difference.pow(2).mean(dim=(1, 2, 3))
