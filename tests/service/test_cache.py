"""The render cache: bounded on disk and in memory, never half-written, corrupt entries re-rendered."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from PIL import Image
from service_helpers import tiny, wait_for

from featviz_core.models.weights import sha256_of
from featviz_core.render import RenderResult
from featviz_core.service import DONE
from featviz_core.service.render_cache import STALE_TMP_S, RenderCache


def fake_result(seed: int, channels=(0, 1), size: int = 32) -> RenderResult:
    """A result with the right shapes for ``tiny(seed, channels)`` (its pixels need not be a real render)."""
    request = tiny(seed=seed, channels=channels, size=size)
    count = len(channels)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, request.size, request.size, 3), dtype=np.uint8)
    return RenderResult(request=request, images=images, labels=request.labels(),
                        scores=np.arange(count, dtype=np.float32), history=np.zeros((8, count), np.float32),
                        steps_done=8, elapsed_s=0.1, device="cpu")


def entries(path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if not p.name.startswith(".tmp-"))


def test_round_trip_from_disk(tmp_path):
    cache = RenderCache(tmp_path)
    result = fake_result(1)
    cache.put(result)
    cache.clear_memory()
    loaded = cache.get(result.request.key())
    assert loaded is not None and loaded.extra == {"from_cache": True}
    np.testing.assert_array_equal(loaded.images, result.images)
    assert loaded.labels == result.labels and loaded.request == result.request


def test_disk_bounded_by_entries_oldest_used_goes_first(tmp_path):
    cache = RenderCache(tmp_path, max_entries=3)
    results = [fake_result(seed) for seed in range(3)]
    for result in results:
        cache.put(result)
        time.sleep(0.02)  # distinct modification times
    cache.clear_memory()
    assert cache.get(results[0].request.key()) is not None  # using entry 0 makes entry 1 the oldest
    time.sleep(0.02)
    cache.put(fake_result(3))
    keys = entries(tmp_path)
    assert len(keys) == 3
    assert results[1].request.key() not in keys and results[0].request.key() in keys


def test_disk_bounded_by_bytes(tmp_path):
    one = fake_result(10)
    probe = RenderCache(tmp_path / "probe")
    probe.put(one)
    entry_bytes = sum(f.stat().st_size for f in (tmp_path / "probe" / one.request.key()).iterdir())
    cache = RenderCache(tmp_path / "bounded", max_entries=100, max_bytes=int(entry_bytes * 2.5))
    for seed in range(11, 16):
        cache.put(fake_result(seed))
    total = sum(f.stat().st_size for d in (tmp_path / "bounded").iterdir() for f in d.iterdir())
    assert len(entries(tmp_path / "bounded")) == 2 and total <= entry_bytes * 2.5
    tiny_budget = RenderCache(tmp_path / "none", max_entries=100, max_bytes=1)
    tiny_budget.put(one)
    assert entries(tmp_path / "none") == []


def test_memory_bounded_by_entries_and_bytes(tmp_path):
    result_bytes = fake_result(20).images.nbytes
    cache = RenderCache(None, memory_entries=3, memory_bytes=result_bytes * 2)
    for seed in range(20, 25):
        cache.put(fake_result(seed))
    count, used = cache.memory_usage()
    assert count == 2 and used == result_bytes * 2
    small_count = RenderCache(None, memory_entries=3, memory_bytes=10**9)
    for seed in range(20, 25):
        small_count.put(fake_result(seed))
    assert small_count.memory_usage()[0] == 3
    too_big = RenderCache(None, memory_bytes=result_bytes - 1)
    too_big.put(fake_result(20))
    assert too_big.memory_usage() == (0, 0)


@pytest.mark.parametrize("damage", ["truncated png", "garbage png", "missing png", "garbage json",
                                    "wrong size png", "grey png", "edited settings", "empty folder"])
def test_corrupt_entry_is_ignored_and_deleted(tmp_path, damage):
    cache = RenderCache(tmp_path)
    result = fake_result(30)
    key = result.request.key()
    cache.put(result)
    cache.clear_memory()
    entry = tmp_path / key
    if damage == "truncated png":
        data = (entry / "0.png").read_bytes()
        (entry / "0.png").write_bytes(data[: len(data) // 2])
    elif damage == "garbage png":
        (entry / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    elif damage == "missing png":
        (entry / "1.png").unlink()
    elif damage == "garbage json":
        (entry / "meta.json").write_text("{not json")
    elif damage == "wrong size png":
        for i in range(2):
            Image.new("RGB", (8, 8)).save(entry / f"{i}.png")
    elif damage == "grey png":
        Image.new("L", (32, 32)).save(entry / "0.png")
    elif damage == "edited settings":
        meta = json.loads((entry / "meta.json").read_text())
        meta["request"]["steps"] = 9  # the entry no longer matches its key
        (entry / "meta.json").write_text(json.dumps(meta))
    elif damage == "empty folder":
        for f in entry.iterdir():
            f.unlink()
    assert cache.get(key) is None
    assert not entry.exists()


def test_corrupt_entry_is_rendered_again_by_the_service(make_service):
    service = make_service(workers=1)
    request = tiny(seed=31)
    first = service.submit(request, "a")
    wait_for(lambda: not first.active)
    assert first.state == DONE
    entry = service.cache.path / request.key()
    assert entry.is_dir()
    service.cache.clear_memory()
    (entry / "0.png").write_bytes(b"not a png at all")
    again = service.submit(request, "b")
    assert again is not first  # a new render, not a cache hit
    assert again.result is None or again.result.extra != {"from_cache": True}
    wait_for(lambda: not again.active)
    assert again.state == DONE and again.result.stopped == ""
    np.testing.assert_array_equal(again.result.images, first.result.images)
    # The new entry on disk is whole again.
    service.cache.clear_memory()
    assert service.cache.get(request.key()).extra == {"from_cache": True}
    assert service.stats()["submitted"] == 2


CHILD_WRITER = r"""
import os, resource, signal, sys
sys.path.insert(0, sys.argv[2])
from test_cache import fake_result
from featviz_core.service.render_cache import RenderCache

