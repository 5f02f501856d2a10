import numpy as np
import pytest
import torch

from featviz_core.method.param import ImageParam, decorrelate_colors, raw_shape, to_uint8
from featviz_core.method.photo_start import PHOTO_CLAMP, correlate_colors, photo_pull, photo_to_raw


def photo(batch=2, channels=3, size=16, seed=0):
    pixels = torch.randint(0, 256, (batch, channels, size, size), generator=torch.Generator().manual_seed(seed))
    pixels[0, :, 0, 0] = 0  # pure black and white must survive too
    pixels[0, :, 0, 1] = 255
    return pixels.float() / 255


@pytest.mark.parametrize("size", [16, 15])
@pytest.mark.parametrize("fft", [True, False])
@pytest.mark.parametrize("decorrelate", [True, False])
def test_parameterization_reproduces_the_photo(fft, decorrelate, size):
    start = photo(size=size)
    raw = photo_to_raw(start, fft, decorrelate)
    assert raw.shape == (2, *raw_shape(size, fft)) and raw.dtype == torch.float32
    drawn = ImageParam(raw, size, fft, decorrelate)()
    # Within the clamp (1e-3 at pure black / white) plus float rounding.
    assert (drawn - start).abs().max() <= PHOTO_CLAMP + 1e-5
    uint8_difference = np.abs(to_uint8(drawn).astype(int) - to_uint8(start).astype(int))
    assert uint8_difference.max() <= 1
    assert (uint8_difference == 0).mean() > 0.999


@pytest.mark.parametrize("fft", [True, False])
def test_rgba_photo_round_trips_with_its_alpha(fft):
    start = photo(batch=1, channels=4, size=12, seed=1)
    drawn = ImageParam(photo_to_raw(start, fft, True), 12, fft, True)()
    assert drawn.shape == (1, 4, 12, 12)
    assert (drawn - start).abs().max() <= PHOTO_CLAMP + 1e-5


def test_correlate_colors_inverts_the_decorrelation():
    x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(correlate_colors(decorrelate_colors(x)), x, atol=1e-5, rtol=1e-5)


def test_bad_photos_get_a_clear_message():
    with pytest.raises(ValueError, match="square"):
        photo_to_raw(torch.rand(1, 3, 8, 9), True, True)
    with pytest.raises(ValueError, match="square"):
        photo_to_raw(torch.rand(1, 1, 8, 8), True, True)
    with pytest.raises(ValueError, match="divide 8-bit pixels by 255"):
        photo_to_raw(torch.rand(1, 3, 8, 8) * 255, True, True)
    with pytest.raises(ValueError, match="finite"):
        photo_to_raw(torch.full((1, 3, 8, 8), float("nan")), False, False)


def test_pull_is_the_per_image_mean_squared_difference():
    target = torch.zeros(1, 3, 4, 4)
    images = torch.zeros(2, 4, 4, 4)
    images[1, 0] = 0.5  # one of three colour channels off by 0.5
    images[:, 3] = 0.9  # an alpha channel is not compared with an RGB photo
    torch.testing.assert_close(photo_pull(images, target), torch.tensor([0.0, 0.25 / 3]))
    grown = torch.zeros(2, 3, 8, 8)
    grown[1, 0] = 0.5
    torch.testing.assert_close(photo_pull(grown, torch.zeros(1, 3, 8, 8)), torch.tensor([0.0, 0.25 / 3]))
    with pytest.raises(ValueError, match="size"):
        photo_pull(images, torch.zeros(1, 3, 5, 5))
