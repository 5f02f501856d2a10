"""MACO: only the phase is optimized; the image's spectrum keeps the fixed magnitude at every step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from featviz_core.method import maco
from featviz_core.errors import RequestError
from featviz_core.method.maco import MacoParam, magnitude_for, power_law_magnitude
from featviz_core.models import REGISTRY, get_spec
from featviz_core.render import render, set_up
from featviz_core.render.step import ModelRun, optimization_step
from featviz_core.request import RenderRequest, min_image_size

CPU = torch.device("cpu")
M = "efficientnet-lite0"


def spectrum_ratio(param: MacoParam, magnitude: torch.Tensor | None = None) -> torch.Tensor:
    """|FFT of the image before the color matrix| / ``magnitude`` (default: the param's fixed one), on the
    columns the inverse FFT keeps as they are (it makes the first and last Hermitian): (B, 3, H, W//2-1)."""
    image = param.linear_image().detach().double()
    spectrum = torch.fft.rfft2(image, norm="ortho").abs()
    reference = param.magnitude if magnitude is None else magnitude[None]
    return (spectrum / reference.double())[..., 1:-1]


def assert_fixed_magnitude(param: MacoParam, magnitude: torch.Tensor | None = None) -> None:
    per_image = spectrum_ratio(param, magnitude).flatten(1)
    # One factor per image (the standardization's), the same at every frequency and color.
    spread = (per_image.amax(dim=1) - per_image.amin(dim=1)) / per_image.mean(dim=1)
    assert spread.max() < 1e-4, spread


def test_the_image_keeps_the_fixed_magnitude_at_every_step(effnet):
    request = RenderRequest(model=M, layer="_blocks.10", channels=(0, 1), steps=12, size=48, param="maco")
    setup = set_up(request, CPU, batch_size=2)
    chunk = setup.chunks[0]
    assert isinstance(chunk.param, MacoParam)
    assert [tuple(t.shape) for t in chunk.tensors] == [(2, 3, 48, 25)]  # the phase is the only parameter
    magnitude = chunk.param.magnitude.clone()
    run = ModelRun(effnet, get_spec(M).preprocess.apply)
    phases = []
    for step in range(1, request.steps + 1):
        optimization_step(setup, chunk, step, run)
        assert torch.equal(chunk.param.magnitude, magnitude)
        assert_fixed_magnitude(chunk.param)
        phases.append(chunk.param.raw.detach().clone())
    assert not torch.equal(phases[0], phases[-1])  # the phase did move
    assert chunk.param.importance.shape == (2, 48, 48) and chunk.param.importance.min() >= 0
    assert chunk.param.importance.sum() > 0


def test_the_spectrum_check_fails_for_another_magnitude():
    """The check above can fail: an image is not proportional to a magnitude it was not made with."""
    param = MacoParam(torch.randn(1, 3, 32, 17), 32, power_law_magnitude(32))
    assert_fixed_magnitude(param)
    with pytest.raises(AssertionError):
        assert_fixed_magnitude(param, power_law_magnitude(32, exponent=1.2))


@pytest.mark.parametrize("name", list(REGISTRY))
def test_maco_renders_on_every_registered_model(name, inception_random, effnet):
    model = inception_random if name == "inceptionv1" else effnet
    spec = get_spec(name)
    request = RenderRequest(model=name, layer=spec.default_layer, channels=(0, 1), steps=4,
                            size=min_image_size(name), param="maco")
    result = render(request, model=model, device=CPU, snapshot_every=2)
    assert result.images.shape == (2, request.size, request.size, 3) and result.images.std() > 0
    maps = result.extra["importance"]
    assert maps.shape == (2, request.size, request.size) and np.isclose(maps.max(), 1.0) and maps.min() >= 0
    assert np.isfinite(result.scores).all()


def test_maco_magnitude_from_a_folder_of_images(tmp_path, effnet):
    rng = np.random.default_rng(0)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(80, 96, 3)), axis=0), axis=1)  # brown noise: a steep spectrum
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min()) * 255
    for i in range(3):
        Image.fromarray(np.roll(smooth, 7 * i, axis=0).astype(np.uint8)).save(tmp_path / f"p{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    digest = maco.add_spectrum_from_folder(tmp_path)
    magnitude = magnitude_for(digest, 40)
    assert magnitude.shape == (3, 40, 21) and torch.isfinite(magnitude).all()
    low, high = magnitude[:, 1:3, 1:3].mean(), magnitude[:, 15:20, 15:20].mean()
    assert low > 20 * high  # integrated noise: energy sits at low frequencies
    request = RenderRequest(model=M, layer="_blocks.4", channels=(0,), steps=3, size=40, param="maco",
                            maco_spectrum=digest)
    setup = set_up(request, CPU, batch_size=1)
    assert torch.allclose(setup.chunks[0].param.magnitude[0], magnitude)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RequestError, match="no readable image in this folder"):
        maco.add_spectrum_from_folder(tmp_path / "empty")


