"""Every field, every way in: the CLI, RenderRequest, URL query parameters and uploads refuse bad input
with one clear message, never a traceback, and nothing a user types becomes a path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
import torch

from featviz_core.errors import RequestError
from featviz_core.request import RenderRequest

ROOT = Path(__file__).resolve().parents[2]
M = "efficientnet-lite0"
LONG = "9" * 5000
# Asking for a CUDA device is refused only where there is none; on a GPU machine it renders
# (test_cli_renders_on_cuda_on_gpu).
HAS_CUDA = torch.cuda.is_available()
NO_CUDA = "this machine has no CUDA GPU"

# ----- the CLI ---------------------------------------------------------------------------------------------
# (arguments after `render --model efficientnet-lite0 --out OUT`, expected part of the message)
CLI_CASES = [
    (["--model", "nope"], "unknown model 'nope'; choose one of: inceptionv1, efficientnet-lite0"),
    (["--model", "../../etc/passwd"], "unknown model '../../etc/passwd'"),
    (["--layer", "mixed4a"], "unknown layer 'mixed4a' for efficientnet-lite0; main layers are _conv_stem"),
    (["--layer", "../../x"], "unknown layer '../../x'"),
    (["--channels", "500"], "channel 500 is outside layer _blocks.10, which has 112 channels (0-111)"),
    (["--channels", "0-999999999999"], "asks for 1000000000000 channels; at most 512 per render"),
    (["--channels", "5-3"], "'5-3' runs backwards"),
    (["--channels", "a,b"], "channels: cannot read 'a'"),
    (["--channels", ""], "channels are empty"),
    (["--channels", "-1"], "channels: cannot read '-1'"),
    (["--objective", "pixels"], "unknown objective 'pixels'; choose one of: channel, neuron, layer"),
    (["--expression", "__import__('os')"], "cannot read the objective at \"__import__('os')\""),
    (["--expression", "_blocks.1:0" + " + _blocks.1:0" * 40], "expression is too long (571 characters; at most 500)"),
    (["--expression", "_blocks.1:999"], "channel 999 is outside layer _blocks.1"),
    (["--steps", "0"], "steps must be between 1 and 4096, got 0"),
    (["--steps", "99999"], "steps must be between 1 and 4096, got 99999"),
    (["--steps", "ten"], "argument --steps: invalid int value: 'ten'"),
    (["--size", "8"], "image size must be between 16 and 1024 pixels, got 8"),
    (["--size", "4096"], "image size must be between 16 and 1024 pixels, got 4096"),
    (["--seed", "-1"], "seed must be between 0 and 2147483647, got -1"),
    (["--seed", "2147483648"], "seed must be between 0 and 2147483647"),
    (["--lr", "0"], "learning rate must be above 0 and at most 10"),
    (["--lr", "nan"], "lr must be a finite number, got nan"),
    (["--lr", "inf"], "lr must be a finite number, got inf"),
    (["--tv", "-1"], "TV weight cannot be negative"),
    (["--l2", "-0.5"], "L2 weight cannot be negative"),
    (["--l2", "lots"], "argument --l2: invalid float value: 'lots'"),
    (["--transforms", "wild"], "unknown transforms preset 'wild'; choose one of: standard, distill, none"),
    (["--fft", "yes"], "unrecognized arguments: yes"),
    (["--precision", "half"], "unknown precision 'half'; choose one of: float32, bfloat16, auto"),
    (["--memory-format", "nhwc"], "unknown memory format 'nhwc'; choose one of: contiguous, channels_last, auto"),
    (["--param", "pixels"], "unknown parameterization 'pixels'; choose one of: fourier, maco"),
    (["--param", "maco", "--no-fft"], "MACO cannot be combined with the Fourier parameterization off"),
    (["--param", "maco", "--alpha"], "MACO cannot be combined with transparency (alpha)"),
    (["--maco-images", "/no/such/folder", "--param", "maco"], "--maco-images /no/such/folder: no such folder"),
    (["--optimizer", "sgd"], "unknown optimizer 'sgd'; choose one of: auto, adam, nadam"),
    (["--device", "tpu"], "device 'tpu'"),
    *([] if HAS_CUDA else [(["--device", "cuda"], NO_CUDA), (["--device", "cuda:1"], NO_CUDA)]),
    # On a GPU machine: the first index past its devices (checked without a GPU in tests/core/test_cuda_branches.py).
    *([(["--device", f"cuda:{torch.cuda.device_count()}"], f"device 'cuda:{torch.cuda.device_count()}' does not "
        f"exist: this machine has {torch.cuda.device_count()} CUDA device")] if HAS_CUDA else []),
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["--snapshot-every", "0"], "--snapshot-every must be at least 1, got 0"),
    (["--columns", "0"], "--columns must be at least 1, got 0"),
    (["--bogus"], "unrecognized arguments: --bogus"),
]


def run_cli(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "FEATVIZ_DEVICE": "cpu"}
    return subprocess.run([sys.executable, "-m", "featviz_core", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=180)


def run_main(args: list[str], capsys) -> tuple[int, str]:
    """``featviz_core.cli.dispatch.main`` exactly as ``python -m featviz_core`` calls it: (exit status, stderr)."""
    from featviz_core.cli.dispatch import main

    try:
        status = main(args)
    except SystemExit as exit_:  # argparse exits by itself
        status = exit_.code
    return status, capsys.readouterr().err


def cli_calls(tmp_path: Path) -> list[tuple[list[str], str]]:
    out = tmp_path / "out"
    (tmp_path / "file").write_text("a file, not a folder")
    calls = [(["render", *args, "--out", str(out)] if args[0] == "--model" else
              ["render", "--model", M, "--out", str(out), *args], message) for args, message in CLI_CASES]
    return calls + [
        (["render", "--model", M, "--out", str(tmp_path / "file")], "exists and is not a folder"),
        (["render", "--model", M], "the following arguments are required: --out"),
        (["layers", "--model", M, "--size", "5"], "--size must be between 16 and 4096 pixels, got 5"),
        (["fetch-weights", "--model", "nope"], "unknown model 'nope'"),
        ([], "the following arguments are required: command"),
    ]


def check_refusal(args, message, status, stderr) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if (status == 2 and "Traceback" not in stderr and len(lines) == 1 and lines[0].startswith("error: ")
            and message in lines[0] and len(lines[0]) < 700):
        return ""
    return f"{args} -> status {status}, stderr {stderr!r}"


def test_cli_rejects_every_bad_field_with_one_line_and_status_2(tmp_path, capsys):
    failures = [check_refusal(args, message, *run_main(args, capsys)) for args, message in cli_calls(tmp_path)]
    assert not [f for f in failures if f], "\n".join(f for f in failures if f)
    assert not (tmp_path / "out").exists()  # nothing was written for a refused request


def test_cli_process_exits_2_without_traceback(tmp_path):
    """The same refusals from a real ``python -m featviz_core`` process, one of each kind (argparse, request
    validation, a CLI option, the device, the output folder, the model name)."""
    messages = {message: (args, message) for args, message in cli_calls(tmp_path)}
    picked = [messages[m] for m in ("unknown model 'nope'; choose one of: inceptionv1, efficientnet-lite0",
                                    "asks for 1000000000000 channels; at most 512 per render",
                                    "argument --steps: invalid int value: 'ten'",
                                    "device 'tpu'" if HAS_CUDA else NO_CUDA,
                                    "--batch-size must be at least 1, got 0",
                                    "exists and is not a folder")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run_cli, [args for args, _ in picked]))
    failures = [check_refusal(args, message, done.returncode, done.stderr)
                for (args, message), done in zip(picked, results)]
    assert not [f for f in failures if f], "\n".join(f for f in failures if f)


def test_the_device_refusals_depend_on_this_machine_having_no_cuda():
    """Without CUDA both ways of naming it are among the refusals checked above; with CUDA neither is, and the
    first index past the machine's devices is."""
    no_cuda = [args for args, message in CLI_CASES if message == NO_CUDA]
    assert no_cuda == ([] if HAS_CUDA else [["--device", "cuda"], ["--device", "cuda:1"]])
    past = [args for args, message in CLI_CASES if "does not exist" in message]
    assert past == ([["--device", f"cuda:{torch.cuda.device_count()}"]] if HAS_CUDA else [])


