import json
import subprocess
import sys

import numpy as np
from PIL import Image

from featviz_core.cli import main


def test_layers_prints_name_channels_and_size(capsys):
    assert main(["layers", "--model", "inceptionv1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "mixed4a 508 14x14" in lines
    assert "conv2d0 64 112x112" in lines


def test_render_writes_grid_pngs_and_metadata(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["render", "--model", "efficientnet-lite0", "--layer", "_blocks.10", "--channels", "0-2,7",
                 "--steps", "4", "--size", "32", "--no-upsample", "--seed", "5", "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["grid.png", "render.json", "_blocks.10_0.png", "_blocks.10_1.png", "_blocks.10_2.png", "_blocks.10_7.png"])
    meta = json.loads((out / "render.json").read_text())
    assert meta["settings"]["channels"] == [0, 1, 2, 7] and meta["seed"] == 5
    assert meta["settings"]["steps"] == 4 and meta["settings"]["upsample"] is False
    assert set(meta["final_objective"]) == {"_blocks.10:0", "_blocks.10:1", "_blocks.10:2", "_blocks.10:7"}
    assert meta["versions"]["torch"] and meta["device"] == "cpu" and meta["wall_time_s"] > 0
    tile = np.asarray(Image.open(out / "_blocks.10_7.png"))
    assert tile.shape == (32, 32, 3)
    grid = Image.open(out / "grid.png")
    assert grid.width > 4 * 32 and grid.height > 32
    err = capsys.readouterr().err
    assert "step 4/4" in err  # the progress bar went to stderr


def _run_cli(*args):
    return subprocess.run([sys.executable, "-m", "featviz_core", *args], capture_output=True, text=True, timeout=120)


def test_bad_input_prints_one_line_and_exits_2(tmp_path):
    cases = [
        (["render", "--model", "efficientnet-lite0", "--channels", "500", "--out", str(tmp_path)],
         "channel 500 is outside layer _blocks.10, which has 112 channels"),
        (["render", "--model", "efficientnet-lite0", "--layer", "mixed9", "--out", str(tmp_path)], "unknown layer 'mixed9'"),
        (["render", "--model", "efficientnet-lite0", "--steps", "0", "--out", str(tmp_path)], "steps must be between 1"),
        (["render", "--model", "nope", "--out", str(tmp_path)], "unknown model 'nope'"),
        (["layers", "--model", "nope"], "unknown model 'nope'"),
    ]
    for args, message in cases:
        done = _run_cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr
