"""The compute path (precision and memory format): off changes nothing, on is reproducible and keeps quality."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from featviz_core import device as devices
from featviz_core.render.compute_path import ComputePath, model_for_path, resolve_path
from featviz_core.models import get_spec
from featviz_core.render.neutral_score import neutral_score
from featviz_core.render import final_images, render, render_iter
from featviz_core.render.step import ModelRun
from featviz_core.request import RenderRequest

CPU = torch.device("cpu")
M = "efficientnet-lite0"


def tiny(**changes) -> RenderRequest:
    return RenderRequest(model=M, layer="_blocks.4", channels=(0, 1), steps=6, size=32, **changes)


def test_default_settings_resolve_to_the_model_as_is():
    path = resolve_path("float32", "contiguous", CPU)
    assert path == ComputePath(torch.float32, False, "") and path.is_default and path.name == "float32/contiguous"
    model = torch.nn.Conv2d(3, 4, 3)
    assert model_for_path(model, path) is model  # no copy, no cast, no layout change


class _Spy(torch.nn.Module):
    """Records what the model receives."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x)
        return self.conv(x)


def test_the_default_path_hands_the_model_the_same_tensor_and_returns_the_same_activations():
    spy = _Spy().eval()
    x = torch.rand(2, 3, 16, 16)
    plain = ModelRun(spy, lambda t: t * 2 - 1)(x, ("conv",))
    off = ModelRun(spy, lambda t: t * 2 - 1, path=resolve_path("float32", "contiguous", CPU))(x, ("conv",))
    assert torch.equal(plain["conv"], off["conv"])
    assert spy.seen[0].dtype == spy.seen[1].dtype == torch.float32
    assert spy.seen[1].is_contiguous() and spy.seen[1].stride() == spy.seen[0].stride()
    fast = ComputePath(torch.bfloat16, True)
    copy = model_for_path(spy, fast)
    out = ModelRun(copy, lambda t: t * 2 - 1, path=fast)(x, ("conv",))
    assert copy is not spy and copy.seen[-1].is_contiguous(memory_format=torch.channels_last)
    assert out["conv"].dtype == torch.float32 and not torch.equal(out["conv"], plain["conv"])  # computed in bfloat16
    assert spy.conv.weight.is_contiguous() and len(spy.seen) == 2  # the shared model is untouched


def test_settings_turned_off_change_no_pixel_and_turned_on_change_some(effnet):
    base = render(tiny(), model=effnet, device=CPU, snapshot_every=6)
    off = render(tiny(precision="float32", memory_format="contiguous"), model=effnet, device=CPU, snapshot_every=6)
    assert np.array_equal(base.images, off.images) and base.note == off.note == ""
    bf16 = render(tiny(precision="bfloat16", memory_format="channels_last"), model=effnet, device=CPU, snapshot_every=6)
    if devices.cpu_bf16_support()[0]:
        assert not np.array_equal(base.images, bf16.images)  # the setting reaches the model
        assert bf16.note.startswith("model computed in bfloat16 (asked for:")
    else:
        assert bf16.note.startswith("model computed in float32 (bfloat16 asked for, but")


def test_same_request_and_seed_on_the_same_path_give_identical_pixels(effnet):
    request = tiny(precision="auto", memory_format="auto")
    first = render(request, model=effnet, device=CPU, snapshot_every=6)
    second = render(request, model=effnet, device=CPU, snapshot_every=6)
    assert np.array_equal(first.images, second.images)
    assert "channels-last layout (auto on cpu)" in first.note


def test_bfloat16_is_never_emulated(monkeypatch):
    monkeypatch.setattr(devices, "cpu_bf16_support", lambda: (False, "this CPU has neither AVX-512 BF16 nor AMX"))
    asked = resolve_path("bfloat16", "contiguous", CPU)
    assert asked.dtype == torch.float32 and asked.why == (
        "model computed in float32 (bfloat16 asked for, but this CPU has neither AVX-512 BF16 nor AMX)")
    auto = resolve_path("auto", "auto", CPU, "inceptionv1")
    assert auto.dtype == torch.float32 and auto.channels_last
    monkeypatch.setattr(devices, "cpu_bf16_support", lambda: (True, "AVX-512 BF16"))
    assert resolve_path("bfloat16", "contiguous", CPU).dtype == torch.bfloat16
    # auto takes bfloat16 only for a model measured faster with it
    assert resolve_path("auto", "auto", CPU, "inceptionv1").dtype == torch.bfloat16
    assert resolve_path("auto", "auto", CPU, "efficientnet-lite0").why == (
        "model computed in float32 (auto: bfloat16 not measured faster for efficientnet-lite0), channels-last layout "
        "(auto on cpu)")