def test_cli_device_cuda_renders_with_a_gpu_and_is_refused_without(tmp_path, capsys):
    """Whatever the machine: with CUDA the render runs there; without it, one line says why not."""
    from featviz_core.cli.dispatch import main

    out = tmp_path / "out"
    args = ["render", "--model", M, "--out", str(out), "--device", "cuda", "--layer", "_blocks.1",
            "--channels", "0-1", "--steps", "4", "--size", "32", "--quiet"]
    status = main(args)
    err = capsys.readouterr().err
    if not HAS_CUDA:
        assert check_refusal(args, NO_CUDA, status, err) == ""
        assert not out.exists()
        return
    assert status == 0, err
    meta = json.loads((out / "render.json").read_text())
    assert meta["device"].startswith("cuda") and meta["steps_done"] == 4, meta
    assert (out / "grid.png").is_file()


# ----- RenderRequest (code) and query parameters (strings) ------------------------------------------------
REQUEST_CASES = [  # field, bad value, expected part of the message
    ("model", "vgg16", "unknown model 'vgg16'"),
    ("model", ["a"], "model must be a name"),
    ("model", None, "model must be a name"),
    ("layer", "fc", "unknown layer 'fc' for efficientnet-lite0"),
    ("layer", 10, "layer must be a name like _blocks.10, got 10"),
    ("layer", "x" * 2000, "unknown layer 'xxxxxxxx"),
    ("channels", (200,), "channel 200 is outside layer _blocks.10, which has 112 channels"),
    ("channels", (-1,), "channels cannot be negative"),
    ("channels", (1.5,), "channels must be whole numbers, got 1.5"),
    ("channels", (True,), "channels must be whole numbers, got True"),
    ("channels", "0-9999999999999", "at most 512 per render"),
    ("channels", "1;rm -rf /", "channels: cannot read '1;rm -rf /'"),
    ("channels", tuple(range(513)), "at most 512 per render"),
    ("objective", "pixel", "unknown objective 'pixel'; choose one of: channel, neuron, layer"),
    ("negate", "yes", "negate must be true or false"),
    ("expression", 12, "expression must be text"),
    ("expression", "_blocks.10:3 * 2", "cannot read the objective"),
    ("steps", 0, "steps must be between 1 and 4096"),
    ("steps", 10.0, "steps must be a whole number, got 10.0"),
    ("steps", "10", "steps must be a whole number, got '10'"),
    ("size", 15, "image size must be between 16 and 1024 pixels, got 15"),
    ("size", True, "size must be a whole number, got True"),
    ("fft", 1, "fft must be true or false, got 1"),
    ("decorrelate", "false", "decorrelate must be true or false"),
    ("tv", -0.1, "TV weight cannot be negative"),
    ("tv", float("nan"), "tv must be a finite number"),
    ("l2", float("-inf"), "l2 must be a finite number"),
    ("lr", 11.0, "learning rate must be above 0 and at most 10"),
    ("lr", "0.05", "lr must be a number, got '0.05'"),
    ("transforms", "../standard", "unknown transforms preset '../standard'"),
    ("upsample", None, "upsample must be true or false, got None"),
    ("seed", 2**31, "seed must be between 0 and 2147483647"),
    ("seed", -5, "seed must be between 0 and 2147483647"),
    ("precision", "float16", "unknown precision 'float16'; choose one of: float32, bfloat16, auto"),
    ("precision", 32, "precision must be text, got 32"),
    ("memory_format", "NHWC", "unknown memory format 'NHWC'; choose one of: contiguous, channels_last, auto"),
    ("param", "pixels", "unknown parameterization 'pixels'; choose one of: fourier, maco"),
    ("maco_spectrum", "ab" * 32, "a MACO spectrum is used by the MACO parameterization only"),
    ("optimizer", "NAdam", "unknown optimizer 'NAdam'; choose one of: auto, adam, nadam"),
    ("optimizer", 1, "optimizer must be text, got 1"),
]


