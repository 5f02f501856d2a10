"""timm:NAME with timm installed (requirements-timm.txt, included by requirements-dev.txt): a conv net and a ViT
with random weights through the library and the CLI, state dicts the user names, timm's published weights
downloaded from the Hub's address (a server on localhost here) and verified against the Hub's SHA-256 listing,
and every bad input as one line, timm missing included."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from featviz_core.cli import main
from featviz_core.errors import RequestError, WeightsUnavailable
from featviz_core.models import get_spec, layer_table, load_model, random_model, weights_identity
from featviz_core.models.fast import render_variant
from featviz_core.models.fetch import fetch_weights
from featviz_core.models.loading import _negative
from featviz_core.models.weights import ChecksumMismatch
from featviz_core.render import evaluate, render
from featviz_core.request import RenderRequest
from tests.weight_server import serve_file

CONV = "timm:resnet18?weights=random"
MOBILE = "timm:mobilenetv3_small_100?weights=random"
VIT = "timm:vit_tiny_patch16_224?weights=random"
REPO = "timm/resnet18.a1_in1k"  # the Hub repository timm's pretrained config names for resnet18
ROOT = Path(__file__).resolve().parents[2]


def rose(result) -> bool:
    """Every channel's objective ended higher than it started."""
    return bool((result.history[-1] > result.history[0]).all())


def test_a_timm_conv_net_with_random_weights_has_its_layers_and_renders():
    spec = get_spec(CONV)
    assert spec.title == "resnet18 (timm, random weights (untrained))" and spec.weights.random
    assert spec.preprocess.mean == (0.485, 0.456, 0.406) and spec.native_size == 224
    assert spec.featured_layers == ("act1", "layer1.0", "layer1.1", "layer1", "layer2.0", "layer2.1", "layer2",
                                    "layer3.0", "layer3.1", "layer3", "layer4.0", "layer4.1", "layer4")
    assert spec.default_layer == "layer3.1"
    table = {info.name: info for info in layer_table(CONV, 224)}
    assert (table["layer3.1"].channels, table["layer3.1"].height, table["layer3.1"].width) == (256, 14, 14)
    assert "fc" not in table
    result = render(RenderRequest(model=CONV, layer="layer2", channels=(0, 1), steps=8, size=32), device="cpu")
    assert result.labels == ["layer2:0 (random weights)", "layer2:1 (random weights)"]
    assert result.images.shape == (2, 32, 32, 3) and result.note == ""  # the fast variant: batch norm folded
    assert rose(result), result.history


def test_a_batch_norm_with_its_activation_built_in_is_folded_keeping_the_activation():
    # timm's BatchNormAct2d normalizes, then applies its own activation: folding keeps the activation.
    model = load_model(MOBILE)
    variant = render_variant(model)
    assert variant.model is not model and variant.reason == "" and "conv_stem" in variant.changed_layers
    assert type(variant.model.bn1.act) is type(model.bn1.act) and not isinstance(model.bn1.act, torch.nn.Identity)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, got = model.forward_features(x), variant.model.forward_features(x)
    assert torch.allclose(want, got, atol=1e-4 * float(want.abs().max()))


def test_a_timm_vit_with_random_weights_targets_its_tokens():
    spec = get_spec(VIT)
    assert spec.featured_layers == ("patch_embed", *(f"blocks.{i}" for i in range(12)), "blocks")
    assert spec.preprocess.mean == (0.5, 0.5, 0.5) and spec.min_input_size == 224  # one input size only
    table = {info.name: info for info in layer_table(VIT, 224)}
    assert (table["blocks.3"].channels, table["blocks.3"].height, table["blocks.3"].width) == (192, 14, 14)
    model = load_model(VIT)
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    request = RenderRequest(model=VIT, layer="blocks.3", channels=(5, 9), steps=1, size=64)
    captured = {}
    handle = model.blocks[3].register_forward_hook(lambda m, i, o: captured.setdefault("t", o))
    with torch.no_grad():
        model(spec.preprocess.apply(x))
    handle.remove()
    tokens = captured["t"]  # (2, 197, 192): the class token first, then 14x14 patches
    assert tokens.shape == (2, 197, 192)
    want = torch.stack([tokens[0, 1:, 5].mean(), tokens[1, 1:, 9].mean()])
    assert torch.allclose(torch.from_numpy(evaluate(model, request, x)), want, atol=1e-4)
    result = render(RenderRequest(model=VIT, layer="blocks.3", channels=(0, 1), steps=8, size=32), device="cpu")
    assert result.labels == ["blocks.3:0 (random weights)", "blocks.3:1 (random weights)"]
    assert result.note.startswith("plain eager: no batch norm to fold") and rose(result), result.history
    with pytest.raises(RequestError, match=r"needs at least 224 px; turn upsampling on"):
        RenderRequest(model=VIT, layer="blocks.3", channels=(0,), size=32, upsample=False)