def test_auto_takes_bfloat16_for_dense_torchvision_networks_on_amx_only(monkeypatch):
    resnet, vit, mobile = ("torchvision:resnet50?weights=random", "torchvision:vit_b_16", "torchvision:mobilenet_v3_small")
    monkeypatch.setattr(devices, "cpu_bf16_support", lambda: (True, "AMX"))
    for model in (resnet, vit, "torchvision:googlenet"):
        path = resolve_path("auto", "auto", CPU, model)
        assert path.dtype == torch.bfloat16 and path.channels_last and "with AMX" in path.why, model
    # a depthwise network (like EfficientNet-Lite0, measured slower in bfloat16) keeps float32
    assert resolve_path("auto", "auto", CPU, mobile).dtype == torch.float32
    monkeypatch.setattr(devices, "cpu_bf16_support", lambda: (True, "AVX-512 BF16"))  # native, but not measured
    assert resolve_path("auto", "auto", CPU, resnet).dtype == torch.float32
    assert resolve_path("auto", "auto", CPU, "inceptionv1").dtype == torch.bfloat16  # measured on either
    monkeypatch.setattr(devices, "cpu_bf16_support", lambda: (False, "this CPU has neither AVX-512 BF16 nor AMX"))
    assert resolve_path("auto", "auto", CPU, resnet).dtype == torch.float32
    assert resolve_path("bfloat16", "auto", CPU, resnet).dtype == torch.float32  # never emulated


def test_the_cache_key_tells_amx_from_avx512_bf16_machines(monkeypatch):
    request = tiny(precision="auto")
    monkeypatch.setattr(devices, "cpu_bf16_support", lambda: (True, "AMX"))
    on_amx = request.key(weights="w")
    monkeypatch.setattr(devices, "cpu_bf16_support", lambda: (True, "AVX-512 BF16"))
    assert request.key(weights="w") != on_amx
    assert tiny().key(weights="w") == tiny(precision="float32").key(weights="w")


def test_auto_on_a_gpu_keeps_float32_in_the_default_layout():
    path = resolve_path("auto", "auto", torch.device("cuda"))
    assert path.dtype == torch.float32 and not path.channels_last


def test_cpu_detection_agrees_with_the_cpu_flags():
    flags = devices._cpuinfo_flags()
    native, evidence = devices.cpu_bf16_support()
    if flags:  # Linux: the kernel's flags are the ground truth
        assert native == bool({"amx_bf16", "avx512_bf16"} & flags), (native, evidence)


def test_the_cache_key_names_the_path_a_setting_resolves_to():
    assert tiny().key(weights="w") == tiny(precision="float32", memory_format="contiguous").key(weights="w")
    assert tiny().key(weights="w") != tiny(memory_format="channels_last").key(weights="w")


#: The quality promise: a render on the fast path scores no more than this fraction below float32's.
TOLERANCE = 0.01


@pytest.mark.slow
def test_fast_path_keeps_the_neutral_score_within_tolerance(effnet):
    """EfficientNet-Lite0's real weights, four channels of _blocks.10: the mean neutral score of the final
    images on the fastest path (bfloat16 where native, channels-last) is at least 99% of float32's."""
    # At the model's own resolution (no upsampling to 224 px), so the two renders take seconds, not minutes.
    request = RenderRequest(model=M, layer="_blocks.10", channels=(0, 1, 2, 3), steps=48, size=64, upsample=False)
    objectives = request.objectives()
    scores = {}
    for name, variant in (("float32", request), ("fast", request.replace(precision="bfloat16",
                                                                         memory_format="channels_last"))):
        last = list(render_iter(variant, model=effnet, device=CPU, snapshot_every=48))[-1]
        scores[name] = float(neutral_score(effnet, M, objectives, final_images(last)).mean())
    assert scores["fast"] >= (1 - TOLERANCE) * scores["float32"], scores
    assert get_spec(M).native_size == 224


def test_channels_last_renders_take_five_images_a_pass_on_a_cpu_unless_told(effnet):
    from featviz_core.render import default_batch_size

    assert default_batch_size(CPU) == 2 and default_batch_size(CPU, channels_last=True) == 5
    assert default_batch_size(torch.device("cuda"), channels_last=True) == 64
    request = tiny(memory_format="channels_last").replace(channels=(0, 1, 2, 3, 4, 5), steps=3)
    implicit = render(request, model=effnet, device=CPU)
    assert np.array_equal(implicit.images, render(request, model=effnet, device=CPU, batch_size=5).images)
