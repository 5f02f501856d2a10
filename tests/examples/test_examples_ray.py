"""The Ray engine on a real local cluster (2 CPUs, 2 actors) writes the same store as one process."""

from __future__ import annotations

import pytest
from examples_helpers import BATCH, TOP, store_files
from examples_sample import LAYER, MODEL

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_two_ray_actors_write_the_same_store_as_one_process(ray_cluster, local_examples, known_images, tmp_path):
    from featviz_core.examples.ray_engine import RayEngine
    from featviz_core.examples.runner import examples_iter

    engine = RayEngine(workers=2, cpus_per_worker=1)
    reports = list(examples_iter(tmp_path / "ray", MODEL, LAYER, known_images, top=TOP, batch=BATCH,
                                 engine=engine))
    assert reports[-1].finished and reports[-1].engine == "Ray on a local cluster: 2 actors of 1 CPU core each"
    assert {info["pid"] for info in engine.worker_info} and len({i["pid"] for i in engine.worker_info}) == 2
    assert [r.done for r in reports[:-1]] == [2, 4, 6, 8, 10]
    ray_files, local_files = store_files(tmp_path / "ray"), store_files(local_examples)
    assert ray_files.keys() == local_files.keys() and "examples.json" in ray_files
    assert ray_files == local_files  # examples.json, every crop, view and map, bit for bit