def test_the_cli_lists_and_renders_timm_models(tmp_path, capsys):
    assert main(["layers", "--model", "timm:vit_tiny_patch16_224", "--random-weights", "--featured"]) == 0
    assert "blocks.11 192 14x14" in capsys.readouterr().out.splitlines()
    out = tmp_path / "mobile"
    assert main(["render", "--model", "timm:mobilenetv3_small_100", "--random-weights", "--layer", "blocks.2",
                 "--channels", "0-1", "--steps", "3", "--size", "32", "--out", str(out), "--quiet"]) == 0
    meta = json.loads((out / "render.json").read_text())
    assert meta["settings"]["model"] == MOBILE and meta["weights"].startswith("random weights")
    assert meta["labels"] == ["blocks.2:0 (random weights)", "blocks.2:1 (random weights)"]


@pytest.fixture(scope="module")
def resnet18_state():
    """A state dict of timm's resnet18 (seeded random values: timm's published file is not reachable here)."""
    return random_model(CONV, seed=3).state_dict()


def test_a_state_dict_the_user_names_pth_or_safetensors(resnet18_state, tmp_path):
    from safetensors.torch import save_file

    for path in (tmp_path / "r18.pth", tmp_path / "r18.safetensors"):
        if path.suffix == ".pth":
            torch.save(resnet18_state, path)
        else:
            save_file(resnet18_state, str(path))
        name = f"timm:resnet18?weights={path}"
        assert get_spec(name).title == f"resnet18 (timm, weights from {path})"
        model = load_model(name)
        assert torch.equal(model.state_dict()["layer3.0.conv1.weight"], resnet18_state["layer3.0.conv1.weight"])
        assert weights_identity(name) == hashlib.sha256(path.read_bytes()).hexdigest()
    wrong = dict(resnet18_state)
    wrong["extra.weight"] = wrong.pop("fc.weight")
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(WeightsUnavailable, match=r"does not fit timm's resnet18: missing key\(s\) fc.weight; "
                                                 r"unexpected key\(s\) extra.weight$"):
        load_model(f"timm:resnet18?weights={tmp_path / 'wrong.pth'}")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsUnavailable, match=r"refusing to load .*junk.safetensors: it is not a readable "
                                                 r"safetensors file"):
        load_model(f"timm:resnet18?weights={tmp_path / 'junk.safetensors'}")


def listing(digest: str) -> bytes:
    """The Hub's answer to /api/models/REPO/revision/main?blobs=true, as far as featviz reads it."""
    return json.dumps({"id": REPO, "siblings": [
        {"rfilename": "README.md"},
        {"rfilename": "model.safetensors", "lfs": {"sha256": digest, "size": 1, "pointerSize": 135}},
    ]}).encode()


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """Serve a file and a SHA-256 listing as the Hub does, at FEATVIZ_TIMM_HUB, into an empty weights cache."""
    from featviz_core.models import sources

    def serving(file: Path, digest: str):
        monkeypatch.setenv("FEATVIZ_CACHE_DIR", str(tmp_path / f"cache-{digest[:8]}"))
        server = serve_file(file, seconds=0.1, routes={f"/api/models/{REPO}/revision/main": listing(digest)})
        base, requests = server.__enter__()
        servers.append(server)
        monkeypatch.setenv("FEATVIZ_TIMM_HUB", base)
        sources._spec_for.cache_clear()
        _negative.clear()
        return base, requests

    servers = []
    yield serving
    for server in servers:
        server.__exit__(None, None, None)
    sources._spec_for.cache_clear()
    _negative.clear()  # a failed download is remembered for a while: forget it for other tests


