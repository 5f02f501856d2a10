"""Interpolation between two channels over K frames, with a parameterization shared across frames.

* Objective: Lucid's ``lucid/optvis/objectives.py`` ``channel_interpolate(layer1, n_channel1, layer2,
  n_channel2)``: frame i of K (t = i / (K - 1)) maximizes ``(1 - t) * mean(channel 1) + t * mean(channel 2)``,
  means over the frame's spatial positions (:func:`frame_weights`, :func:`channel_interpolate_scores`).
* Parameterization: Lucid's ``notebooks/differentiable-parameterizations/aligned_interpolation.ipynb``,
  cell ``interpolate_f``: each frame's own Fourier image plus six low-resolution tensors shared by all frames
  (``lowres_tensor`` of shapes (1, s/2), (1, s/4), (1, s/8), (2, s/8), (1, s/16), (2, s/16): batch elements
  and side), added before the color decorrelation and sigmoid (:class:`AlignedInterpolationParam`). A shared
  tensor with one batch element is the same for every frame; one with two is blended linearly from the first
  frame to the last. Neighbouring frames therefore share their layout and differ only where the objective
  pulls them apart.

Resizing: Lucid's ``lowres_tensor`` uses TF1's ``resize_bilinear`` (no corner alignment, no half-pixel
centres), which maps the two batch elements onto frames 0 .. K/2 and holds the second element for the later
half. Here the frame axis is blended with the corners aligned (element 0 at the first frame, element 1 at the
last, as the objective's weights run) and the spatial axes with half-pixel centres (no half-cell shift).
The notebook's optional ``alignment`` objective (weight 1e-1) is not included: it calls the shared
parameterization alone "quite effective".
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from featviz_core.method.param import INIT_SD, RGB_CHANNELS, ImageParam, initial_raw, to_valid_image

# (batch elements, side divisor) of each shared low-resolution tensor, from the notebook's interpolate_f.
SHARED_LEVELS: tuple[tuple[int, int], ...] = ((1, 2), (1, 4), (1, 8), (2, 8), (1, 16), (2, 16))


def frame_weights(frames: int) -> list[float]:
    """Weight ``t = i / (K - 1)`` of the second channel in each of K frames, as Lucid's ``channel_interpolate``
    (Python floats: the request's plan builds each frame's objective and caption from them exactly)."""
    if frames < 2:
        raise ValueError(f"an interpolation needs at least 2 frames, got {frames}")
    return [i / (frames - 1) for i in range(frames)]


def interpolation_weights(frames: int) -> torch.Tensor:
    """Lucid's ``channel_interpolate`` weights as a tensor: (K, 2) rows ``(1 - t, t)`` of :func:`frame_weights`."""
    t = torch.tensor(frame_weights(frames), dtype=torch.float64)
    return torch.stack([1 - t, t], dim=1).float()


def channel_interpolate_scores(
    acts_first: torch.Tensor, channel_first: int, acts_second: torch.Tensor, channel_second: int
) -> torch.Tensor:
    """Each frame's interpolated channel objective (higher is better): (K,).

    ``acts_first`` (K, C1, H1, W1) and ``acts_second`` (K, C2, H2, W2) are the two layers' activations for the
    K frames in order (the same tensor when both channels are in one layer). Lucid's objective is the sum of
    these per-frame values; Lucent's is its negation.
    """
    frames = acts_first.shape[0]
    if acts_second.shape[0] != frames:
        raise ValueError(f"both layers need one activation per frame, got {frames} and {acts_second.shape[0]}")
    weights = interpolation_weights(frames).to(acts_first.device, acts_first.dtype)
    first = acts_first[:, channel_first].mean(dim=(-2, -1))
    second = acts_second[:, channel_second].mean(dim=(-2, -1))
    return weights[:, 0] * first + weights[:, 1] * second


