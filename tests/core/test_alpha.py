import numpy as np
import pytest
import torch

from featviz_core.method.alpha import (
    BACKGROUND_DECAY_POWER,
    BACKGROUND_SD,
    composite,
    composite_for_model,
    mean_alpha,
    random_backgrounds,
    rgba_for_display,
    transparency_weighted_scores,
)
from featviz_core.method.param import COLOR_MATRIX, INIT_SD, ImageParam, initial_raw, raw_shape


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("fft", [True, False])
def test_rgba_parameterization_decorrelates_rgb_only_and_sigmoids_alpha(fft):
    size = 12
    raw = torch.stack([initial_raw(size, fft, generator(s), channels=4) for s in (1, 2)]) * 50
    assert raw.shape == (2, *raw_shape(size, fft, channels=4))
    rgba = ImageParam(raw.clone(), size, fft, decorrelate=True)()
    assert rgba.shape == (2, 4, size, size)
    assert rgba.min() > 0 and rgba.max() < 1
    # The colors are exactly what a 3-channel image with the same first three channels gives.
    rgb_only = ImageParam(raw[:, :3].clone(), size, fft, decorrelate=True)()
    torch.testing.assert_close(rgba[:, :3], rgb_only)
    # The alpha channel skips decorrelation: it is the sigmoid of its own linear image either way.
    plain = ImageParam(raw.clone(), size, fft, decorrelate=False)
    torch.testing.assert_close(rgba[:, 3], torch.sigmoid(plain.linear_image()[:, 3]))
    torch.testing.assert_close(plain()[:, 3], rgba[:, 3])
    assert not torch.allclose(plain()[:, :3], rgba[:, :3])


def test_rgba_initial_noise_comes_from_the_generator():
    first = initial_raw(8, True, generator(7), channels=4)
    again = initial_raw(8, True, generator(7), channels=4)
    other = initial_raw(8, True, generator(8), channels=4)
    assert torch.equal(first, again) and not torch.equal(first, other)
    expected = torch.randn(raw_shape(8, True, 4), generator=generator(7)) * INIT_SD
    assert torch.equal(first, expected)


def test_image_param_rejects_other_channel_counts():
    with pytest.raises(ValueError, match="3 \\(RGB\\) or 4 \\(RGBA\\)"):
        ImageParam(torch.zeros(1, 2, 8, 8), 8, fft=False)


def lucid_image_sample(noise: np.ndarray, size: int) -> np.ndarray:
    """Lucid's rand_fft_image + to_valid_rgb in numpy: unnormalized irfft2 times sqrt(w*h), / 4, M, sigmoid."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[: size // 2 + (2 if size % 2 else 1)]
    freqs = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(freqs, 1.0 / size) ** BACKGROUND_DECAY_POWER * np.sqrt(size * size)
    spectrum = (noise[..., 0] + 1j * noise[..., 1]) * scale
    image = np.fft.irfft2(spectrum[..., : size // 2 + 1], s=(size, size))[:, :size, :size] / 4.0
    image = np.einsum("chw,dc->dhw", image, COLOR_MATRIX.double().numpy())
    return 1 / (1 + np.exp(-image))


@pytest.mark.parametrize("size", [16, 15])
def test_backgrounds_follow_lucids_image_sample_with_the_notebooks_settings(size):
    backgrounds = random_backgrounds([generator(3), generator(4)], size)
    assert backgrounds.shape == (2, 3, size, size)
    for index, seed in enumerate((3, 4)):
        noise = torch.randn(raw_shape(size, True), generator=generator(seed)).double().numpy() * BACKGROUND_SD
        np.testing.assert_allclose(backgrounds[index].numpy(), lucid_image_sample(noise, size), atol=1e-5)


def test_backgrounds_per_image_do_not_depend_on_the_batch_and_change_every_step():
    alone = random_backgrounds([generator(2)], 16)
    g1, g2 = generator(1), generator(2)
    together = random_backgrounds([g1, g2], 16)
    torch.testing.assert_close(together[1], alone[0])
    next_step = random_backgrounds([g1, g2], 16)
    assert (next_step - together).abs().mean() > 0.01
    # sd 0.2 spreads the colours well beyond the 0.01 start noise's near-grey
    assert together.std() > 0.05


def test_composite_is_alpha_over_background():
    rgb = torch.full((1, 3, 4, 4), 0.8)
    background = torch.full((1, 3, 4, 4), 0.2)
    for a, expected in [(1.0, 0.8), (0.0, 0.2), (0.25, 0.35)]:
        rgba = torch.cat([rgb, torch.full((1, 1, 4, 4), a)], dim=1)
        torch.testing.assert_close(composite(rgba, background), torch.full((1, 3, 4, 4), expected))
    rgba = torch.cat([rgb, torch.full((1, 1, 4, 4), 0.25)], dim=1)
    torch.testing.assert_close(composite_for_model(rgba, background), torch.full((1, 3, 4, 4), 0.35 ** (1 / 2.2)))
    with pytest.raises(ValueError, match="RGBA"):
        composite(rgb, background)
    with pytest.raises(ValueError, match="background"):
        composite(rgba, torch.zeros(1, 3, 5, 5))


def test_display_gamma_encodes_colors_and_keeps_alpha():
    rgba = torch.tensor([0.25, 0.5, 1.0, 0.3]).view(1, 4, 1, 1)
    shown = rgba_for_display(rgba)
    torch.testing.assert_close(shown[0, :3, 0, 0], torch.tensor([0.25, 0.5, 1.0]) ** (1 / 2.2))
    assert shown[0, 3, 0, 0] == rgba[0, 3, 0, 0]


def test_transparency_weighting_is_the_notebooks_loss():
    scores = torch.tensor([2.0, 3.0, -1.0])
    alpha = torch.zeros(3, 4, 2, 2)
    alpha[:, 3] = torch.tensor([0.5, 1.0, 0.2]).view(3, 1, 1)
    full = mean_alpha(alpha)
    view = torch.tensor([0.25, 1.0, 0.0])
    notebook_loss = -scores * (1 - full) * 0.5 - scores * (1 - view)
    torch.testing.assert_close(transparency_weighted_scores(scores, full, view), -notebook_loss)
    torch.testing.assert_close(transparency_weighted_scores(scores, full), scores * 1.5 * (1 - full))
    torch.testing.assert_close(transparency_weighted_scores(scores, full, view, strength=0.0), 1.5 * scores)
    with pytest.raises(ValueError, match="between 0 and 1"):
        transparency_weighted_scores(scores, full, strength=2.0)


def test_transparency_weighting_pushes_alpha_down_while_the_score_is_positive():
    alpha = torch.full((2,), 0.6, requires_grad=True)
    scores = torch.tensor([4.0, 1.0])
    transparency_weighted_scores(scores, alpha).sum().backward()
    assert (alpha.grad < 0).all()  # the maximized objective grows as alpha falls
