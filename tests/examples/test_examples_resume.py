"""``kill -9`` of the real examples command mid-run, then the same command again: it continues from its
checkpoint and writes exactly the store an uninterrupted run writes."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
from examples_helpers import ROOT, TOP, cli, cli_env, store_files
from examples_sample import MODEL
from PIL import Image

from featviz_core.examples.store import load_checkpoint

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
LAYERS = "_blocks.4,_blocks.10"


@pytest.fixture(scope="module")
def bigger_folder(tmp_path_factory, known_images):
    """The known folder plus 30 noise pictures: 20 chunks of 2, so a kill lands mid-run."""
    folder = tmp_path_factory.mktemp("bigger") / "images"
    shutil.copytree(known_images, folder)
    generator = np.random.default_rng(1)
    for i in range(30):
        pixels = generator.integers(0, 256, (48 + i, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"more{i:02d}.png")
    return folder


def test_kill_9_mid_run_then_rerun_writes_the_same_store_as_one_uninterrupted_run(bigger_folder, tmp_path):
    from featviz_core.examples.runner import build_examples
    from featviz_core.examples.scan import LocalEngine

    reference = tmp_path / "reference"
    build_examples(reference, MODEL, LAYERS, bigger_folder, top=TOP, batch=2, engine=LocalEngine(threads=1))

    store = tmp_path / "store"
    command = cli("examples", "--model", MODEL, "--layers", LAYERS, "--images", str(bigger_folder), "--top",
                  str(TOP), "--batch", "2", "--checkpoint-every", "1", "--threads", "1", "--out", str(store))
    process = subprocess.Popen(command, cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while True:
        checkpoint = load_checkpoint(store) if (store / "checkpoint.npz").exists() else None
        if checkpoint is not None and len(checkpoint.done) >= 2:
            break
        assert process.poll() is None, process.communicate()[1].decode()
        assert time.monotonic() < deadline, "the examples command checkpointed nothing in time"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert process.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(store)  # whole after the kill
    assert 2 <= len(killed_at.done) < 20, "the kill came too late to test a resume"
    assert not (store / "examples.json").exists()

    rerun = subprocess.run(command, cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    last = rerun.stderr.strip().splitlines()[-1]
    assert f"{2 * len(killed_at.done)} were scanned by an earlier run" in last, last
    assert "40 images" in last and "images/s" in rerun.stderr and "left" in rerun.stderr
    assert store_files(store) == store_files(reference)
    assert not [p for p in store.rglob(".tmp-*")]