def shared_shapes(size: int, channels: int = RGB_CHANNELS) -> list[tuple[int, int, int, int]]:
    """Shapes (batch elements, C, side, side) of the shared tensors for a ``size`` px image (sides >= 1)."""
    return [(elements, channels, max(1, size // divisor), max(1, size // divisor)) for elements, divisor in SHARED_LEVELS]


def draw_aligned_raws(
    generators: Sequence[torch.Generator], size: int, fft: bool, channels: int = RGB_CHANNELS
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Starting values for K = len(generators) frames: per-frame noise and the shared tensors.

    Frame i's own noise is ``initial_raw(size, fft, generators[i], channels)`` (what an independent render
    with that generator draws first); the shared tensors are then drawn from ``generators[0]``, N(0, 0.01)
    like Lucid's ``lowres_tensor``. Returns ((K, *raw_shape), [shared tensors of ``shared_shapes``]).
    """
    unique = torch.stack([initial_raw(size, fft, generator, channels) for generator in generators])
    shared = [torch.randn(shape, generator=generators[0]) * INIT_SD for shape in shared_shapes(size, channels)]
    return unique, shared


def frame_blend_matrix(elements: int, frames: int) -> torch.Tensor:
    """(K, elements) linear blend with corners aligned: frame 0 is element 0, frame K-1 the last element."""
    if elements == 1:
        return torch.ones(frames, 1)
    position = torch.arange(frames, dtype=torch.float64) * (elements - 1) / max(frames - 1, 1)
    lower = position.floor().clamp(max=elements - 2).long()
    upper_weight = position - lower
    matrix = torch.zeros(frames, elements, dtype=torch.float64)
    matrix[torch.arange(frames), lower] = 1 - upper_weight
    matrix[torch.arange(frames), lower + 1] = upper_weight
    return matrix.float()


def upsample_shared(low: torch.Tensor, frames: int, size: int, blend: torch.Tensor | None = None) -> torch.Tensor:
    """A shared tensor (elements, C, h, w) -> (K, C, size, size): bilinear in space, linear across frames
    (``blend``: its :func:`frame_blend_matrix`, when the caller keeps one)."""
    spatial = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    if blend is None:
        blend = frame_blend_matrix(low.shape[0], frames)
    return torch.einsum("ke,echw->kchw", blend.to(low.device, low.dtype), spatial)


class AlignedInterpolationParam(torch.nn.Module):
    """K frames as each frame's own image plus tensors shared by all frames (Lucid's ``interpolate_f``).

    Args:
        unique_raw: (K, *raw_shape(size, fft, C)) per-frame parameters, C = 3 (RGB) or 4 (RGBA).
        shared_raws: tensors of ``shared_shapes(size, C)``, in pixel space (Lucid's ``lowres_tensor``).
        size: image side in pixels.
        fft: Fourier parameterization of the per-frame part when True, pixels when False.
        decorrelate: color-decorrelate the RGB channels of the sum before the sigmoid.

    Calling it returns (K, C, size, size) in [0, 1]. Optimize ``parameters()`` (the per-frame and shared
    tensors together).
    """

    def __init__(
        self,
        unique_raw: torch.Tensor,
        shared_raws: Sequence[torch.Tensor],
        size: int,
        fft: bool = True,
        decorrelate: bool = True,
    ) -> None:
        super().__init__()
        self.frames_param = ImageParam(unique_raw, size, fft, decorrelate=False)
        channels = unique_raw.shape[1]
        for low in shared_raws:
            if low.dim() != 4 or low.shape[1] != channels:
                raise ValueError(f"shared tensors must be (elements, {channels}, h, w), got {tuple(low.shape)}")
        self.shared = torch.nn.ParameterList([torch.nn.Parameter(low) for low in shared_raws])
        self.size = size
        self.decorrelate = decorrelate
        # Each shared tensor's blend across the frames, built once (not every step) and moved with the module.
        for index, low in enumerate(shared_raws):
            self.register_buffer(f"blend_{index}", frame_blend_matrix(low.shape[0], unique_raw.shape[0]).to(low.device))

    @property
    def frames(self) -> int:
        return self.frames_param.raw.shape[0]

    def linear_image(self) -> torch.Tensor:
        """Sum of the per-frame images and the upsampled shared tensors before decorrelation: (K, C, size, size)."""
        image = self.frames_param.linear_image()
        for index, low in enumerate(self.shared):
            image = image + upsample_shared(low, self.frames, self.size, getattr(self, f"blend_{index}"))
        return image

    def forward(self) -> torch.Tensor:
        return to_valid_image(self.linear_image(), self.decorrelate)
