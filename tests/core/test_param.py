import numpy as np
import torch

from featviz_core.method.param import (
    COLOR_MATRIX, ImageParam, decorrelate_colors, fourier_scale, raw_shape, rfft2d_frequencies
)


def test_color_matrix_is_lucids_normalized_by_largest_column_norm():
    raw = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32)
    expected = raw / np.max(np.linalg.norm(raw, axis=0))
    np.testing.assert_allclose(COLOR_MATRIX.numpy(), expected, rtol=1e-6)
    assert np.isclose(np.linalg.norm(COLOR_MATRIX.numpy(), axis=0).max(), 1.0)


def test_decorrelation_is_x_times_matrix_transposed_per_pixel():
    x = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    got = decorrelate_colors(x)
    expected = (x.permute(0, 2, 3, 1) @ COLOR_MATRIX.T).permute(0, 3, 1, 2)
    torch.testing.assert_close(got, expected)


def test_frequencies_match_lucid_for_even_and_odd_sizes():
    for h, w in [(8, 8), (7, 9), (128, 128)]:
        fy = np.fft.fftfreq(h)[:, None]
        fx = np.fft.fftfreq(w)[: w // 2 + (2 if w % 2 else 1)]
        expected = np.sqrt(fx * fx + fy * fy)
        np.testing.assert_allclose(rfft2d_frequencies(h, w).numpy(), expected)


def test_fourier_scale_is_one_over_f_clamped():
    scale = fourier_scale(16, 16)
    assert scale[0, 0] == 16.0  # DC clamped at 1 / max(w, h)
    assert torch.isclose(scale[0, 1], torch.tensor(16.0))  # f = 1/16
    assert torch.isclose(scale[0, 8], torch.tensor(2.0))  # f = 1/2


def test_fourier_and_pixel_parameterizations_shapes_and_range():
    for size in (16, 33, 128):
        for fft in (True, False):
            raw = torch.randn(3, *raw_shape(size, fft)) * 0.01
            image = ImageParam(raw, size, fft=fft, decorrelate=True)()
            assert image.shape == (3, 3, size, size)
            assert image.min() > 0 and image.max() < 1


def test_fourier_round_trip_recovers_an_image():
    # An image's rfft, divided by the scale and multiplied by the magic constant, is a parameter that
    # reproduces the image exactly.
    size = 32
    target = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(3))
    spectrum = torch.fft.rfftn(target * 4.0, s=(size, size), norm="ortho")
    raw = torch.view_as_real(spectrum / fourier_scale(size, size)[None, None])
    param = ImageParam(raw.contiguous(), size, fft=True, decorrelate=False)
    torch.testing.assert_close(param.linear_image(), target, atol=1e-5, rtol=1e-5)


def test_pixel_parameterization_is_sigmoid_of_raw():
    raw = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(ImageParam(raw, 8, fft=False, decorrelate=False)(), torch.sigmoid(raw))
