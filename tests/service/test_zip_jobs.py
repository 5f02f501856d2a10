"""A visitor's zip of images searched for dataset examples through the real render service (real
EfficientNet-Lite0 weights): it waits behind the renders queued before it and ahead of background work,
reports images done of total, is shared, cancelled, abandoned and turned away like a render, removes its
temporary folder however it ends, writes a store into the uploads' own folder (never the shared examples
folder), and the same zip is not searched twice. Zip jobs are counted apart from renders; the uploads'
stores are kept within their bound (never one a run is writing), and temporary folders a killed process
left are removed when a service starts."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from examples_sample import pictures_zip, zip_bytes
from service_helpers import tiny, wait_for

from featviz_core.errors import QueueFull
from featviz_core.examples import ExamplesError
from featviz_core.examples.lookup import find_examples
from featviz_core.examples.upload import TEMP_PREFIX, ZipExamplesRequest, prune_uploads
from featviz_core.service import CANCELLED, DONE, QUEUED, RUNNING

MODEL, LAYER = "efficientnet-lite0", "_blocks.1"  # an early layer: a quick pass


@pytest.fixture(autouse=True)
def examples_dir(tmp_path, monkeypatch) -> Path:
    """This test's own shared folder of stores (what every visitor sees); see ``uploads_dir``."""
    root = tmp_path / "examples"
    monkeypatch.setenv("FEATVIZ_EXAMPLES_DIR", str(root))
    return root


@pytest.fixture(autouse=True)
def uploads_dir(tmp_path, monkeypatch) -> Path:
    """Uploads' stores go into this test's own uploads folder."""
    root = tmp_path / "uploads"
    monkeypatch.setenv("FEATVIZ_UPLOAD_EXAMPLES_DIR", str(root))
    return root


def upload(data: bytes) -> ZipExamplesRequest:
    return ZipExamplesRequest.of_upload(data, MODEL, LAYER, name="mine.zip", top=3)


def busy_worker(service):
    """A long render that holds the only worker until it is cancelled."""
    job = service.submit(tiny(seed=1, channels=(0,), steps=4000), "blocker", snapshot_every=1)
    wait_for(lambda: job.state == RUNNING, what="the long render to start")
    return job


def temp_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"))


def test_a_zip_waits_behind_a_render_queued_before_it_and_ahead_of_background_work(make_service, uploads_dir):
    service = make_service(workers=1, queue_length=4, idle_timeout_s=600)
    blocker = busy_worker(service)
    render = service.submit(tiny(seed=2), "visitor-1")
    background = service.submit(tiny(seed=3), "atlas-filler", priority=-2, preemptible=True)
    data = pictures_zip(6, **{"readme.txt": b"hello"})
    job = service.submit_examples(upload(data), data, "visitor-2")
    assert (job.state, render.position(), job.position(), background.position()) == (QUEUED, 0, 1, 2)
    folder = job.workdir
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == [f"p{i:03d}.png" for i in range(6)]
    blocker.cancel("the test lets the queue move")
    wait_for(lambda: not job.active and not background.active, timeout_s=300, what="the zip's job and the rest")
    assert (render.state, job.state, background.state) == (DONE, DONE, DONE), job.error
    assert render.finished <= job.started and job.finished <= background.started  # queue order, not timing
    assert not folder.exists()
    progress = job.progress
    assert (progress.done, progress.total, progress.finished) == (6, 6, True)
    found = job.result
    assert (found.images, found.not_images, found.reused) == (6, 1, False)
    assert find_examples(MODEL, LAYER) == []  # not among the stores every visitor sees
    assert found.store.parent == uploads_dir
    assert [store.path for store in find_examples(MODEL, LAYER, roots=[uploads_dir])] == [found.store]
    data_json = json.loads((found.store / "examples.json").read_text())
    assert data_json["folder_digest"] == hashlib.sha256(data).hexdigest()
    assert data_json["counts"] == {"images": 6, "used": 6, "skipped": 0}
    assert all(entry["image"].startswith("pictures/p") for entry in data_json["layers"][LAYER]["examples"][0]["top"])
    stats = service.stats()  # the renders' counters count renders only (the blocker stopped with its images)
    assert {name: stats[name] for name in ("submitted", "completed", "stopped", "cancelled", "failed")} == \
        {"submitted": 3, "completed": 3, "stopped": 1, "cancelled": 0, "failed": 0}
    assert {name: stats[name] for name in ("examples_submitted", "examples_completed", "examples_cancelled",
                                           "examples_failed", "examples_running")} == \
        {"examples_submitted": 1, "examples_completed": 1, "examples_cancelled": 0, "examples_failed": 0,
         "examples_running": 0}


