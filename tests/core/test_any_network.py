"""Any network: a module given in code, torchvision models by name (random weights, asked for), transformer
tokens and channels-last outputs as targets, featured layers read from the structure, the fast variant's
notes, and every bad input as one clear line."""

from __future__ import annotations

import json
import re

import pytest
import torch

from featviz_core.cli import main
from featviz_core.errors import FeatvizError, RequestError
from featviz_core.models import Preprocess, get_spec, layer_table, load_model, weights_identity
from featviz_core.models.activations import channels_first, channels_first_shape
from featviz_core.models.structure import featured_layers
from featviz_core.models.user import register_module
from featviz_core.render import evaluate, render
from featviz_core.request import RenderRequest

R18 = "torchvision:resnet18?weights=random"
VIT = "torchvision:vit_b_16?weights=random"


class TinyNet(torch.nn.Module):
    """A small CNN with a stage of blocks and an in-place ReLU, as users write them."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.act = torch.nn.ReLU(inplace=True)
        self.stage = torch.nn.Sequential(*[torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU())
                                           for _ in range(3)])
        self.head = torch.nn.Linear(8, 5)

    def forward(self, x):
        x = self.stage(self.act(self.stem(x)))
        return self.head(x.mean((-2, -1)))


def test_layouts_from_shape_alone():
    x = torch.arange(2 * 5 * 4 * 4, dtype=torch.float32).view(2, 5, 4, 4)
    assert channels_first(x) is x
    nhwc = x.permute(0, 2, 3, 1)  # (2, 4, 4, 5)
    assert torch.equal(channels_first(nhwc), x)
    tokens = torch.cat([torch.full((2, 1, 5), -1.0), x.flatten(2).transpose(1, 2)], dim=1)  # class token + 16 patches
    assert torch.equal(channels_first(tokens), x)  # the class token is left out, patches on their 4x4 grid
    assert channels_first_shape((1, 197, 768)) == (1, 768, 14, 14)
    assert channels_first_shape((1, 201, 384)) == (1, 384, 14, 14)  # 1 class + 4 register tokens
    assert channels_first(torch.zeros(2, 10)) is None and channels_first((x,)) is None


def test_a_module_given_in_code_renders_with_its_preprocessing():
    torch.manual_seed(0)
    net = TinyNet()
    spec = register_module("tinynet", net, Preprocess(255.0, (120.0,) * 3, (60.0,) * 3), input_size=32)
    assert spec.featured_layers == ("act", "stage.0", "stage.1", "stage.2", "stage")
    table = {info.name: (info.channels, info.height) for info in layer_table("tinynet", 32)}
    assert table["stage.1"] == (8, 16) and "head" not in table
    request = RenderRequest(model="tinynet", layer="stage.1", channels=(0, 3), steps=8, size=32, upsample=False)
    result = render(request, device="cpu")
    assert result.images.shape == (2, 32, 32, 3)
    assert weights_identity("tinynet").startswith("module-")
    # the preprocessing is the user's: scoring the images by hand with it gives the render's scores
    x = torch.from_numpy(result.images).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        acts = net.stage[1]((net.stage[0](net.act(net.stem((x * 255 - 120) / 60)))))
    by_hand = acts[torch.arange(2), torch.tensor([0, 3])].mean((-2, -1))
    assert torch.allclose(torch.from_numpy(evaluate(net, request, x)), by_hand, atol=1e-4)
    # a changed module is another identity: its old renders are never served for it
    before = weights_identity("tinynet")
    with torch.no_grad():
        net.stem.bias.add_(1.0)
    register_module("tinynet", net, Preprocess(255.0, (120.0,) * 3, (60.0,) * 3), input_size=32)
    assert weights_identity("tinynet") != before


def test_torchvision_resnet18_with_random_weights_renders_and_says_so():
    request = RenderRequest(model=R18, layer="layer2", channels=(0, 1), steps=4, size=32)
    spec = get_spec(R18)
    assert spec.weights.random and spec.preprocess.mean == (0.485, 0.456, 0.406) and spec.native_size == 224
    assert "layer3.1" in spec.featured_layers and "relu" in spec.featured_layers
    result = render(request, device="cpu")
    assert result.labels == ["layer2:0 (random weights)", "layer2:1 (random weights)"]
    assert result.images.shape == (2, 32, 32, 3) and result.note == ""  # the fast variant (batch norm folded)
    assert request.key() != RenderRequest(model="torchvision:resnet18", layer="layer2", channels=(0, 1), steps=4,
                                          size=32).key()


def test_vit_token_layers_channel_and_neuron():
    table = {info.name: info for info in layer_table(VIT, 224)}
    block = "encoder.layers.encoder_layer_1"
    assert (table[block].channels, table[block].height, table[block].width) == (768, 14, 14)
    model = load_model(VIT)
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    request = RenderRequest(model=VIT, layer=block, channels=(5, 9), steps=1, size=128)
    neuron = RenderRequest(model=VIT, layer=block, channels=(5, 9), objective="neuron", position="3,4", steps=1,
                           size=128)
    with torch.no_grad():
        captured = {}
        handle = model.get_submodule(block).register_forward_hook(lambda m, i, o: captured.setdefault("t", o))
        model(get_spec(VIT).preprocess.apply(x))
        handle.remove()
    tokens = captured["t"]  # (2, 197, 768): class token first
    assert tokens.shape == (2, 197, 768)
    channel = torch.from_numpy(evaluate(model, request, x))
    unit = torch.from_numpy(evaluate(model, neuron, x))
    want_channel = torch.stack([tokens[0, 1:, 5].mean(), tokens[1, 1:, 9].mean()])  # patches only
    want_unit = torch.stack([tokens[0, 1 + 3 * 14 + 4, 5], tokens[1, 1 + 3 * 14 + 4, 9]])  # patch row 3, column 4
    assert torch.allclose(channel, want_channel, atol=1e-4) and torch.allclose(unit, want_unit, atol=1e-4)


def test_vit_renders_on_the_fast_variant_and_a_plain_network_says_why_not():
    request = RenderRequest(model=VIT, layer="encoder.layers.encoder_layer_0", channels=(0, 1), steps=2, size=32)
    result = render(request, device="cpu")
    assert "plain eager" not in result.note  # its attention is laid out sequence-first (models/fast.py)
    assert result.images.shape == (2, 32, 32, 3)
    register_module("plainnet", TinyNet(), Preprocess(255.0, (120.0,) * 3, (60.0,) * 3), input_size=32)
    plain = render(RenderRequest(model="plainnet", layer="stage.1", channels=(0,), steps=2, size=32, upsample=False),
                   device="cpu")
    assert plain.note.startswith("plain eager: no batch norm to fold, no redirected ReLU to replace and no "
                                 "batch-first attention to lay out")


def test_channels_last_layers_of_swin_are_targetable():
    table = {info.name: info for info in layer_table("torchvision:swin_t?weights=random", 224)}
    assert (table["features.1.0"].channels, table["features.1.0"].height) == (96, 56)  # (B, H, W, C) in the model


def test_featured_layers_are_stages_and_blocks():
    import torchvision

    def featured(arch):
        with torch.device("meta"):
            model = torchvision.models.get_model(arch).eval()
        from featviz_core.models.layers import targetable_shapes

        return featured_layers(model, list(targetable_shapes(model, torch.zeros(1, 3, 224, 224, device="meta"))))

    assert featured("googlenet") == ("conv1", "conv2", "conv3", "inception3a", "inception3b", "inception4a",
                                     "inception4b", "inception4c", "inception4d", "inception4e", "inception5a",
                                     "inception5b")
    assert featured("alexnet") == ("features.1", "features.4", "features.7", "features.9", "features.11", "features")
    assert "encoder.layers.encoder_layer_11" in featured("vit_b_16")


def test_cli_renders_torchvision_models_with_random_weights(tmp_path, capsys):
    out = tmp_path / "r18"
    assert main(["render", "--model", "torchvision:resnet18", "--random-weights", "--layer", "layer3",
                 "--channels", "0-1", "--steps", "3", "--size", "32", "--out", str(out), "--quiet"]) == 0
    meta = json.loads((out / "render.json").read_text())
    assert meta["weights"].startswith("random weights") and meta["settings"]["model"] == R18
    assert all(label.endswith("(random weights)") for label in meta["labels"])
    assert main(["layers", "--model", "torchvision:vit_b_16", "--random-weights", "--featured"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "encoder.layers.encoder_layer_11 768 14x14" in lines


def _error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_bad_model_names_get_one_clear_line(capsys):
    err = _error(capsys, "layers", "--model", "torchvision:resnet5")
    assert re.search(r"unknown model 'torchvision:resnet5'.*closest: torchvision:resnet50", err)
    err = _error(capsys, "layers", "--model", "resnet18")
    assert "closest: torchvision:resnet18" in err
    err = _error(capsys, "layers", "--model", "torchvision:resnet18?weigts=random")
    assert "'weigts=random' is not an option" in err
    err = _error(capsys, "layers", "--model", "inceptionv1", "--random-weights")
    assert "random weights apply to torchvision:NAME and timm:NAME models" in err


def test_a_layer_that_cannot_be_targeted_names_those_that_can():
    with pytest.raises(RequestError, match=r"layer 'fc' of .* cannot be targeted: .*main layers that can: relu, layer1.0"):
        RenderRequest(model=R18, layer="fc", steps=2)


def test_published_weights_missing_offer_the_download_and_never_fall_back(monkeypatch, tmp_path):
    from featviz_core.errors import WeightsUnavailable
    from tests.weight_server import closed_port_url

    monkeypatch.setenv("FEATVIZ_TORCHVISION_MIRROR", closed_port_url().rsplit("/", 1)[0])
    from featviz_core.models.loading import _negative
    from featviz_core.models import model_status, sources

    sources._spec_for.cache_clear()
    try:
        status = model_status("torchvision:resnet18")
        assert not status.available and "resnet18-f37072fd.pth" in status.message
        assert "torchvision:resnet18?weights=random" in status.message  # the explicit way to get an untrained one
        with pytest.raises(WeightsUnavailable, match="weights are not available"):
            load_model("torchvision:resnet18")
    finally:
        sources._spec_for.cache_clear()
        _negative.clear()  # the failed download is remembered for a while: forget it for other tests


def test_too_large_for_memory_says_the_estimate_and_what_to_lower(monkeypatch):
    from featviz_core.models import memory

    monkeypatch.setenv("FEATVIZ_MEMORY_MB", "5")
    with pytest.raises(memory.TooLarge, match=r"needs about 87 MB for its weights alone, and cpu has 5 MB available; "
                                              "choose a smaller model"):
        load_model("torchvision:resnet34?weights=random", "cpu")
    monkeypatch.setenv("FEATVIZ_MEMORY_MB", "60")  # resnet18's weights fit, a 224 px render of layer4 does not
    request = RenderRequest(model=R18, layer="layer4", channels=(0,), steps=1, size=32)
    with pytest.raises(memory.TooLarge, match=r"needs about \d+ MB per image, and cpu has 63 MB available; lower the "
                                              "image size"):
        render(request, device="cpu")
    with pytest.raises(FeatvizError):  # and the CLI says it in one line
        raise memory.TooLarge("x")
