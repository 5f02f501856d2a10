import torch

from featviz_core.models.capture import capture_layers
from featviz_core.models.fast import RedirectedReLU, model_for_render, render_variant


def test_redirected_relu_matches_lucents_forward_and_gradient():
    from lucent.modelzoo.inceptionv1.helper_layers import RedirectedReluLayer

    x = torch.randn(4, 8, 5, 5, generator=torch.Generator().manual_seed(0))
    g = torch.randn(4, 8, 5, 5, generator=torch.Generator().manual_seed(1))
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    ours, theirs = RedirectedReLU()(a), RedirectedReluLayer()(b)
    assert torch.equal(ours, theirs)
    ours.backward(g)
    theirs.backward(g)
    assert torch.equal(a.grad, b.grad)


def _grad(model, layer, channel, x):
    x = x.clone().requires_grad_(True)
    capture_layers(model, [layer], x)[layer][:, channel].mean().backward()
    return x.grad


def test_effnet_variant_folds_batch_norm_and_keeps_every_layer(effnet):
    variant = render_variant(effnet)
    assert variant.model is not effnet
    assert "_blocks.10._project_conv" in variant.changed_layers and "_conv_stem" in variant.changed_layers
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in variant.model.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in effnet.modules()) == 49  # original untouched
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    assert "_conv_head" in variant.changed_layers  # its output is now the batch norm's
    # stride-1 convolutions pad themselves: 12 of the 17 explicit zero-paddings go (the 5 left are asymmetric,
    # and write zeros into their border only)
    from featviz_core.models.fast import BorderZeroPad2d

    assert sum(isinstance(m, torch.nn.ZeroPad2d) for m in effnet.modules()) == 17
    assert sum(isinstance(m, BorderZeroPad2d) for m in variant.model.modules()) == 5
    assert "_blocks.10._depthwise_conv.static_padding" in variant.changed_layers
    assert variant.model.get_submodule("_blocks.10._depthwise_conv").padding == (2, 2)  # 5x5, stride 1
    # the head's batch norm passes on its convolution's output, which applies the ReLU6 itself now
    assert "_bn1" in variant.changed_layers and "_blocks.10._bn0" in variant.changed_layers
    for layer in ("_blocks.3", "_blocks.10", "_blocks.10._bn2", "_blocks.15"):
        with torch.no_grad():
            want, got = capture_layers(effnet, [layer], x)[layer], capture_layers(variant.model, [layer], x)[layer]
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3 * want.abs().max().item())
    torch.testing.assert_close(_grad(variant.model, "_blocks.10", 3, x), _grad(effnet, "_blocks.10", 3, x),
                               rtol=1e-3, atol=1e-6)


def test_layers_that_change_meaning_use_the_original(effnet):
    assert model_for_render(effnet, ("_blocks.10._project_conv",)) is effnet
    fast = model_for_render(effnet, ("_blocks.10",))
    assert fast is not effnet and model_for_render(effnet, ("_blocks.10",)) is fast  # cached


def test_variant_is_rebuilt_when_the_weights_change():
    from featviz_core.models import random_model

    model = random_model("efficientnet-lite0", seed=0)
    first = model_for_render(model, ("_blocks.10",))
    with torch.no_grad():
        model._conv_stem.weight.mul_(2)
    second = model_for_render(model, ("_blocks.10",))
    assert second is not first
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(capture_layers(second, ["_blocks.10"], x)["_blocks.10"],
                                   capture_layers(model, ["_blocks.10"], x)["_blocks.10"], rtol=1e-3, atol=1e-3)


def test_inception_variant_swaps_the_relu_and_keeps_gradients(inception_random):
    from lucent.modelzoo.inceptionv1.helper_layers import RedirectedReluLayer

    variant = render_variant(inception_random)
    assert not any(isinstance(m, RedirectedReluLayer) for m in variant.model.modules())
    assert any(isinstance(m, RedirectedReluLayer) for m in inception_random.modules())
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(4)) * 50
    torch.testing.assert_close(_grad(variant.model, "mixed4a", 7, x), _grad(inception_random, "mixed4a", 7, x))


def _small_vit():
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    return VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16,
                             mlp_dim=32).eval().requires_grad_(False)


