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
    for layer in ("_blocks.3", "_blocks.10", "_blocks.10._bn2", "_blocks.15", "_bn1"):
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
