import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from featviz_core.cli.dispatch import main

# Each model with the layer its renders use here and that layer's channel count.
MODELS = {"efficientnet-lite0": ("_blocks.10", 112), "inceptionv1": ("mixed4a", 508)}


@pytest.fixture(params=list(MODELS))
def model(request, monkeypatch, inception_weights_file):
    """Every CLI test runs for both models; InceptionV1 loads a random-weights inception5h.pth made here."""
    monkeypatch.setenv("FEATVIZ_INCEPTIONV1_WEIGHTS", str(inception_weights_file(0)))
    return request.param


def test_layers_prints_name_channels_and_size(capsys):
    assert main(["layers", "--model", "inceptionv1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "mixed4a 508 14x14" in lines
    assert "conv2d0 64 112x112" in lines


def test_layers_at_inputs_below_the_native_size(model, capsys):
    """InceptionV1's classifier head needs 224 px; listing layers at 128 px must still work."""
    layer, count = MODELS[model]
    assert main(["layers", "--model", model, "--size", "128"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"{layer} {count} 8x8" in lines
    last = {"inceptionv1": "mixed5b 1024 4x4", "efficientnet-lite0": "_avg_pooling 1280 1x1"}[model]
    assert lines[-1] == last


def test_render_writes_grid_pngs_and_metadata(model, tmp_path, capsys):
    layer, _ = MODELS[model]
    out = tmp_path / "out"
    code = main(["render", "--model", model, "--layer", layer, "--channels", "0-2,7",
                 "--steps", "4", "--size", "32", "--no-upsample", "--seed", "5", "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["grid.png", "detail.png", "render.json", f"{layer}_0.png", f"{layer}_1.png", f"{layer}_2.png",
         f"{layer}_7.png"])
    meta = json.loads((out / "render.json").read_text())
    assert meta["settings"]["channels"] == [0, 1, 2, 7] and meta["seed"] == 5
    assert meta["settings"]["model"] == model
    assert meta["settings"]["steps"] == 4 and meta["settings"]["upsample"] is False
    assert set(meta["final_objective"]) == {f"{layer}:0", f"{layer}:1", f"{layer}:2", f"{layer}:7"}
    assert meta["versions"]["torch"] and meta["device"] == "cpu" and meta["wall_time_s"] > 0
    tile = np.asarray(Image.open(out / f"{layer}_7.png"))
    assert tile.shape == (32, 32, 3)
    grid = Image.open(out / "grid.png")
    assert grid.width > 4 * 32 and grid.height > 32
    err = capsys.readouterr().err
    assert "step 4/4" in err  # the progress bar went to stderr


def test_fast_quality_takes_the_measured_steps_and_the_fast_compute_path_unless_told_otherwise(tmp_path):
    from featviz_core.settings.step_presets import FAST_STEPS

    base = ["render", "--model", "efficientnet-lite0", "--channels", "0", "--size", "32", "--no-upsample", "--quiet"]
    # --steps overrides the preset's count (a full fast render would take minutes), the compute path is the preset's
    assert main([*base, "--quality", "fast", "--steps", "2", "--out", str(tmp_path / "fast")]) == 0
    meta = json.loads((tmp_path / "fast" / "render.json").read_text())["settings"]
    assert (meta["steps"], meta["precision"], meta["memory_format"]) == (2, "auto", "auto")
    assert (meta["optimizer"], meta["lr"], meta["lr_schedule"]) == ("nadam", 0.1, "tail")
    assert main([*base, "--quality", "fast", "--steps", "2", "--memory-format", "contiguous", "--precision", "float32",
                 "--lr", "0.07", "--optimizer", "adam", "--lr-schedule", "constant", "--out", str(tmp_path / "told")]) == 0
    meta = json.loads((tmp_path / "told" / "render.json").read_text())["settings"]
    assert (meta["precision"], meta["memory_format"]) == ("float32", "contiguous")
    assert (meta["optimizer"], meta["lr"], meta["lr_schedule"]) == ("adam", 0.07, "constant")
    assert main([*base, "--quality", "fast", "--steps", "2", "--param", "maco", "--out", str(tmp_path / "maco")]) == 0
    meta = json.loads((tmp_path / "maco" / "render.json").read_text())["settings"]
    assert (meta["optimizer"], meta["lr"], meta["lr_schedule"]) == ("auto", 0.05, "constant")  # MACO's own optimizer
    assert main([*base, "--steps", "2", "--out", str(tmp_path / "seed")]) == 0  # the seed preset, as always
    meta = json.loads((tmp_path / "seed" / "render.json").read_text())["settings"]
    assert (meta["precision"], meta["memory_format"]) == ("float32", "contiguous")
    assert (meta["optimizer"], meta["lr"], meta["lr_schedule"]) == ("auto", 0.05, "constant")
    assert FAST_STEPS["efficientnet-lite0"] < 512


def test_render_with_lucents_transforms(model, tmp_path):
    layer, _ = MODELS[model]
    out = tmp_path / "lucent"
    assert main(["render", "--model", model, "--layer", layer, "--channels", "3", "--steps", "3", "--size", "48",
                 "--no-upsample", "--transforms", "lucent", "--quiet", "--out", str(out)]) == 0
    meta = json.loads((out / "render.json").read_text())
    assert meta["settings"]["transforms"] == "lucent"
    image = np.asarray(Image.open(out / f"{layer}_3.png"))
    assert image.shape == (48, 48, 3) and image.std() > 0


def test_native_size_far_below_the_classifier_heads_need_renders(model, tmp_path):
    """`render --no-upsample --size 64` is an 88 px model input: it used to crash for InceptionV1."""
    layer, _ = MODELS[model]
    out = tmp_path / "native"
    assert main(["render", "--model", model, "--layer", layer, "--channels", "0-1", "--steps", "2", "--size", "64",
                 "--no-upsample", "--quiet", "--out", str(out)]) == 0
    assert np.asarray(Image.open(out / f"{layer}_1.png")).shape == (64, 64, 3)


def test_sizes_the_model_cannot_take_are_one_line_and_exit_2(model, tmp_path, capsys):
    cases = [
        (["render", "--model", model, "--no-upsample", "--size", "16", "--steps", "2", "--out", str(tmp_path)],
         f"error: image size 16 px is too small for {model} without upsampling: the model would get a 16 px "
         "input and needs at least 32 px; turn upsampling on or choose an image size of at least 32 px"),
        (["layers", "--model", model, "--size", "16"],
         f"error: --size 16 is too small for {model}: its layers need a model input of at least 32 px; "
         "choose --size 32 or more"),
    ]
    for args, message in cases:
        assert main(args) == 2, args
        captured = capsys.readouterr()
        assert captured.err.splitlines() == [message] and captured.out == ""
    assert not any(tmp_path.iterdir())  # nothing was written


def _run_cli(*args):
    return subprocess.run([sys.executable, "-m", "featviz_core", *args], capture_output=True, text=True, timeout=120)


def test_bad_input_prints_one_line_and_exits_2(tmp_path, inception_weights_file, monkeypatch):
    monkeypatch.setenv("FEATVIZ_INCEPTIONV1_WEIGHTS", str(inception_weights_file(0)))  # the CLI processes inherit it
    cases = [
        (["render", "--model", "efficientnet-lite0", "--channels", "500", "--out", str(tmp_path)],
         "channel 500 is outside layer _blocks.10, which has 112 channels"),
        (["render", "--model", "efficientnet-lite0", "--layer", "mixed9", "--out", str(tmp_path)], "unknown layer 'mixed9'"),
        (["render", "--model", "efficientnet-lite0", "--steps", "0", "--out", str(tmp_path)], "steps must be between 1"),
        (["render", "--model", "nope", "--out", str(tmp_path)], "unknown model 'nope'"),
        (["layers", "--model", "nope"], "unknown model 'nope'"),
        (["render", "--model", "inceptionv1", "--quality", "fast", "--out", str(tmp_path)],
         "no fast step count has been measured for inceptionv1; set the steps yourself"),
        (["render", "--model", "inceptionv1", "--no-upsample", "--size", "20", "--out", str(tmp_path)],
         "image size 20 px is too small for inceptionv1 without upsampling"),
    ]
    for args, message in cases:
        done = _run_cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr


def test_a_reader_that_stops_early_ends_the_command_quietly():
    """`layers | head`: the reader closes the pipe before the command writes; no traceback, exit 0."""
    process = subprocess.Popen([sys.executable, "-m", "featviz_core", "layers", "--model", "efficientnet-lite0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # gone before the command has imported torch, let alone printed
    _, stderr = process.communicate(timeout=120)
    assert "Traceback" not in stderr.decode() and "BrokenPipe" not in stderr.decode()
    assert process.returncode == 0


def test_every_command_prints_its_help(capsys):
    import argparse

    from featviz_core.cli.dispatch import _parser

    commands = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert {"render", "atlas", "layers"} <= set(commands)
    for command in commands:
        with pytest.raises(SystemExit) as ended:
            main([command, "--help"])
        assert ended.value.code == 0, command
        out = capsys.readouterr().out
        assert out.startswith("usage:") and f" {command} " in out.splitlines()[0] + " ", command
    assert "held for the first 70% of the steps" in _help_of("render", capsys)  # a % in a setting's help


def _help_of(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return " ".join(capsys.readouterr().out.split())
