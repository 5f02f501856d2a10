"""Compiled renders (torch.compile of the forward pass cut at the target layers) and the quality presets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from featviz_core.errors import RequestError
from featviz_core.render import render
from featviz_core.render.compiled import CompileUnavailable, compile_seconds, truncated_extractor
from featviz_core.request import RenderRequest
from featviz_core.settings.step_presets import FAST_STEPS, SEED_STEPS, preset_settings, preset_steps


@pytest.mark.slow  # compiling takes one to several minutes on 2 shared cores
def test_compiled_render_runs_and_agrees_with_eager(effnet):
    # A shallow layer and a small native-resolution image keep the compile and the steps short.
    request = RenderRequest(model="efficientnet-lite0", layer="_blocks.1", channels=(0, 5), steps=3, size=48,
                            upsample=False)
    eager = render(request, model=effnet, device="cpu")
    compiled = render(request, model=effnet, device="cpu", compile=True)
    assert compiled.note == ""  # it was compiled, not refused
    assert any(layers == ("_blocks.1",) for _, layers, _ in compile_seconds)
    # Step 1 sees the same pixels and transforms: its activations differ only by kernel rounding.
    np.testing.assert_allclose(compiled.history[0], eager.history[0], rtol=1e-4, atol=1e-5)
    # Later steps follow the same optimization (Adam may amplify rounding a little).
    np.testing.assert_allclose(compiled.scores, eager.scores, rtol=2e-2, atol=1e-3)
    assert compiled.images.shape == eager.images.shape == (2, 48, 48, 3)


class _DataDependent(torch.nn.Module):
    """A model whose forward pass branches on its input's values: FX cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) if x.mean() > 0 else self.conv(-x)


def test_a_model_that_cannot_be_cut_is_refused_with_a_reason():
    with pytest.raises(CompileUnavailable, match="cannot cut the model at conv for compiling"):
        truncated_extractor(_DataDependent(), ("conv",))


def test_quality_presets():
    assert preset_steps("seed", "efficientnet-lite0") == SEED_STEPS == 512
    fast = preset_steps("fast", "efficientnet-lite0")
    assert fast == FAST_STEPS["efficientnet-lite0"] and 1 <= fast < SEED_STEPS
    with pytest.raises(RequestError, match="unknown quality preset 'best'; choose one of: seed, fast"):
        preset_steps("best", "efficientnet-lite0")
    assert preset_settings("seed", "efficientnet-lite0") == {
        "steps": 512, "precision": "float32", "memory_format": "contiguous", "optimizer": "auto", "lr": 0.05,
        "lr_schedule": "constant"}
    assert preset_settings("fast", "efficientnet-lite0") == {
        "steps": fast, "precision": "auto", "memory_format": "auto", "optimizer": "nadam", "lr": 0.1,
        "lr_schedule": "tail"}
    # MACO keeps its own optimizer (auto: NAdam at 1.0) under either preset
    assert preset_settings("fast", "efficientnet-lite0", "maco") == {"steps": fast, "precision": "auto",
                                                                     "memory_format": "auto"}
    with pytest.raises(RequestError, match="no fast step count has been measured for nope"):
        preset_steps("fast", "nope")