@pytest.mark.parametrize("field, value, message", REQUEST_CASES, ids=[f"{c[0]}={str(c[1])[:20]}" for c in REQUEST_CASES])
def test_render_request_rejects_each_bad_field(field, value, message):
    with pytest.raises(RequestError) as info:
        RenderRequest(**{"model": M, field: value} if field != "model" else {"model": value})
    assert message in str(info.value)
    assert len(str(info.value)) < 700


QUERY_CASES = [  # query parameters as a browser sends them (strings)
    ({"model": "nope"}, "unknown model 'nope'"),
    ({"model": "x" * 501}, "model is too long (501 characters; at most 500)"),
    ({"layer": "<script>alert(1)</script>"}, "unknown layer '<script>alert(1)</script>'"),
    ({"channels": "0-999999999999"}, "asks for 1000000000000 channels; at most 512 per render"),
    ({"channels": "1," * 3000}, "the list is too long"),
    ({"channels": "%00"}, "channels: cannot read '%00'"),
    ({"objective": "DROP TABLE"}, "unknown objective 'DROP TABLE'"),
    ({"negate": "maybe"}, "negate must be true or false, got 'maybe'"),
    ({"expression": "_blocks.1:0; import os"}, "cannot read the objective"),
    ({"steps": "1e3"}, "steps must be a whole number, got '1e3'"),
    ({"steps": LONG}, "steps is too long (5000 characters; at most 500)"),
    ({"steps": "9" * 60}, "steps must be a whole number, got '9999999999"),
    ({"steps": "-4"}, "steps must be between 1 and 4096, got -4"),
    ({"steps": ""}, "steps must be a whole number, got ''"),
    ({"size": "64px"}, "size must be a whole number, got '64px'"),
    ({"size": "100000"}, "image size must be between 16 and 1024 pixels"),
    ({"fft": "2"}, "fft must be true or false, got '2'"),
    ({"decorrelate": "nope"}, "decorrelate must be true or false"),
    ({"tv": "nan"}, "tv must be a finite number"),
    ({"tv": "-1"}, "TV weight cannot be negative"),
    ({"l2": "1/0"}, "l2 must be a number, got '1/0'"),
    ({"lr": "inf"}, "lr must be a finite number"),
    ({"lr": "0"}, "learning rate must be above 0"),
    ({"transforms": "/etc/passwd"}, "unknown transforms preset '/etc/passwd'"),
    ({"upsample": "sometimes"}, "upsample must be true or false"),
    ({"seed": "0x10"}, "seed must be a whole number, got '0x10'"),
    ({"seed": "99999999999"}, "seed must be between 0 and 2147483647"),
    ({"precision": "fp8"}, "unknown precision 'fp8'; choose one of: float32, bfloat16, auto"),
    ({"memory_format": "../x"}, "unknown memory format '../x'"),
    ({"param": "maco", "maco_spectrum": "../../etc/passwd"}, "MACO spectrum: '../../etc/passwd' is not a spectrum's SHA-256"),
    ({"param": "maco", "maco_spectrum": "0" * 64}, "the MACO spectrum this render uses is not on this server"),
    ({"param": "maco", "init_l2": "0", "interpolate": "_blocks.1:0,_blocks.1:1"}, "MACO cannot be combined with an interpolation"),
    ({"param": "maco", "optimizer": "sgd"}, "unknown optimizer 'sgd'; choose one of: auto, adam, nadam"),
]