def test_the_same_zip_again_reuses_the_finished_store(make_service):
    service = make_service(workers=1, idle_timeout_s=600)
    data = pictures_zip(3, seed=20)
    first = service.submit_examples(upload(data), data, "visitor-1")
    wait_for(lambda: not first.active, timeout_s=300, what="the first upload")
    assert first.state == DONE, first.error
    before = service.stats()
    again = service.submit_examples(upload(data), data, "visitor-2")
    assert again is not first and again.state == DONE and again.workdir is None
    assert (again.result.store, again.result.reused, again.result.images) == (first.result.store, True, 3)
    after = service.stats()
    assert (after["examples_reused"], after["cache_hits"]) == (before["examples_reused"] + 1, before["cache_hits"])
    assert (after["examples_submitted"], after["submitted"]) == (1, 0)
    other = pictures_zip(3, seed=40)
    new_work = service.submit_examples(upload(other), other, "visitor-3")  # another zip: new work
    assert new_work.active and new_work.workdir is not None
    new_work.release("visitor-3")


def test_the_same_zip_uploaded_while_it_waits_is_shared(make_service):
    service = make_service(workers=1, idle_timeout_s=600)
    blocker = busy_worker(service)
    data = pictures_zip(2, seed=50)
    before = temp_folders()
    first = service.submit_examples(upload(data), data, "visitor-1")
    second = service.submit_examples(upload(data), data, "visitor-2")
    assert second is first and (service.stats()["examples_shared"], service.stats()["shared"]) == (1, 0)
    assert temp_folders() - before == {first.workdir}  # the second upload was not unpacked again
    first.release("visitor-1")
    assert first.state == QUEUED  # visitor-2 still waits for it
    blocker.cancel("done")


def test_a_zip_released_while_queued_leaves_the_queue_and_removes_its_folder(make_service):
    service = make_service(workers=1, idle_timeout_s=600)
    blocker = busy_worker(service)
    data = pictures_zip(2, seed=60)
    job = service.submit_examples(upload(data), data, "visitor")
    folder = job.workdir
    assert folder.is_dir() and job.state == QUEUED
    job.release("visitor")
    assert job.state == CANCELLED and not folder.exists()
    assert service.stats()["queued"] == 0
    blocker.cancel("done")


def test_a_zip_nobody_polls_is_abandoned_while_queued_and_removes_its_folder(make_service):
    service = make_service(workers=1, idle_timeout_s=1.0)
    blocker = busy_worker(service)
    data = pictures_zip(2, seed=70)
    job = service.submit_examples(upload(data), data, "closed-tab")
    folder = job.workdir

    def abandoned() -> bool:
        blocker.touch("blocker")  # the render's tab is still open; the zip's tab was closed
        service.stats()  # the service looks at its queue
        return not job.active

    wait_for(abandoned, timeout_s=60, what="the unpolled zip to leave the queue")
    assert job.state == CANCELLED and "nobody is watching" in job.error
    assert not folder.exists()
    blocker.cancel("done")


def test_a_running_zip_that_is_cancelled_removes_its_folder_and_the_same_zip_continues_later(make_service):
    service = make_service(workers=1, idle_timeout_s=600)
    data = pictures_zip(160, seed=80)  # ten batches of 16 on a CPU
    job = service.submit_examples(upload(data), data, "visitor")
    folder = job.workdir
    wait_for(lambda: job.state == RUNNING, what="the zip's job to start")
    job.cancel("stopped by the test")
    wait_for(lambda: not job.active, timeout_s=300, what="the zip's job to stop")
    assert job.state == CANCELLED and job.error == "stopped by the test" and job.result is None
    assert not folder.exists()
    assert 0 < job.progress.done < 160
    again = service.submit_examples(upload(data), data, "visitor")
    wait_for(lambda: not again.active, timeout_s=300, what="the same zip, uploaded again")
    assert again.state == DONE, again.error
    assert again.progress.scanned == 160 - job.progress.done  # it went on from the stopped run's checkpoint


def test_a_full_queue_turns_a_zip_away_and_unpacks_nothing(make_service):
    service = make_service(workers=1, queue_length=1, idle_timeout_s=600)
    blocker = busy_worker(service)
    waiting = service.submit(tiny(seed=9), "visitor-1")
    data = pictures_zip(2, seed=90)
    before = temp_folders()
    with pytest.raises(QueueFull, match="busy.*at most 1 may wait"):
        service.submit_examples(upload(data), data, "visitor-2")
    assert temp_folders() == before
    assert (service.stats()["examples_rejected"], service.stats()["rejected"]) == (1, 0)
    waiting.cancel("done")
    blocker.cancel("done")


