"""Weights and model files for any network: torchvision's download (hash prefix in the file name) against a
server on localhost, a state dict the user names, a torch.export program, and the files featviz refuses."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle

import pytest
import torch

from featviz_core import models
from featviz_core.errors import FeatvizError, RequestError, WeightsUnavailable
from featviz_core.models import WeightSource, get_spec, layer_table, load_model, random_model, weights_identity
from featviz_core.models.weights import ChecksumMismatch
from featviz_core.models.loading import _negative
from featviz_core.render import render
from featviz_core.request import RenderRequest
from tests.weight_server import serve_file


@pytest.fixture(scope="module")
def resnet18_state(tmp_path_factory):
    """A state dict of torchvision's resnet18 architecture (seeded random values: the published file cannot be
    downloaded here)."""
    path = tmp_path_factory.mktemp("r18") / "resnet18-mine.pth"
    torch.save(random_model("torchvision:resnet18?weights=random", seed=3).state_dict(), path)
    return path


def test_torchvision_download_is_checked_against_the_hash_prefix_in_its_name(monkeypatch, resnet18_state):
    from featviz_core.models import sources

    with serve_file(resnet18_state, seconds=0.2) as (base, requests):
        monkeypatch.setenv("FEATVIZ_TORCHVISION_MIRROR", base)
        sources._spec_for.cache_clear()
        _negative.clear()  # no failure remembered from another test
        try:
            spec = get_spec("torchvision:resnet18")
            assert spec.weights.url == f"{base}/resnet18-f37072fd.pth" and spec.weights.sha256_prefix == "f37072fd"
            with pytest.raises(ChecksumMismatch, match=r"file name says the SHA-256 starts with f37072fd, got "
                                                       r"[0-9a-f]{64}; the file was discarded"):
                load_model("torchvision:resnet18")
            assert requests == ["/resnet18-f37072fd.pth"]
            assert not spec.weights.cache_path().exists()
            assert not spec.weights.cache_path().with_name("resnet18-f37072fd.pth.part").exists()
            # The same download with a file whose digest starts as its name says: downloaded, verified, loaded
            # by torchvision's builder with the file's state dict.
            digest = hashlib.sha256(resnet18_state.read_bytes()).hexdigest()
            good = dataclasses.replace(spec, name="tv-mirror-test", weights=WeightSource(
                filename=f"resnet18-{digest[:8]}.pth", approx_bytes=resnet18_state.stat().st_size,
                url=f"{base}/resnet18-{digest[:8]}.pth", sha256_prefix=digest[:8]))
            monkeypatch.setitem(models.REGISTRY, "tv-mirror-test", good)
            model = load_model("tv-mirror-test")
            assert good.weights.cache_path().exists() and weights_identity("tv-mirror-test") == digest
            want = torch.load(resnet18_state, weights_only=True)
            assert torch.equal(model.state_dict()["layer3.0.conv1.weight"], want["layer3.0.conv1.weight"])
        finally:
            sources._spec_for.cache_clear()


def test_a_state_dict_the_user_names(resnet18_state, tmp_path):
    name = f"torchvision:resnet18?weights={resnet18_state}"
    model = load_model(name)
    assert torch.equal(model.state_dict()["fc.weight"], torch.load(resnet18_state, weights_only=True)["fc.weight"])
    assert weights_identity(name) == hashlib.sha256(resnet18_state.read_bytes()).hexdigest()
    assert not get_spec(name).weights.random
    wrong = tmp_path / "wrong.pth"
    state = torch.load(resnet18_state, weights_only=True)
    state["extra.weight"] = state.pop("fc.weight")
    torch.save(state, wrong)
    with pytest.raises(WeightsUnavailable, match=r"does not fit torchvision's resnet18: missing key\(s\) fc.weight; "
                                                 r"unexpected key\(s\) extra.weight"):
        load_model(f"torchvision:resnet18?weights={wrong}")
    with pytest.raises(RequestError, match=r"weights=/nowhere.pth is not a file"):
        get_spec("torchvision:resnet18?weights=/nowhere.pth")


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(),
                                            torch.nn.Conv2d(6, 6, 3, stride=2, padding=1), torch.nn.ReLU())
        self.pool = torch.nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return self.pool(self.features(x)).flatten(1)


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    torch.manual_seed(0)
    model = Small().eval()
    folder = tmp_path_factory.mktemp("files")
    x = torch.zeros(2, 3, 32, 32)
    torch.export.save(torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},)),
                      folder / "small.pt2")
    torch.export.save(torch.export.export(model, (x,)), folder / "fixed.pt2")
    torch.jit.save(torch.jit.script(model), folder / "scripted.pt")
    torch.save(model.state_dict(), folder / "state.pth")
    torch.save(model, folder / "whole.pth")  # a pickled whole model
    (folder / "notes.txt").write_text("not a model")
    return model, folder


def test_a_torch_export_program_renders_with_its_named_layers(small_files):
    model, folder = small_files
    name = f"file:{folder / 'small.pt2'}?mean=0.5,0.5,0.5&std=0.25,0.25,0.25"
    spec = get_spec(name)
    assert spec.native_size == 32 and spec.preprocess.std == (0.25, 0.25, 0.25)
    table = {info.name: (info.channels, info.height) for info in layer_table(name, 32)}
    assert table["features.1"] == (6, 32) and table["features.3"] == (6, 16)
    request = RenderRequest(model=name, layer="features.3", channels=(0, 5), steps=4, size=32, upsample=False,
                            transforms="none")  # exported at 32 px: the model sees exactly 32 px
    result = render(request, device="cpu")
    assert result.images.shape == (2, 32, 32, 3) and weights_identity(name) == hashlib.sha256(
        (folder / "small.pt2").read_bytes()).hexdigest()
    # the unflattened program computes what the model computes
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(load_model(name)(x), model(x), atol=1e-5)


@pytest.mark.parametrize("filename, message", [
    ("scripted.pt", r"is TorchScript, which featviz cannot cut at a layer \(scripted modules take no Python forward "
                    r"hooks\); export it: torch.export.save"),
    ("whole.pth", r"is a pickled whole model, which featviz does not load \(unpickling runs code\); export it"),
    ("state.pth", r"holds a state dict, which needs an architecture: use torchvision:NAME\?weights="),
    ("notes.txt", r"is neither a torch.export program \(.pt2\) nor TorchScript nor a state dict; export it"),
    ("fixed.pt2", r"was exported for a fixed batch of 2; featviz renders batches: export it"),
])
def test_files_featviz_refuses_in_one_line(small_files, filename, message, capsys):
    _, folder = small_files
    with pytest.raises(RequestError, match=message):
        get_spec(f"file:{folder / filename}")
    from featviz_core.cli import main

    assert main(["layers", "--model", f"file:{folder / filename}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith("error: ")


def test_pickled_models_never_run_code(small_files, tmp_path):
    """The refusal of a pickled whole model happens without unpickling it."""
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(FeatvizError):
        get_spec(f"file:{path}")
    assert not marker.exists()