def test_timms_published_weights_come_from_the_hub_address_verified_against_its_listing(hub, resnet18_state,
                                                                                        tmp_path):
    from safetensors.torch import save_file

    good = tmp_path / "model.safetensors"
    save_file(resnet18_state, str(good))
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    base, requests = hub(good, digest)
    spec = get_spec("timm:resnet18")
    assert spec.weights.url == f"{base}/{REPO}/resolve/main/model.safetensors"
    assert spec.title == f"resnet18 (timm, weights {REPO})" and not spec.weights.random
    fetched = fetch_weights("timm:resnet18", timeout_s=30)
    assert requests == [f"/api/models/{REPO}/revision/main?blobs=true", f"/{REPO}/resolve/main/model.safetensors"]
    assert fetched.sha256 == digest and fetched.how == "verified against the SHA-256 its publisher lists for it"
    assert fetched.path == spec.weights.cache_path() and fetched.path.name == "timm--resnet18.a1_in1k--model.safetensors"
    model = load_model("timm:resnet18")
    assert torch.equal(model.state_dict()["fc.weight"], resnet18_state["fc.weight"])
    assert weights_identity("timm:resnet18") == digest
    # The recorded digest guards the file from now on: a changed file is refused, not loaded.
    data = bytearray(fetched.path.read_bytes())
    data[-1] ^= 0xFF
    fetched.path.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatch, match=rf"its SHA-256 is [0-9a-f]{{64}}, expected {digest}"):
        fetch_weights("timm:resnet18")


def test_a_corrupted_download_of_timms_weights_is_refused_and_discarded(hub, resnet18_state, tmp_path):
    from safetensors.torch import save_file

    good = tmp_path / "model.safetensors"
    save_file(resnet18_state, str(good))
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    corrupted = tmp_path / "corrupted.safetensors"
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupted.write_bytes(bytes(data))
    base, requests = hub(corrupted, digest)
    with pytest.raises(ChecksumMismatch, match=rf"checksum mismatch for {base}/{REPO}/resolve/main/model.safetensors: "
                                               rf"expected SHA-256 {digest}, got [0-9a-f]{{64}}; the file was discarded"):
        load_model("timm:resnet18")
    cached = get_spec("timm:resnet18").weights.cache_path()
    assert not cached.exists() and not cached.with_name(cached.name + ".part").exists()
    # A listing that gives no SHA-256 for the file: nothing is downloaded unverified.
    _negative.clear()
    base, requests = hub(good, "not-a-digest")
    with pytest.raises(WeightsUnavailable, match=rf"{base}/api/models/{REPO}/revision/main\?blobs=true lists no "
                                                 r"SHA-256 for model.safetensors, so it cannot be verified"):
        fetch_weights("timm:resnet18")
    assert requests == [f"/api/models/{REPO}/revision/main?blobs=true"]


def _error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_bad_timm_names_get_one_line(capsys, monkeypatch):
    err = _error(capsys, "layers", "--model", "timm:resnet1")
    assert "unknown model 'timm:resnet1'" in err and "closest: timm:resnet18" in err
    err = _error(capsys, "layers", "--model", "timm:resnet18?size=224")
    assert "option(s) size apply to file: models only" in err
    monkeypatch.setenv("FEATVIZ_TIMM_HUB", "ftp://mirror")
    from featviz_core.models import sources

    sources._spec_for.cache_clear()
    try:
        err = _error(capsys, "layers", "--model", "timm:resnet18")
    finally:
        sources._spec_for.cache_clear()
    assert "FEATVIZ_TIMM_HUB must be an http:// or https:// address, got 'ftp://mirror'" in err


def test_without_timm_a_timm_name_says_how_to_install_it():
    script = ("import sys; sys.modules['timm'] = None\n"  # as if timm were not installed
              "from featviz_core.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    for model, want in (("timm:resnet18", "error: model timm:resnet18 needs timm, which is not installed here: "
                                          "pip install -r requirements-timm.txt (or pip install timm); or choose a "
                                          "torchvision:NAME model"),
                        ("resnet_18", "timm:NAME (after pip install -r requirements-timm.txt)")):
        done = subprocess.run([sys.executable, "-c", script, "layers", "--model", model], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 2, done.stderr
        assert want in done.stderr and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