def test_vit_variant_lays_out_attention_sequence_first_and_computes_the_same():
    from featviz_core.models.fast import SeqFirstAttention

    vit = _small_vit()
    variant = render_variant(vit, ("encoder.layers.encoder_layer_1",), input_size=32)
    assert variant.model is not vit and variant.reason == "" and not variant.changed_layers
    swapped = [m for m in variant.model.modules() if isinstance(m, SeqFirstAttention)]
    assert len(swapped) == 2 and not any(m.batch_first for m in swapped)
    # the caller's model keeps its own attention, and every module name is the same in both
    assert all(type(m) is torch.nn.MultiheadAttention and m.batch_first
               for m in vit.modules() if isinstance(m, torch.nn.MultiheadAttention))
    assert [n for n, _ in vit.named_modules()] == [n for n, _ in variant.model.named_modules()]
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    for layer in ("encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_1"):
        with torch.no_grad():
            want, got = capture_layers(vit, [layer], x)[layer], capture_layers(variant.model, [layer], x)[layer]
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(_grad(variant.model, layer, 5, x), _grad(vit, layer, 5, x), rtol=1e-4, atol=1e-6)


def test_seq_first_attention_answers_as_batch_first_attention_for_self_cross_and_weights():
    from featviz_core.models.fast import _seq_first

    torch.manual_seed(0)
    plain = torch.nn.MultiheadAttention(16, 2, batch_first=True).eval()
    laid_out = torch.nn.MultiheadAttention(16, 2, batch_first=True).eval()
    laid_out.load_state_dict(plain.state_dict())
    _seq_first(laid_out)
    q, kv = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    for args in ((q, q, q), (q, kv, kv)):
        for need_weights in (False, True):
            want = plain(*args, need_weights=need_weights)
            got = laid_out(*args, need_weights=need_weights)
            torch.testing.assert_close(got[0], want[0], rtol=1e-5, atol=1e-6)
            assert got[0].shape == (2, 5, 16)
            if need_weights:
                torch.testing.assert_close(got[1], want[1], rtol=1e-5, atol=1e-6)
    unbatched = q[0]
    torch.testing.assert_close(laid_out(unbatched, unbatched, unbatched)[0], plain(unbatched, unbatched, unbatched)[0],
                               rtol=1e-5, atol=1e-6)


def test_border_zero_padding_equals_zero_pad2d_in_values_and_gradients():
    from featviz_core.models.fast import BorderZeroPad2d

    torch.manual_seed(0)
    for padding in ((0, 1, 0, 1), (1, 2, 1, 2), (3, 0, 2, 0)):
        for layout in (torch.contiguous_format, torch.channels_last):
            x = torch.randn(2, 5, 9, 7).to(memory_format=layout).requires_grad_(True)
            y = x.detach().clone().requires_grad_(True)
            ours, plain = BorderZeroPad2d(padding)(x), torch.nn.ZeroPad2d(padding)(y)
            assert torch.equal(ours, plain) and ours.is_contiguous(memory_format=layout)
            weight = torch.randn_like(plain)
            (ours * weight).sum().backward()
            (plain * weight).sum().backward()
            assert torch.equal(x.grad, y.grad)


def test_effnet_variant_pads_the_asymmetric_same_padding_border_only(effnet):
    from featviz_core.models.fast import BorderZeroPad2d

    variant = render_variant(effnet, ("_blocks.10",)).model
    pads = [m for m in variant.modules() if isinstance(m, BorderZeroPad2d)]
    assert pads and all(p.padding[1] == p.padding[0] + 1 for p in pads)  # the stride-2 convolutions' (0,1) / (1,2)
    assert not any(type(m) is torch.nn.ZeroPad2d for m in variant.modules())


def _fused(model):
    from featviz_core.models.fast import _FusedConv2d

    return {name for name, m in model.named_modules() if isinstance(m, _FusedConv2d)}


def _same_function(original, variant, layer, x, channel=0, fused_against=None):
    """``variant`` computes ``layer`` as ``original`` does, and (given ``fused_against``, the same variant
    unfused) its input gradient is the unfused one's."""
    with torch.no_grad():
        want, got = capture_layers(original, [layer], x)[layer], capture_layers(variant, [layer], x)[layer]
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())
    if fused_against is not None:
        _close_gradients(_grad(variant, layer, channel, x), _grad(fused_against, layer, channel, x))


