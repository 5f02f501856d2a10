"""``kill -9`` of the real atlas command mid-run, then the same command again: it completes, every PNG
decodes, the manifest matches the files, and only the batch in flight at the kill is rendered twice."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter

import pytest
from atlas_helpers import CHANNELS, LAYER, ROOT, cli, cli_env, images_of, png_files

from featviz_core.atlas.store import AtlasStore, read_entry, read_log

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def test_kill_9_mid_run_then_rerun_completes_without_rendering_anything_twice(tmp_path):
    store_path = tmp_path / "store"
    # 8 batches of 2 channels, 48 steps: about a second a batch here, so the kill lands mid-run.
    command = cli("atlas", "--model", "efficientnet-lite0", "--layers", LAYER, "--steps", "48", "--size", "32",
                  "--batch", "2", "--threads", "1", "--out", str(store_path), "--quiet")
    process = subprocess.Popen(command, cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while sum(e["event"] == "done" for e in read_log(store_path)) < 2:
        assert process.poll() is None, process.communicate()[1].decode()
        assert time.monotonic() < deadline, "the atlas command wrote no batch in time"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert process.returncode == -signal.SIGKILL

    # After the kill: a readable manifest, and every entry on disk is a whole image of this atlas.
    store = AtlasStore.open(store_path)
    first_run = read_log(store_path)
    done_first = {e["batch"] for e in first_run if e["event"] == "done"}
    assert 2 <= len(done_first) < 8, "the kill came too late to test a resume"
    on_disk = png_files(store_path)
    for channel in on_disk:
        _, record = read_entry(store.image_path(LAYER, channel))
        assert (record["layer"], record["channel"], record["key"]) == (LAYER, channel, store.identity.key)
    assert set(store.done(LAYER)) <= on_disk

    rerun = subprocess.run(command, cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    store = AtlasStore.open(store_path)
    assert store.count() == (CHANNELS, CHANNELS)
    assert png_files(store_path) == set(range(CHANNELS))
    assert not [p for p in (store_path / "images" / LAYER).iterdir() if p.name.startswith(".tmp-")]
    images = images_of(store_path)  # every PNG decodes
    assert len(images) == CHANNELS
    for channel, activation in store.done(LAYER).items():  # the manifest agrees with each file's record
        assert read_entry(store.image_path(LAYER, channel))[1]["activation"] == activation

    events = read_log(store_path)
    runs = list(dict.fromkeys(e["run"] for e in events))
    assert len(runs) == 2
    starts = Counter(e["batch"] for e in events if e["event"] == "start")
    second_starts = {e["batch"] for e in events if e["event"] == "start" and e["run"] == runs[1]}
    assert set(starts) == {f"{LAYER}:{c}-{c + 1}" for c in range(0, CHANNELS, 2)}
    assert not second_starts & done_first, "the rerun rendered batches the first run had finished"
    twice = [batch for batch, count in starts.items() if count > 1]
    assert len(twice) <= 1 and max(starts.values()) <= 2, starts  # at most the one batch in flight