def test_power_law_default_falls_as_one_over_f():
    magnitude = power_law_magnitude(64)
    assert magnitude.shape == (3, 64, 33)
    assert torch.allclose(magnitude[0, 0, 4] / magnitude[0, 0, 8], torch.tensor(2.0))
    assert torch.equal(magnitude[0], magnitude[2])


# ----- MACO's own optimizer (NAdam at lr 1.0, Fel et al.'s reference code) ---------------------------------
DEEP = "_blocks.15"  # EfficientNet-Lite0's last block


def bare_activation(model, request: RenderRequest, setup) -> torch.Tensor:
    """Each image's objective on its bare view (no transforms), as a finished image is scored."""
    from featviz_core.render import evaluate

    with torch.no_grad():
        return torch.as_tensor(evaluate(model, request, setup.chunks[0].param()))


def test_maco_defaults_run_nadam_and_raise_a_deep_objective_keeping_the_magnitude(effnet):
    request = RenderRequest(model=M, layer=DEEP, channels=(0, 1), steps=8, size=64, param="maco")
    assert maco.optimizer_choice(request) == ("nadam", 1.0)
    old = request.replace(optimizer="adam")
    assert maco.optimizer_choice(old) == ("adam", 0.05)
    gains = {}
    for name, asked in (("nadam", request), ("adam", old)):
        setup = set_up(asked, CPU, batch_size=2)
        chunk = setup.chunks[0]
        assert type(chunk.optimizer).__name__ == {"nadam": "NAdam", "adam": "Adam"}[name]
        assert chunk.optimizer.param_groups[0]["lr"] == (1.0 if name == "nadam" else 0.05)
        before = bare_activation(effnet, asked, setup)
        run = ModelRun(effnet, get_spec(M).preprocess.apply)
        for step in range(1, asked.steps + 1):
            optimization_step(setup, chunk, step, run)
            assert_fixed_magnitude(chunk.param)
        gains[name] = bare_activation(effnet, asked, setup) - before
    assert (gains["nadam"] > 1.0).all(), gains  # real weights: the deep channels respond within 8 steps
    assert gains["nadam"].mean() > gains["adam"].mean(), gains  # and faster than with Lucid's Adam at 0.05


def test_a_learning_rate_or_optimizer_given_is_kept_and_the_notes_say_what_ran(effnet):
    base = RenderRequest(model=M, layer="_blocks.4", channels=(0,), steps=2, size=48, param="maco")
    assert maco.optimizer_choice(base.replace(lr=0.2)) == ("nadam", 0.2)
    assert maco.optimizer_choice(base.replace(optimizer="adam", lr=0.3)) == ("adam", 0.3)
    assert maco.optimizer_choice(base.replace(optimizer="nadam")) == ("nadam", 0.05)
    assert "MACO optimized with NAdam at learning rate 1 (Fel et al. 2023's)" in render(base, model=effnet,
                                                                                        device=CPU).note
    note = render(base.replace(optimizer="adam"), model=effnet, device=CPU).note
    assert "MACO optimized with Adam at learning rate 0.05" in note and "Fel" not in note


def test_fourier_keeps_adam_and_its_cache_keys():
    fourier = RenderRequest(model=M, layer="_blocks.4", channels=(0,), steps=2, size=48)
    assert fourier.optimizer == "auto" and maco.optimizer_choice(fourier) == ("adam", 0.05)
    setup = set_up(fourier, CPU, batch_size=1)
    assert type(setup.chunks[0].optimizer) is torch.optim.Adam
    assert setup.chunks[0].optimizer.param_groups[0]["lr"] == 0.05
    # Adam is what Lucid's renders always ran: the setting is left out of their keys, so cached renders stay
    assert fourier.key("w") == fourier.replace(optimizer="adam").key("w")
    assert fourier.replace(optimizer="nadam").key("w") != fourier.key("w")
    mac = fourier.replace(param="maco")
    assert mac.key("w") != mac.replace(optimizer="adam").key("w")

