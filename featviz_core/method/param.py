"""Image parameterizations: Fourier (Lucid's 1/f-scaled spectrum) or pixels, optional color decorrelation,
sigmoid to [0, 1].

Shapes: an image is (C, H, W) with C = 3 (RGB) or 4 (RGBA, as Lucid's ``param.image(..., alpha=True)``); a
batch is (B, C, H, W). The optimized tensor is ``ImageParam.raw``.
"""

from __future__ import annotations

import math

import torch

# Square root of the color correlation of ImageNet images (Lucid's color_correlation_svd_sqrt).
COLOR_CORRELATION_SVD_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=torch.float32
)
# Divided by its largest column norm, as Lucid and Lucent do.
COLOR_MATRIX = COLOR_CORRELATION_SVD_SQRT / COLOR_CORRELATION_SVD_SQRT.norm(dim=0).max()
FOURIER_MAGIC = 4.0  # Lucid divides the inverse FFT by 4; larger values reduce saturation.
INIT_SD = 0.01
RGB_CHANNELS = 3
RGBA_CHANNELS = 4


def rfft2d_frequencies(height: int, width: int) -> torch.Tensor:
    """Spatial frequency magnitude of each rfft2 coefficient, shape (height, width // 2 + 1 [+1 if odd])."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64)[:, None]
    columns = width // 2 + 2 if width % 2 == 1 else width // 2 + 1
    fx = torch.fft.fftfreq(width, dtype=torch.float64)[:columns][None, :]
    return torch.sqrt(fx * fx + fy * fy)


def fourier_scale(height: int, width: int, decay_power: float = 1.0) -> torch.Tensor:
    """Lucid's 1/f spectrum scaling: ``1 / max(f, 1 / max(w, h)) ** decay_power``."""
    freqs = rfft2d_frequencies(height, width)
    return (1.0 / torch.clamp(freqs, min=1.0 / max(width, height)) ** decay_power).float()


def raw_shape(size: int, fft: bool, channels: int = RGB_CHANNELS) -> tuple[int, ...]:
    """Shape of one image's optimized tensor: (C, size, columns, 2) in Fourier space, (C, size, size) in pixels."""
    if fft:
        columns = size // 2 + 2 if size % 2 == 1 else size // 2 + 1
        return (channels, size, columns, 2)
    return (channels, size, size)


def initial_raw(size: int, fft: bool, generator: torch.Generator, channels: int = RGB_CHANNELS) -> torch.Tensor:
    """One image's starting noise, N(0, INIT_SD) of shape ``raw_shape(size, fft, channels)``, from ``generator``.

    For 3 channels this is exactly the draw renders have always made, so seeds keep their pixels.
    """
    return torch.randn(raw_shape(size, fft, channels), generator=generator) * INIT_SD


def spectrum_to_image(raw: torch.Tensor, scale: torch.Tensor, size: int) -> torch.Tensor:
    """Lucid's ``fft_image`` read-out: (B, C, size, columns, 2) scaled spectrum -> (B, C, size, size) pixels.

    ``scale`` broadcasts against ``raw`` (e.g. ``fourier_scale(size, size)[None, None, :, :, None]``).
    """
    spectrum = torch.view_as_complex((scale * raw).contiguous())
    image = torch.fft.irfftn(spectrum, s=(size, size), norm="ortho")
    return image[:, :, :size, :size] / FOURIER_MAGIC


def decorrelate_colors(images: torch.Tensor) -> torch.Tensor:
    """Apply the color matrix per pixel (``x @ M.T``): (B, 3, H, W) -> (B, 3, H, W)."""
    matrix = COLOR_MATRIX.to(device=images.device, dtype=images.dtype)
    return torch.einsum("bchw,dc->bdhw", images, matrix)


def to_valid_image(linear: torch.Tensor, decorrelate: bool) -> torch.Tensor:
    """Lucid's ``to_valid_rgb`` (sigmoid variant): (B, C, H, W) linear values -> (B, C, H, W) in (0, 1).

    Color decorrelation applies to the first three channels only; a fourth (alpha) channel goes straight
    through the sigmoid, as in Lucid's ``param/images.py`` ``image(..., alpha=True)``.
    """
    if decorrelate:
        if linear.shape[1] == RGB_CHANNELS:
            linear = decorrelate_colors(linear)
        else:
            linear = torch.cat([decorrelate_colors(linear[:, :RGB_CHANNELS]), linear[:, RGB_CHANNELS:]], dim=1)
    return torch.sigmoid(linear)


class ImageParam(torch.nn.Module):
    """A batch of images as optimizable tensors.

    Args:
        raw: (B, *raw_shape(size, fft, C)) initial values (Lucid draws them from N(0, 0.01)); C = 3 for RGB,
            4 for RGBA (the alpha channel is optimized with the colors, in the same Fourier or pixel space).
        size: image side in pixels.
        fft: Fourier parameterization when True, pixels when False.
        decorrelate: map the RGB channels through the color decorrelation matrix before the sigmoid.

    Calling it returns (B, C, size, size) in [0, 1]: RGB, or RGB then alpha.
    """

    def __init__(self, raw: torch.Tensor, size: int, fft: bool = True, decorrelate: bool = True) -> None:
        super().__init__()
        if raw.dim() < 2 or raw.shape[1] not in (RGB_CHANNELS, RGBA_CHANNELS):
            raise ValueError(
                f"image parameters need 3 (RGB) or 4 (RGBA) channels in dimension 1, got shape {tuple(raw.shape)}"
            )
        self.size = size
        self.fft = fft
        self.decorrelate = decorrelate
        self.raw = torch.nn.Parameter(raw)
        if fft:
            self.register_buffer("scale", fourier_scale(size, size).to(raw.device)[None, None, :, :, None])

    def linear_image(self) -> torch.Tensor:
        """The image before color decorrelation and sigmoid, (B, C, size, size)."""
        if not self.fft:
            return self.raw
        return spectrum_to_image(self.raw, self.scale, self.size)

    def forward(self) -> torch.Tensor:
        return to_valid_image(self.linear_image(), self.decorrelate)


def to_uint8(images: torch.Tensor) -> "numpy.ndarray":  # noqa: F821
    """(B, C, H, W) floats in [0, 1] -> (B, H, W, C) uint8 numpy array."""
    return (images.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