def test_a_refused_zip_queues_nothing_and_leaves_no_folder(make_service):
    service = make_service(workers=1, idle_timeout_s=600)
    data = bytearray(zip_bytes({"bomb.png": bytes(4 * 1024 * 1024)}))
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 1000)  # the directory says 1000 bytes; it unpacks to 4 MB
    before = temp_folders()
    with pytest.raises(ExamplesError, match="'bomb.png' is damaged or its header does not match its data"):
        service.submit_examples(upload(bytes(data)), bytes(data), "visitor")
    with pytest.raises(ExamplesError, match="outside the zip's root"):
        evil = zip_bytes({"../evil.png": b"x"})
        service.submit_examples(upload(evil), evil, "visitor")
    assert temp_folders() == before
    assert service.stats()["examples_submitted"] == 0 and service.stats()["queued"] == 0


def finish(service, data: bytes, client: str):
    job = service.submit_examples(upload(data), data, client)
    wait_for(lambda: not job.active, timeout_s=300, what=f"{client}'s zip")
    assert job.state == DONE, job.error
    return job


def test_the_uploads_stores_beyond_their_bound_go_the_one_used_longest_ago_first(make_service, uploads_dir,
                                                                                  monkeypatch):
    monkeypatch.setenv("FEATVIZ_UPLOAD_EXAMPLES_MAX", "2")
    service = make_service(workers=1, idle_timeout_s=600)
    first_zip, second_zip, third_zip = (pictures_zip(2, seed=seed) for seed in (300, 310, 320))
    first = finish(service, first_zip, "visitor-1").result.store
    second = finish(service, second_zip, "visitor-2").result.store
    assert sorted(uploads_dir.iterdir()) == sorted([first, second])
    assert finish(service, first_zip, "visitor-1").result.reused  # the first zip used again: now the newest
    third = finish(service, third_zip, "visitor-3").result.store
    assert sorted(uploads_dir.iterdir()) == sorted([first, third])  # the second was used longest ago
    again = finish(service, second_zip, "visitor-2")  # found again from scratch, not from a stale store
    assert not again.result.reused and again.progress.scanned == 2


def test_a_store_a_run_is_writing_is_never_removed(make_service, uploads_dir):
    service = make_service(workers=1, idle_timeout_s=600)
    done = finish(service, pictures_zip(2, seed=330), "visitor-1").result.store
    data = pictures_zip(160, seed=340)  # ten batches of 16 on a CPU
    job = service.submit_examples(upload(data), data, "visitor-2")
    wait_for(lambda: job.progress is not None and job.active, timeout_s=120, what="the zip's first batch")
    writing = job.progress.path
    os.utime(writing, (0, 0))  # the oldest of all, so only its writer lock keeps it
    assert prune_uploads(keep=0) == [done]
    assert writing.is_dir() and not done.exists()
    job.cancel("done")
    wait_for(lambda: not job.active, timeout_s=120, what="the zip's job to stop")
    assert prune_uploads(keep=0) == [writing]  # once its run let go, it may go too


KILLED = """
import os, signal, sys
from featviz_core.examples.upload import unpack_upload
folder, _ = unpack_upload(open(sys.argv[1], "rb").read())
print(folder, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_new_service_removes_the_temporary_folders_a_killed_process_left(make_service, tmp_path):
    zip_path = tmp_path / "pictures.zip"
    zip_path.write_bytes(pictures_zip(2, seed=350))
    folders = []
    for _ in range(2):  # a process that unpacked a zip and was killed before its job ended
        run = subprocess.run([sys.executable, "-c", KILLED, str(zip_path)], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[2], timeout=120)
        assert run.returncode == -9, run.stderr
        folders.append(Path(run.stdout.strip()))
    old, young = folders
    assert old.is_dir() and young.is_dir()
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    first = make_service(workers=1, idle_timeout_s=600)  # this process's live job, queued behind a render
    blocker = busy_worker(first)
    data = pictures_zip(2, seed=360)
    live = first.submit_examples(upload(data), data, "visitor")
    os.utime(live.workdir, (an_hour_ago, an_hour_ago))
    make_service(workers=1)  # a service starting (after a restart, or beside the first)
    assert not old.exists()
    assert young.is_dir() and live.workdir.is_dir()  # younger than a minute; owned by a live job
    live.release("visitor")
    blocker.cancel("done")
    os.utime(young, (an_hour_ago, an_hour_ago))  # a minute later, the young one is a leftover too
    make_service(workers=1)
    assert not young.exists()
