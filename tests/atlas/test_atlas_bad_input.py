"""Bad input to ``python -m featviz_core atlas``: one line on stderr, exit status 2, nothing overwritten."""

from __future__ import annotations

import hashlib
from atlas_helpers import LAYER, MODEL

from featviz_core.cli.dispatch import main


def run(capsys, *argv: str) -> str:
    status = main(["atlas", *argv])
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def snapshot(path) -> dict[str, str]:
    """Every file under ``path`` with its SHA-256: proof that nothing was changed."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file() and p.name != ".lock"}


def test_unknown_layer_lists_the_main_layers_and_creates_nothing(capsys, tmp_path):
    line = run(capsys, "--model", MODEL, "--layers", f"{LAYER},mixed4a", "--out", str(tmp_path / "a"))
    assert line.startswith("error: unknown layer 'mixed4a' for efficientnet-lite0; main layers are _conv_stem, ")
    assert "python -m featviz_core layers --model efficientnet-lite0" in line
    assert not (tmp_path / "a").exists()


def test_an_unwritable_store_is_refused_before_any_work(capsys, tmp_path):
    # A path under a regular file cannot be created by anyone, root included (file modes would not stop root).
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    line = run(capsys, "--model", MODEL, "--layers", LAYER, "--out", str(blocker / "store"))
    assert line.startswith(f"error: cannot write to the atlas store {blocker / 'store'} (")
    assert line.endswith("choose a folder you can write to")
    assert blocker.read_text() == "not a folder"
    line = run(capsys, "--model", MODEL, "--layers", LAYER, "--out", str(blocker))
    assert line == f"error: --out {blocker} exists and is not a folder"


def test_a_folder_that_is_not_a_store_is_not_written_into(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    line = run(capsys, "--model", MODEL, "--layers", LAYER, "--out", str(tmp_path))
    assert line == f"error: {tmp_path} is not empty and holds no atlas; choose a new or empty folder (nothing was written)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_store_made_with_other_settings_is_refused_untouched(capsys, local_store):
    before = snapshot(local_store)
    line = run(capsys, "--model", MODEL, "--layers", LAYER, "--steps", "9", "--size", "32", "--out", str(local_store))
    assert line == (f"error: {local_store} holds an atlas made with other settings (steps 9 here, 8 in the store); "
                    "use another --out (nothing was changed)")
    assert snapshot(local_store) == before


def test_a_store_made_with_other_weights_is_refused_untouched(capsys, tmp_path, monkeypatch):
    import torch

    from featviz_core.atlas.runner import build_atlas
    from featviz_core.models import random_model

    weights = {}
    for seed in (0, 1):
        weights[seed] = tmp_path / f"inception-{seed}.pth"
        torch.save(random_model("inceptionv1", seed=seed).state_dict(), weights[seed])
    store = tmp_path / "store"
    monkeypatch.setenv("FEATVIZ_INCEPTIONV1_WEIGHTS", str(weights[0]))
    build_atlas(store, "inceptionv1", "conv2d0", {"steps": 4, "size": 32}, max_batches=0)  # the store, no images yet
    before = snapshot(store)
    monkeypatch.setenv("FEATVIZ_INCEPTIONV1_WEIGHTS", str(weights[1]))
    line = run(capsys, "--model", "inceptionv1", "--layers", "conv2d0", "--steps", "4", "--size", "32",
               "--out", str(store))
    assert line.startswith(f"error: {store} holds an atlas made with other weights (weights with SHA-256 ")
    assert line.endswith("in the store); use another --out (nothing was changed)")
    assert snapshot(store) == before


def test_settings_out_of_bounds_and_a_changed_batch_plan_are_refused(capsys, local_store, tmp_path):
    line = run(capsys, "--model", MODEL, "--layers", LAYER, "--steps", "0", "--out", str(tmp_path / "s"))
    assert line.startswith("error: steps must be between 1 and ")
    before = snapshot(local_store)
    line = run(capsys, "--model", MODEL, "--layers", LAYER, "--steps", "8", "--size", "32", "--batch", "8",
               "--out", str(local_store))
    assert line.startswith("error: this store was rendered with --batch 4; a resumed run keeps its batches")
    assert snapshot(local_store) == before
    assert run(capsys, "--model", MODEL, "--layers", LAYER) == \
        "error: --out STORE is required: the folder the atlas is written to (or resumed in)"
    assert run(capsys, "--model", "resnet", "--out", str(tmp_path / "r")).startswith("error: unknown model 'resnet'")


def test_an_unreachable_ray_cluster_is_one_line_not_minutes_of_retries(capsys, tmp_path):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    line = run(capsys, "--model", MODEL, "--layers", LAYER, "--steps", "4", "--size", "32", "--engine", "ray",
               "--address", f"127.0.0.1:{port}", "--out", str(tmp_path / "s"))
    assert line.startswith(f"error: cannot reach the Ray cluster at 127.0.0.1:{port} (Connection refused)")
    assert not (tmp_path / "s" / "manifest.json").exists()


def test_a_batch_out_of_range_is_refused_before_the_store_folder_is_made(capsys, tmp_path):
    line = run(capsys, "--model", MODEL, "--layers", LAYER, "--batch", "0", "--out", str(tmp_path / "b"))
    assert line == "error: --batch must be between 1 and 512 (FEATVIZ_MAX_CHANNELS), got 0"
    assert not (tmp_path / "b").exists()


def test_a_manifest_without_layers_is_refused_as_damaged(tmp_path):
    import json

    import pytest

    from featviz_core.atlas import AtlasError
    from featviz_core.atlas.store import FORMAT, AtlasStore

    (tmp_path / "manifest.json").write_text(json.dumps({"format": FORMAT, "layers": {}}))
    with pytest.raises(AtlasError, match="has a damaged layer table \\(it lists no layer\\)"):
        AtlasStore.open(tmp_path)
