"""The Ray engine on a real local cluster (2 CPUs, 2 actors): the same store as one process, and a worker
killed mid-run that is restarted and finishes its batch."""

from __future__ import annotations

import os
import signal

import pytest
from atlas_helpers import BATCH, CHANNELS, LAYER, MODEL, SETTINGS, images_of, png_files

from featviz_core.atlas.ray_engine import RayEngine
from featviz_core.atlas.runner import build_atlas
from featviz_core.atlas.store import AtlasStore, read_log

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    # No GPUs, even on a machine that has one: Ray would detect it, and the engine would then place each actor
    # on a whole GPU (two actors on one card wait for each other forever) and render on CUDA, not as the
    # one-process CPU store these tests compare with.
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    assert ray.cluster_resources().get("GPU", 0) == 0
    try:
        yield ray
    finally:
        ray.shutdown()


def worker_pids(path) -> list[int]:
    return [e["worker"]["pid"] for e in read_log(path) if e["event"] == "done"]


def test_two_ray_workers_write_the_same_store_as_one_process(ray_cluster, local_store, tmp_path):
    path = tmp_path / "ray"
    engine = RayEngine(workers=2, cpus_per_worker=1)
    summary = build_atlas(path, MODEL, LAYER, SETTINGS, engine=engine, batch=BATCH)
    assert (summary.done, summary.rendered) == (CHANNELS, CHANNELS)
    assert summary.engine == "Ray on a local cluster: 2 actors of 1 CPU core each"
    assert len(set(worker_pids(path))) == 2 and os.getpid() not in worker_pids(path)
    assert {e["worker"]["threads"] for e in read_log(path) if e["event"] == "done"} == {1}

    ray_store, one_process = AtlasStore.open(path), AtlasStore.open(local_store)
    assert ray_store.identity == one_process.identity and ray_store.plan == one_process.plan
    # Same batches, same images per pass, one thread per renderer on both sides: bit-identical results.
    assert ray_store.activations == one_process.activations
    ray_images, local_images = images_of(path), images_of(local_store)
    assert all((ray_images[c] == local_images[c]).all() for c in range(CHANNELS))
    assert png_files(path) == set(range(CHANNELS))


def test_a_killed_ray_worker_is_restarted_and_the_atlas_completes(ray_cluster, local_store, tmp_path):
    path = tmp_path / "ray-killed"
    killed: list[int] = []

    def kill_a_busy_worker(progress) -> None:
        # The actor that finished this batch was already handed the next one: kill it mid-batch.
        if not killed:
            pid = progress.output.worker["pid"]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    engine = RayEngine(workers=2, cpus_per_worker=1)
    summary = build_atlas(path, MODEL, LAYER, SETTINGS, engine=engine, batch=2, progress=kill_a_busy_worker)
    assert killed and (summary.done, summary.total) == (CHANNELS, CHANNELS)
    store = AtlasStore.open(path)
    assert store.missing(LAYER) == [] and png_files(path) == set(range(CHANNELS))
    # The two first actors and the killed one's restart (a new process) each wrote batches.
    pids = set(worker_pids(path))
    assert killed[0] in pids and len(pids) == 3, pids
    events = read_log(path)
    assert sorted(e["batch"] for e in events if e["event"] == "done") == \
        sorted(f"{LAYER}:{c}-{c + 1}" for c in range(0, CHANNELS, 2))  # every batch written exactly once
    images = images_of(path)
    assert len(images) == CHANNELS and all(image.shape == (32, 32, 3) for image in images.values())
