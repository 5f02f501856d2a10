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
