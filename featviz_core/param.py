"""Image parameterizations: Fourier (Lucid's 1/f-scaled spectrum) or pixels, optional color decorrelation,
sigmoid to [0, 1].

Shapes: every image is (3, H, W); a batch is (B, 3, H, W). The optimized tensors are ``ImageParam.params``.
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


def raw_shape(size: int, fft: bool) -> tuple[int, ...]:
    """Shape of one image's optimized tensor."""
    if fft:
        columns = size // 2 + 2 if size % 2 == 1 else size // 2 + 1
        return (3, size, columns, 2)
    return (3, size, size)


def decorrelate_colors(images: torch.Tensor) -> torch.Tensor:
    """Apply the color matrix per pixel (``x @ M.T``): (B, 3, H, W) -> (B, 3, H, W)."""
    matrix = COLOR_MATRIX.to(device=images.device, dtype=images.dtype)
    return torch.einsum("bchw,dc->bdhw", images, matrix)


class ImageParam(torch.nn.Module):
    """A batch of images as optimizable tensors.

    Args:
        raw: (B, *raw_shape(size, fft)) initial values (Lucid draws them from N(0, 0.01)).
        size: image side in pixels.
        fft: Fourier parameterization when True, pixels when False.
        decorrelate: map through the color decorrelation matrix before the sigmoid.

    Calling it returns (B, 3, size, size) RGB in [0, 1].
    """

    def __init__(self, raw: torch.Tensor, size: int, fft: bool = True, decorrelate: bool = True) -> None:
        super().__init__()
        self.size = size
        self.fft = fft
        self.decorrelate = decorrelate
        self.raw = torch.nn.Parameter(raw)
        if fft:
            self.register_buffer("scale", fourier_scale(size, size).to(raw.device)[None, None, :, :, None])

    def linear_image(self) -> torch.Tensor:
        """The image before color decorrelation and sigmoid, (B, 3, size, size)."""
        if not self.fft:
            return self.raw
        spectrum = torch.view_as_complex((self.scale * self.raw).contiguous())
        image = torch.fft.irfftn(spectrum, s=(self.size, self.size), norm="ortho")
        return image[:, :, : self.size, : self.size] / FOURIER_MAGIC

    def forward(self) -> torch.Tensor:
        image = self.linear_image()
        if self.decorrelate:
            image = decorrelate_colors(image)
        return torch.sigmoid(image)


def to_uint8(images: torch.Tensor) -> "numpy.ndarray":  # noqa: F821
    """(B, 3, H, W) floats in [0, 1] -> (B, H, W, 3) uint8 numpy array."""
    return (images.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