def _close_gradients(got, want):
    """The fused backward runs the unfused kernels (bit-identical on the machines measured). Where another CPU's
    kernels round a pre-activation differently in the last bit, a ReLU's mask may flip at a value within that
    bit of zero: allow a few such elements, never a systematic difference (a wrong mask changes thousands)."""
    scale = want.abs().max()
    off = (got - want).abs() > 1e-5 * scale
    assert int(off.sum()) <= max(10, want.numel() // 100_000), f"{int(off.sum())} of {want.numel()} differ"
    assert float((got - want).abs().max()) <= 0.05 * float(scale)


def test_effnet_convolutions_apply_their_relu6_with_the_same_values_and_gradients(effnet):
    fused = render_variant(effnet)
    plain = render_variant(effnet, fuse=False)
    names = _fused(fused.model)
    # the stem, every depthwise convolution and every expansion convolution (blocks 1-15) feed a ReLU6
    assert {"_conv_stem", "_conv_head", "_blocks.0._depthwise_conv", "_blocks.1._expand_conv"} <= names
    assert len(names) == 2 + 16 + 15 and not _fused(plain.model)
    assert not any(n.endswith("_project_conv") for n in names)  # no activation follows a projection
    for layout in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(4)).to(memory_format=layout)
        a, b = fused.model.to(memory_format=layout), plain.model.to(memory_format=layout)
        with torch.no_grad():
            got, want = capture_layers(a, ["_blocks.10"], x)["_blocks.10"], capture_layers(b, ["_blocks.10"], x)["_blocks.10"]
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * want.abs().max().item())
        assert got.is_contiguous(memory_format=layout)  # the fused kernel keeps the model's layout
        _close_gradients(_grad(a, "_blocks.10", 3, x), _grad(b, "_blocks.10", 3, x))


def test_fused_convolutions_compute_as_before_under_bfloat16_autocast(effnet):
    fused, plain = render_variant(effnet), render_variant(effnet, fuse=False)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(5))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = capture_layers(fused.model, ["_blocks.10"], x)["_blocks.10"]
        want = capture_layers(plain.model, ["_blocks.10"], x)["_blocks.10"]
    assert got.dtype == torch.bfloat16 and torch.equal(got, want)  # the oneDNN float32 kernel stood aside


class _Shared(torch.nn.Module):
    """A convolution whose output is used twice: by its ReLU and, unactivated, by the sum."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.act = torch.nn.ReLU()
        self.bn = torch.nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.bn(self.conv(x))
        return self.act(y) + y


class _InPlaceResidual(torch.nn.Module):
    """ResNet's pattern: the convolution's output has the shortcut added in place before the ReLU."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(3)
        self.relu = torch.nn.ReLU(inplace=True)
        self.out = torch.nn.Conv2d(3, 2, 1)

    def forward(self, x):
        y = self.bn(self.conv(x))
        y += x
        return self.out(self.relu(y))


def _eval(model):
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_a_convolution_whose_output_is_used_elsewhere_is_not_fused():
    for model in (_eval(_Shared()), _eval(_InPlaceResidual())):
        variant = render_variant(model, input_size=16)
        assert variant.model is not model and not _fused(variant.model)
        x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(6))
        layer = "out" if isinstance(model, _InPlaceResidual) else "act"
        _same_function(model, variant.model, layer, x)
        # the model's own output (no module's) is the same too
        torch.testing.assert_close(variant.model(x), model(x), rtol=1e-4, atol=1e-5)


def test_torchvision_resnet_fuses_its_in_place_relus_where_they_follow_a_convolution():
    import torchvision

    model = _eval(torchvision.models.resnet18(weights=None))
    variant = render_variant(model)
    names = _fused(variant.model)
    # conv1 and each block's first convolution feed a ReLU; each block's second gets the shortcut added first
    assert "conv1" in names and "layer2.0.conv1" in names and "layer2.0.conv2" not in names
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(7))
    _same_function(model, variant.model, "layer3", x, channel=5,
                   fused_against=render_variant(model, fuse=False).model)
