import torch

from featviz_core.models.capture import capture_layers


def _hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _full_forward_outputs(model, layers, x):
    seen = {}
    handles = [
        dict(model.named_modules())[name].register_forward_hook(
            lambda _m, _i, out, name=name: seen.setdefault(name, out.detach().clone())
        )
        for name in layers
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def test_truncated_capture_equals_full_forward_inception(inception_random):
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1)) * 50
    layers = ["mixed3b", "mixed4a"]
    full = _full_forward_outputs(inception_random, layers, x)
    with torch.no_grad():
        got = capture_layers(inception_random, layers, x)
    for name in layers:
        assert got[name].shape == full[name].shape
        torch.testing.assert_close(got[name], full[name])
    assert got["mixed4a"].shape == (2, 508, 14, 14)
    assert _hook_count(inception_random) == 0


def test_truncated_capture_equals_full_forward_effnet(effnet):
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    full = _full_forward_outputs(effnet, ["_blocks.10"], x)
    with torch.no_grad():
        got = capture_layers(effnet, ["_blocks.10"], x)
    torch.testing.assert_close(got["_blocks.10"], full["_blocks.10"])
    assert _hook_count(effnet) == 0


def test_forward_stops_at_the_deepest_layer(effnet):
    ran = []
    handle = effnet._blocks[11].register_forward_hook(lambda *_: ran.append("_blocks.11"))
    try:
        with torch.no_grad():
            capture_layers(effnet, ["_blocks.10"], torch.zeros(1, 3, 64, 64))
        assert ran == []
        with torch.no_grad():
            effnet(torch.zeros(1, 3, 64, 64))
        assert ran == ["_blocks.11"]
    finally:
        handle.remove()
    assert _hook_count(effnet) == 0


def test_hooks_removed_even_when_the_forward_fails(effnet):
    try:
        capture_layers(effnet, ["_blocks.10"], torch.zeros(1, 5, 64, 64))  # wrong channel count
    except RuntimeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("a 5-channel input should fail")
    assert _hook_count(effnet) == 0


def test_earlier_layer_is_not_changed_by_later_in_place_ops():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 1)
            self.act = torch.nn.ReLU(inplace=True)
            self.head = torch.nn.Conv2d(4, 4, 1)

        def forward(self, x):
            return self.head(self.act(self.conv(x)))

    net = Net().eval()
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = net.conv(x)
        got = capture_layers(net, ["conv", "head"], x)
    assert (expected < 0).any()
    torch.testing.assert_close(got["conv"], expected)


def test_unknown_layer_message(effnet):
    import pytest

    from featviz_core.errors import RequestError

    with pytest.raises(RequestError, match="unknown layer.*'nope'.*featviz_core layers"):
        capture_layers(effnet, ["nope"], torch.zeros(1, 3, 32, 32))