@pytest.mark.parametrize("values, message", QUERY_CASES, ids=[next(iter(c[0])) + "=" + next(iter(c[0].values()))[:16] for c in QUERY_CASES])
def test_query_parameters_are_validated_by_the_same_request(values, message):
    with pytest.raises(RequestError) as info:
        RenderRequest.from_mapping({"model": M, **values})
    assert message in str(info.value)
    assert len(str(info.value)) < 700


def test_good_query_parameters_and_unknown_keys():
    request = RenderRequest.from_mapping({"model": M, "layer": "_blocks.4", "channels": "3,7,12", "steps": " 64 ",
                                          "fft": "off", "lr": "0.1", "utm_source": "../../etc", "__class__": "x"})
    assert (request.layer, request.channels, request.steps, request.fft, request.lr) == ("_blocks.4", (3, 7, 12), 64, False, 0.1)


# ----- nothing a user types becomes a path ------------------------------------------------------------------
def test_cache_keys_download_names_and_zip_members_are_safe(tmp_path):
    from featviz_core.outputs.export import result_zip, safe_filename
    from featviz_core.render import RenderResult

    expression = "_blocks.1:0" + " + 0.5*_blocks.1:1" * 26  # near the 500-character limit
    requests = [
        RenderRequest.from_mapping({"model": M, "layer": "_blocks.1", "channels": "0-2"}),
        RenderRequest.from_mapping({"model": M, "expression": expression}),
        RenderRequest.from_mapping({"model": M, "expression": "-neuron(_blocks.1:3@2,2) - dream(_blocks.2)",
                                    "negate": "true"}),
    ]
    for request in requests:
        key = request.key()
        assert len(key) == 32 and all(c in "0123456789abcdef" for c in key)
        count = len(request.objectives())
        result = RenderResult(request=request, images=np.zeros((count, 16, 16, 3), np.uint8),
                              labels=request.labels(), scores=np.zeros(count, np.float32),
                              history=np.zeros((1, count), np.float32), steps_done=1, elapsed_s=0.0, device="cpu")
        with zipfile.ZipFile(BytesIO(result_zip(result))) as archive:
            names = archive.namelist()
            archive.extractall(tmp_path / key)  # a hostile name would escape or fail here
        for name in names:
            assert "/" not in name and "\\" not in name and not name.startswith(".")
            assert len(name.encode()) <= 255
            assert (tmp_path / key / name).is_file()
    for label in ("../../etc/passwd", "..", "a/b\\c", "\x00evil", "C:\\windows", "." * 300 + "x" * 400):
        name = safe_filename(label)
        assert "/" not in name and "\\" not in name and "\x00" not in name and not name.startswith(".")
        assert 0 < len(name.encode()) <= 200


# ----- uploads ---------------------------------------------------------------------------------------------
UPLOAD_CASES = [
    (b"", "the uploaded file is empty"),
    (b"GIF89a" + b"\x00" * 40, "not an image featviz accepts"),
    (b"BM" + b"\x00" * 60, "not an image featviz accepts"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "could not be read|not an image featviz accepts"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 40, "could not be read|not an image featviz accepts|damaged"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "could not be read|not an image featviz accepts|damaged"),
    (b"#!/bin/sh\nrm -rf /\n", "not an image featviz accepts"),
]


@pytest.mark.parametrize("data, message", UPLOAD_CASES, ids=[repr(c[0][:8]) for c in UPLOAD_CASES])
def test_uploads_are_refused_with_what_is_allowed(data, message):
    import re

    from featviz_core.photos.uploads import load_upload

    with pytest.raises(RequestError) as info:
        load_upload(data)
    text = str(info.value)
    assert re.search(message, text), text
    assert text.endswith("send a PNG, JPEG or WEBP image of at most 10 MB and 4096x4096 pixels")