cache = RenderCache(sys.argv[1])
if sys.argv[3] == "file-size-limit":
    # Like a full disk: a file may not grow past 1000 bytes. Two flat images fit, the noisy third does not.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
    result = fake_result(40, channels=(0, 1, 2))
    result.images[:2] = 128
    cache.put(result)  # must not raise
    print("put returned")
else:  # write forever until killed
    seed = 0
    while True:
        seed += 1
        cache.put(fake_result(seed, channels=(0, 1, 2, 3), size=256))
"""


def run_writer(tmp_path, mode: str, **kwargs):
    import subprocess
    import sys
    from pathlib import Path

    here = str(Path(__file__).parent)
    args = [sys.executable, "-c", CHILD_WRITER, str(tmp_path), here, mode]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=str(Path(__file__).parents[2]), **kwargs)


def test_a_write_failing_midway_leaves_no_entry_and_no_temporary_folder(tmp_path):
    child = run_writer(tmp_path, "file-size-limit")
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert "put returned" in out and "could not write render cache entry" in err
    assert list(tmp_path.iterdir()) == []
    cache = RenderCache(tmp_path)
    assert cache.get(fake_result(40, channels=(0, 1, 2)).request.key()) is None


def test_a_writer_killed_at_any_moment_never_leaves_a_half_entry(tmp_path):
    import signal

    child = run_writer(tmp_path, "forever")
    try:
        wait_for(lambda: len(entries(tmp_path)) >= 3 or child.poll() is not None, timeout_s=120,
                 what="the writer to store three entries")
        assert child.poll() is None, child.stderr.read()
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
    cache = RenderCache(tmp_path)
    complete = entries(tmp_path)
    assert len(complete) >= 3
    for key in complete:  # every entry that has its final name is whole
        assert cache.get(key) is not None, f"entry {key} is damaged"
    # Only temporary folders can be partial, and readers never look at them.
    assert all(p.name.startswith(".tmp-") for p in tmp_path.iterdir() if p.name not in complete)


def test_stale_temporary_folders_are_removed_fresh_ones_kept(tmp_path):
    cache = RenderCache(tmp_path)
    stale = tmp_path / ".tmp-crashed"
    stale.mkdir()
    (stale / "0.png").write_bytes(b"half")
    old = time.time() - STALE_TMP_S - 60
    os.utime(stale, (old, old))
    fresh = tmp_path / ".tmp-writing-now"
    fresh.mkdir()
    cache.put(fake_result(41))
    assert not stale.exists() and fresh.exists()


def test_cache_keys_never_name_paths(tmp_path):
    cache = RenderCache(tmp_path)
    for key in ("../../etc/passwd", "a/b", "..", "", "abc.def"):
        with pytest.raises(ValueError, match="bad cache key"):
            cache.get(key)
    assert cache.get("0" * 32) is None


# ----- the weights are part of the key ---------------------------------------------------------------------
INCEPTION_TINY = dict(model="inceptionv1", layer="mixed3a", channels=(0, 1), steps=3, size=32, upsample=False)


def test_key_names_the_weights_file(inception_weights_file, monkeypatch):
    from featviz_core.models import weights_identity
    from featviz_core.request import RenderRequest

    first, second = inception_weights_file(0), inception_weights_file(1)
    monkeypatch.setenv("FEATVIZ_INCEPTIONV1_WEIGHTS", str(first))
    request = RenderRequest(**INCEPTION_TINY)
    key_first = request.key()
    assert weights_identity("inceptionv1") == sha256_of(first)
    assert request.key() == key_first == RenderRequest(**INCEPTION_TINY).key()  # stable for one file
    monkeypatch.setenv("FEATVIZ_INCEPTIONV1_WEIGHTS", str(second))
    assert request.key() != key_first  # same request, other weights
    assert request.key(sha256_of(first)) == key_first
    monkeypatch.delenv("FEATVIZ_INCEPTIONV1_WEIGHTS")
    assert weights_identity("inceptionv1") == ""  # no file on this machine: nothing is cached for it
    cache = RenderCache(None)
    cache.put(fake_inception_result(request))
    assert cache.memory_usage() == (0, 0)


def fake_inception_result(request) -> RenderResult:
    count = len(request.channels)
    images = np.zeros((count, request.size, request.size, 3), dtype=np.uint8)
    return RenderResult(request=request, images=images, labels=request.labels(), scores=np.zeros(count, np.float32),
                        history=np.zeros((request.steps, count), np.float32), steps_done=request.steps,
                        elapsed_s=0.1, device="cpu")


def test_a_render_is_served_only_for_the_weights_it_was_made_with(inception_weights_file, monkeypatch, tmp_path):
    """Two random-weights inception5h.pth files, one request: the service renders it once per file (the
    model is reloaded when the file changes) and serves each file's render only for that file."""
    from service_helpers import settings

    from featviz_core.request import RenderRequest
    from featviz_core.service import RenderService

    first, second = inception_weights_file(0), inception_weights_file(1)
    service = RenderService(settings(tmp_path), device="cpu")  # loads models from their files, as the app does
    try:
        def run(client):
            job = service.submit(RenderRequest(**INCEPTION_TINY), client)
            job.touch(client)
            wait_for(lambda: not job.active, what="the InceptionV1 render")
            assert job.state == DONE, job.error
            return job.result

        monkeypatch.setenv("FEATVIZ_INCEPTIONV1_WEIGHTS", str(first))
        made_with_first = run("a")
        monkeypatch.setenv("FEATVIZ_INCEPTIONV1_WEIGHTS", str(second))
        made_with_second = run("b")
        assert made_with_second.extra != {"from_cache": True}
        assert not np.array_equal(made_with_second.images, made_with_first.images)  # other weights, other images
        assert service.stats()["cache_hits"] == 0 and service.stats()["completed"] == 2
        monkeypatch.setenv("FEATVIZ_INCEPTIONV1_WEIGHTS", str(first))
        service.cache.clear_memory()
        again = run("c")  # from disk, the first file's render
        assert again.extra == {"from_cache": True} and service.stats()["cache_hits"] == 1
        np.testing.assert_array_equal(again.images, made_with_first.images)
        meta = json.loads((service.cache.path / RenderRequest(**INCEPTION_TINY).key() / "meta.json").read_text())
        assert meta["weights"] == sha256_of(first)
    finally:
        service.shutdown(timeout_s=30)
