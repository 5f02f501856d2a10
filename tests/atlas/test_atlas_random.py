"""An atlas of an untrained network (``?weights=random``): the real atlas command builds it, its identity says
random weights (the same seeded identity in every process, so another run resumes it), and it is never taken
for the trained network's atlas."""

from __future__ import annotations

import subprocess

import pytest
from atlas_helpers import ROOT, cli, cli_env, images_of

from featviz_core.atlas import AtlasError
from featviz_core.atlas.identity import AtlasIdentity, describe_weights
from featviz_core.atlas.store import AtlasStore
from featviz_core.models import get_spec

R18 = "torchvision:resnet18?weights=random"


def atlas(store, *extra: str) -> subprocess.CompletedProcess:
    command = cli("atlas", "--model", R18, "--layers", "layer1", "--steps", "2", "--size", "32", "--batch", "2",
                  "--threads", "1", "--max-batches", "1", "--out", str(store), *extra)
    return subprocess.run(command, cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=400)


def test_the_atlas_command_renders_a_random_weights_network_and_says_so(tmp_path):
    store_path = tmp_path / "random-r18"
    done = atlas(store_path)
    assert done.returncode == 0, done.stderr
    assert f"{store_path}: 2/64 channels of {R18}" in done.stderr and "Traceback" not in done.stderr
    store = AtlasStore.open(store_path)
    assert store.model == R18 and store.identity.random_weights
    assert store.identity.weights_sha256 == get_spec(R18).weights.identity
    assert describe_weights(store.identity.weights_sha256) == "random weights (seed 0)"
    assert sorted(store.done("layer1")) == [0, 1] and set(images_of(store_path, "layer1")) == {0, 1}
    # Another process has the same seeded identity: the same command goes on where the first stopped.
    again = atlas(store_path, "--quiet")
    assert again.returncode == 0 and again.stderr == "", again.stderr
    assert sorted(AtlasStore.open(store_path).done("layer1")) == [0, 1, 2, 3]


def test_a_random_weights_store_names_its_weights_in_a_refusal(tmp_path):
    from featviz_core.atlas.runner import build_atlas

    store_path = tmp_path / "store"
    build_atlas(store_path, R18, "layer1", {"steps": 1, "size": 32}, batch=2, max_batches=1)
    store = AtlasStore.open(store_path)
    trained = AtlasIdentity.create(R18, "ab" * 32, dict(store.identity.settings))
    assert not trained.random_weights
    assert trained.differences(store.identity) == [
        "weights with SHA-256 abababababab... here, random weights (seed 0) in the store"]
    with pytest.raises(AtlasError, match=r"holds an atlas made with other settings \(steps 2 here, 1 in the store\); "
                                         "use another --out"):
        build_atlas(store_path, R18, "layer1", {"steps": 2, "size": 32}, batch=2, max_batches=1)
