"""MACO: magnitude-constrained optimization (Fel et al., NeurIPS 2023, "Unlocking Feature Visualization for
Deeper Networks with MAgnitude Constrained Optimization").

The image is parameterized by the phase of its Fourier spectrum only; the magnitude is fixed to a
natural-image spectrum, so whatever the optimizer does, the image keeps natural-image energy at every
frequency. Per image and step (:class:`MacoParam`):

    phase (3, H, W//2+1), standardized to zero mean and unit deviation
    -> spectrum = magnitude * exp(i * phase)
    -> inverse real FFT (ortho), standardized over the image
    -> color decorrelation matrix (optional) -> sigmoid -> RGB in (0, 1)

Standardizing after the inverse FFT changes the mean (the zero frequency) and scales every frequency alike,
so the image's spectrum stays proportional to the fixed magnitude (tests check this at every step).

The magnitude (:func:`magnitude_for`) is, by default, a 1/f power law (:data:`POWER_LAW_EXPONENT`: the amplitude
spectrum of natural photographs falls about as 1/f); or the average amplitude spectrum of a folder of the
user's images in the decorrelated color space (:func:`add_spectrum_from_folder`; the request names it by its
SHA-256, as photos are named). No spectrum file ships with featviz.

The optimizer (:func:`optimizer_choice`): with ``optimizer="auto"`` MACO runs NAdam at learning rate 1.0, as the
reference implementations do (Xplique's ``maco``: ``Nadam(1.0)``; the authors' PyTorch port Horama:
``torch.optim.NAdam(lr=1.0)``), unless the request's learning rate is not the default 0.05, which is then kept.
The phase is standardized before use, so a step of about one radian is what the method expects; Adam at 0.05
(Lucid's, for Fourier) moves it twenty times more slowly. Not followed from the references: their ImageNet average
spectrum (not shipped; the 1/f law or a folder's spectrum stands in) and their random crops of a larger canvas
(featviz's transforms presets apply, one view per image and step).

The attribution ("transparency") map of the paper: the absolute gradient of the loss with respect to the
image, accumulated over all steps (:attr:`MacoParam.importance`, (B, H, W), summed over colors). It says which
parts of the image the objective relied on; :func:`importance_maps` gathers it for a render.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from featviz_core.errors import RequestError
from featviz_core.method.param import RGB_CHANNELS, ImageParam, fourier_scale, initial_raw, to_valid_image
from featviz_core.settings.optimizers import MACO_LR, MACO_OPTIMIZER, optimizer_choice  # noqa: F401 (re-exported)

POWER_LAW_EXPONENT = 1.0  # amplitude ~ 1 / f ** exponent (Field 1987; van der Schaaf & van Hateren 1996)
SPECTRUM_SIDE = 256  # a folder's average spectrum is computed at this side, then resized to each render's
MAX_FOLDER_IMAGES = 2000
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
_EPS = 1e-8


def spectrum_columns(size: int) -> int:
    """Columns of a real FFT of a ``size``-wide image."""
    return size // 2 + 1


def power_law_magnitude(size: int, exponent: float = POWER_LAW_EXPONENT) -> torch.Tensor:
    """(3, size, size//2+1) amplitude ``1 / max(f, 1/size) ** exponent``, alike in the three (decorrelated)
    color channels."""
    scale = fourier_scale(size, size, exponent)[:, : spectrum_columns(size)]
    return scale.expand(RGB_CHANNELS, -1, -1).contiguous()


def _standardize(x: torch.Tensor) -> torch.Tensor:
    """Zero mean and unit deviation per image (over every dimension but the first)."""
    dims = tuple(range(1, x.dim()))
    return (x - x.mean(dim=dims, keepdim=True)) / (x.std(dim=dims, keepdim=True) + _EPS)


class MacoParam(torch.nn.Module):
    """A batch of images as Fourier phases under a fixed magnitude.

    Args:
        phase: (B, 3, size, size//2+1) initial phases (the paper draws them from N(0, 1)).
        size: image side in pixels.
        magnitude: (3, size, size//2+1) the fixed amplitude spectrum.
        decorrelate: map the colors through the color decorrelation matrix before the sigmoid.

    Calling it returns (B, 3, size, size) in (0, 1). While gradients flow, the absolute gradient reaching the
    image is added to :attr:`importance` ((B, size, size), summed over colors): the paper's attribution map.
    """

    def __init__(self, phase: torch.Tensor, size: int, magnitude: torch.Tensor, decorrelate: bool = True) -> None:
        super().__init__()
        columns = spectrum_columns(size)
        if phase.dim() != 4 or tuple(phase.shape[1:]) != (RGB_CHANNELS, size, columns):
            raise ValueError(f"MACO phases must be (B, 3, {size}, {columns}), got {tuple(phase.shape)}")
        if tuple(magnitude.shape) != (RGB_CHANNELS, size, columns):
            raise ValueError(f"a MACO magnitude must be (3, {size}, {columns}), got {tuple(magnitude.shape)}")
        self.size = size
        self.decorrelate = decorrelate
        self.raw = torch.nn.Parameter(phase)
        self.register_buffer("magnitude", magnitude.to(phase.device, torch.float32)[None])
        self.register_buffer("importance", torch.zeros(phase.shape[0], size, size, device=phase.device))

    def spectrum(self) -> torch.Tensor:
        """(B, 3, size, size//2+1) complex: the fixed magnitude with the standardized phase."""
        phase = _standardize(self.raw)
        return torch.polar(self.magnitude.expand_as(phase), phase)

    def linear_image(self) -> torch.Tensor:
        """The image before color decorrelation and sigmoid, (B, 3, size, size), standardized per image."""
        return _standardize(torch.fft.irfft2(self.spectrum(), s=(self.size, self.size), norm="ortho"))

    def forward(self) -> torch.Tensor:
        pixels = to_valid_image(self.linear_image(), self.decorrelate)
        if pixels.requires_grad:
            pixels.register_hook(self._accumulate)
        return pixels

    def _accumulate(self, grad: torch.Tensor) -> None:
        self.importance += grad.detach().abs().sum(dim=1)


def optimizer_note(request) -> str:
    """What a MACO render's optimizer is, for its notes ("" for Lucid's parameterization, whose Adam is the
    long-standing default)."""
    if request.param != "maco":
        return ""
    name, lr = optimizer_choice(request)
    why = " (Fel et al. 2023's)" if (name, lr) == (MACO_OPTIMIZER, MACO_LR) else ""
    return f"MACO optimized with {_OPTIMIZER_NAMES[name]} at learning rate {lr:g}{why}"


_OPTIMIZER_NAMES = {"adam": "Adam", "nadam": "NAdam"}
_OPTIMIZERS = {"adam": torch.optim.Adam, "nadam": torch.optim.NAdam}


def make_optimizer(request, parameters) -> torch.optim.Optimizer:
    """The optimizer of :func:`optimizer_choice` over ``parameters``."""
    name, lr = optimizer_choice(request)
    return _OPTIMIZERS[name](parameters, lr=lr)


def initial_phase(size: int, generator: torch.Generator) -> torch.Tensor:
    """One image's starting phases, N(0, 1) of shape (3, size, size//2+1), from ``generator``."""
    return torch.randn((RGB_CHANNELS, size, spectrum_columns(size)), generator=generator)


def initial_raw_for(request, generator: torch.Generator, channels: int) -> torch.Tensor:
    """One image's starting tensor for the request's parameterization (MACO's phases or Lucid's raw)."""
    if request.param == "maco":
        return initial_phase(request.size, generator)
    return initial_raw(request.size, request.fft, generator, channels)


def image_param(request, raw: torch.Tensor) -> torch.nn.Module:
    """The parameterization of a chunk's images starting from ``raw`` (B, ...): a :class:`MacoParam` for
    ``param="maco"``, else Lucid's :class:`~featviz_core.method.param.ImageParam`."""
    if request.param == "maco":
        return MacoParam(raw, request.size, magnitude_for(request.maco_spectrum, request.size), request.decorrelate)
    return ImageParam(raw, request.size, request.fft, request.decorrelate)


@torch.no_grad()
def importance_maps(chunks, count: int) -> np.ndarray | None:
    """(count, H, W) float32 attribution maps of a MACO render's images (request order), each scaled to a
    maximum of 1; None when no chunk is MACO."""
    parts = [(chunk.images, chunk.param.importance) for chunk in chunks if isinstance(chunk.param, MacoParam)]
    if not parts:
        return None
    maps = np.zeros((count, *parts[0][1].shape[1:]), dtype=np.float32)
    for where, importance in parts:
        peak = importance.flatten(1).amax(dim=1).clamp_min(_EPS)[:, None, None]
        maps[list(where)] = (importance / peak).cpu().numpy()
    return maps


# ----- the magnitude ---------------------------------------------------------------------------------------
_spectra: "OrderedDict[str, torch.Tensor]" = OrderedDict()
_lock = threading.Lock()
MAX_SPECTRA = 16


def magnitude_for(digest: str, size: int) -> torch.Tensor:
    """The fixed magnitude of a MACO render at ``size``: the 1/f power law for ``digest == ""``, else the
    folder spectrum kept under ``digest``, resized to (3, size, size//2+1).

    Raises:
        RequestError: this process does not hold that spectrum.
    """
    if not digest:
        return power_law_magnitude(size)
    spectrum = get_spectrum(digest)
    if spectrum is None:
        raise RequestError("the MACO spectrum this render uses is not on this server (spectra from image folders "
                           "are kept in memory only); give the folder again with --maco-images")
    return resize_spectrum(spectrum, size)


def resize_spectrum(spectrum: torch.Tensor, size: int) -> torch.Tensor:
    """(3, S, S//2+1) amplitude -> (3, size, size//2+1), resized about the zero frequency (rows shifted so the
    negative frequencies sit below it, bilinear with antialiasing, shifted back)."""
    shifted = torch.fft.fftshift(spectrum, dim=-2)[None]
    resized = F.interpolate(shifted, size=(size, spectrum_columns(size)), mode="bilinear", align_corners=False,
                            antialias=True)[0]
    return torch.fft.ifftshift(resized, dim=-2).clamp_min(0).contiguous()


def average_spectrum(images: list, side: int = SPECTRUM_SIDE) -> torch.Tensor:
    """Average amplitude spectrum (3, side, side//2+1) of RGB images (PIL), each resized and centre-cropped to
    ``side``, centred on its mean and mapped into the decorrelated color space MACO's phases live in; scaled
    to a mean of 1 (only its shape matters: MACO standardizes the image)."""
    from featviz_core.method.photo_start import correlate_colors
    from featviz_core.photos.analysis import photo_tensor

    total = torch.zeros(RGB_CHANNELS, side, spectrum_columns(side), dtype=torch.float64)
    for image in images:
        pixels = photo_tensor(image, side)
        centred = pixels - pixels.mean(dim=(-2, -1), keepdim=True)
        total += torch.fft.rfft2(correlate_colors(centred)[0].double(), norm="ortho").abs()
    mean = total / max(1, len(images))
    return (mean / mean.mean().clamp_min(_EPS)).float()


def spectrum_digest(spectrum: torch.Tensor) -> str:
    digest = hashlib.sha256(f"maco-spectrum|{tuple(spectrum.shape)}|".encode())
    digest.update(spectrum.contiguous().numpy().astype(np.float32).tobytes())
    return digest.hexdigest()


def add_spectrum(spectrum: torch.Tensor) -> str:
    """Keep ``spectrum`` for MACO renders in this process; returns its digest for ``RenderRequest(maco_spectrum=...)``."""
    digest = spectrum_digest(spectrum)
    with _lock:
        _spectra[digest] = spectrum
        _spectra.move_to_end(digest)
        while len(_spectra) > MAX_SPECTRA:
            _spectra.popitem(last=False)
    return digest


def get_spectrum(digest: str) -> torch.Tensor | None:
    with _lock:
        return _spectra.get(digest)


def add_spectrum_from_folder(folder: str | Path) -> str:
    """Read every image in ``folder`` (not its subfolders), keep their average spectrum, return its digest.

    Raises:
        RequestError: not a folder, or no readable image in it.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(folder)
    if not path.is_dir():
        raise RequestError(f"--maco-images {folder}: no such folder; give a folder of photos (PNG, JPEG, ...)")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    images = []
    for file in files[:MAX_FOLDER_IMAGES]:
        try:
            with Image.open(file) as opened:
                images.append(opened.convert("RGB"))
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
            continue
    if not images:
        raise RequestError(f"--maco-images {folder}: no readable image in this folder (PNG, JPEG, WebP, ...)")
    return add_spectrum(average_spectrum(images))
