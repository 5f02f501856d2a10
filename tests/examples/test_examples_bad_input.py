"""Bad input to ``python -m featviz_core examples``: one clear line each, nothing written; bad images are
skipped and counted, never fatal."""

from __future__ import annotations

import os

import numpy as np
import pytest
from examples_helpers import result
from examples_sample import LAYER, MODEL
from PIL import Image

from featviz_core.cli.dispatch import main


def run(capsys, *args: str) -> tuple[int, str]:
    code = main(["examples", "--model", MODEL, *args])
    return code, capsys.readouterr().err


def one_line_error(capsys, *args: str, after_progress: bool = False) -> str:
    """The error line; nothing else is printed unless the run got as far as scanning."""
    code, err = run(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2 and lines[-1].startswith("error: "), err
    assert after_progress or len(lines) == 1, err
    return lines[-1]


def test_refusals_before_anything_is_written(capsys, tmp_path):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    assert one_line_error(capsys, "--layers", LAYER, "--images", str(empty), "--out", str(out)) == (
        f"error: --images {empty} holds no images (files ending in .png, .jpg, .jpeg, .webp, searched recursively)")
    assert one_line_error(capsys, "--layers", LAYER, "--images", str(tmp_path / "nowhere"), "--out", str(out)) \
        == f"error: --images {tmp_path / 'nowhere'} does not exist; give a folder of PNG, JPEG or WEBP images"
    Image.new("RGB", (40, 40)).save(empty / "a.png")
    message = one_line_error(capsys, "--layers", "_blocks.4,mixed4a", "--images", str(empty), "--out", str(out))
    assert message.startswith("error: unknown layer 'mixed4a' for efficientnet-lite0; main layers are _conv_stem")
    assert one_line_error(capsys, "--layers", LAYER, "--images", str(empty), "--top", "0", "--out", str(out)) == \
        "error: --top must be a whole number from 1 to 64, got 0"
    assert one_line_error(capsys, "--layers", LAYER, "--images", str(empty), "--crop", "500", "--out",
                          str(out)) == "error: --crop must be a whole number from 8 to 224, got 500"
    assert not out.exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep me")
    assert one_line_error(capsys, "--layers", LAYER, "--images", str(empty), "--out", str(foreign)) == (
        f"error: {foreign} is not empty and holds no examples store; choose a new or empty folder "
        "(nothing was written)")
    assert sorted(p.name for p in foreign.iterdir()) == ["mine.txt"]


def test_bad_images_are_skipped_and_counted_and_a_changed_folder_is_refused(capsys, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    generator = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(generator.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / f"ok{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a PNG signature, no image
    (folder / "text.jpg").write_text("hello")
    Image.new("L", (600, 20), 9).save(folder / "wide.png")  # more than --max-side 512
    Image.fromarray(generator.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(folder / "heavy.png")
    assert os.path.getsize(folder / "heavy.png") > 0.05 * 1024 * 1024
    out = tmp_path / "out"
    code, err = run(capsys, "--layers", LAYER, "--images", str(folder), "--top", "2", "--max-side", "512",
                    "--max-mb", "0.05", "--out", str(out))
    assert code == 0, err
    assert "7/7 images" in err and "4 skipped" in err
    data = result(out)
    assert data["counts"] == {"images": 7, "used": 3, "skipped": 4}
    reasons = {item["image"]: item["reason"] for item in data["skipped"]}
    assert reasons["heavy.png"].startswith("too large (0.1 MB, at most 0.05 MB)")
    assert reasons["wide.png"] == "the image is 600x20 pixels"
    assert reasons["text.jpg"] == "the file is not an image featviz accepts"
    assert "broken.png" in reasons
    assert {e["image"] for e in data["layers"][LAYER]["examples"][0]["top"]} <= {"ok0.png", "ok1.png", "ok2.png"}

    code, err = run(capsys, "--layers", LAYER, "--images", str(folder), "--top", "2", "--max-side", "512",
                    "--max-mb", "0.05", "--out", str(out))
    assert code == 0 and "already complete" in err
    before = (out / "examples.json").read_bytes()
    Image.new("RGB", (30, 30)).save(folder / "new.png")
    assert one_line_error(capsys, "--layers", LAYER, "--images", str(folder), "--top", "2", "--max-side", "512",
                          "--max-mb", "0.05", "--out", str(out)) == (
        f"error: {out} holds examples of something else (the folder's files (names, sizes or times) differ; "
        "images 8 here, 7 in the store); use another --out (nothing was changed)")
    assert (out / "examples.json").read_bytes() == before


def test_a_folder_of_nothing_usable_is_one_line(capsys, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"junk")
    message = one_line_error(capsys, "--layers", LAYER, "--images", str(folder), "--out", str(tmp_path / "out"),
                             after_progress=True)
    assert message == (f"error: none of the 1 images of {folder} could be used "
                       "(a.png: the file is not an image featviz accepts, ...)")


def test_a_second_run_on_the_same_store_is_refused_while_the_first_holds_it(capsys, tmp_path):
    import os as _os

    from featviz_core.atlas.guard import writer_lock

    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("RGB", (40, 40), (10, 200, 30)).save(folder / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    with writer_lock(out, what="examples run"):
        message = one_line_error(capsys, "--layers", LAYER, "--images", str(folder), "--out", str(out))
    assert message == (f"error: another examples run (pid {_os.getpid()}) is writing {out}; wait for it to "
                       "finish or stop it")
    assert sorted(p.name for p in out.iterdir()) == [".lock"]
