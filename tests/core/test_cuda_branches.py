"""The choices featviz makes for a CUDA machine, checked on any machine: device names, the service's default
workers, the render's batch size and out-of-memory handling, and the atlas engines' GPU plans.

These branches only pick numbers or build ``torch.device`` objects, so they run without a GPU when
``torch.cuda.is_available`` is made to answer as a GPU machine would. What needs a real GPU is not here:
rendering on CUDA (``tests/service/test_bad_input.py::test_cli_renders_on_cuda_on_gpu``, skipped without
one), a real ``torch.OutOfMemoryError`` from the CUDA allocator, ``torch.cuda.empty_cache`` returning
memory, and Ray actors rendering on GPUs.
"""

from __future__ import annotations

import pytest
import torch

from featviz_core.device import resolve_device
from featviz_core.errors import RenderError, RequestError
from featviz_core.render.scoring import check_retry, default_batch_size, halved, is_out_of_memory


@pytest.fixture
def cuda_present(monkeypatch):
    """A machine with two CUDA devices, cuda:0 and cuda:1."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


# ----- device names ----------------------------------------------------------------------------------------
def test_auto_resolves_to_the_cpu_without_cuda(no_cuda, monkeypatch):
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.delenv("FEATVIZ_DEVICE", raising=False)
    assert resolve_device(None) == torch.device("cpu")
    monkeypatch.setenv("FEATVIZ_DEVICE", " Auto ")
    assert resolve_device(None) == torch.device("cpu")


def test_auto_resolves_to_cuda_when_cuda_is_present(cuda_present, monkeypatch):
    assert resolve_device("auto") == torch.device("cuda")
    monkeypatch.delenv("FEATVIZ_DEVICE", raising=False)
    assert resolve_device(None) == torch.device("cuda")
    assert resolve_device("CUDA:1") == torch.device("cuda", 1)
    assert resolve_device("cpu") == torch.device("cpu")  # the CPU can still be asked for


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3", " CUDA:1 "])
def test_cuda_is_refused_with_a_clear_message_without_cuda(no_cuda, name):
    expected = f"device '{name.strip().lower()}' was asked for, but this machine has no CUDA GPU; use cpu or auto"
    with pytest.raises(RequestError) as refused:
        resolve_device(name)
    assert str(refused.value) == expected


@pytest.mark.parametrize("count, name", [(2, "cuda:2"), (2, " CUDA:7 "), (1, "cuda:1")])
def test_a_cuda_index_past_the_machines_devices_is_refused_at_once(cuda_present, monkeypatch, count, name):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    which = "1 CUDA device (cuda:0)" if count == 1 else f"{count} CUDA devices (cuda:0 .. cuda:{count - 1})"
    with pytest.raises(RequestError) as refused:
        resolve_device(name)
    assert str(refused.value) == (f"device '{name.strip().lower()}' does not exist: this machine has {which}; "
                                  "use one of them, cuda or auto")
    assert resolve_device(f"cuda:{count - 1}") == torch.device("cuda", count - 1)  # the last one is fine
    assert resolve_device("cuda") == torch.device("cuda")


@pytest.mark.parametrize("name, message", [("cuda:x", "unknown device 'cuda:x'"), ("cuda:-1", "unknown device"),
                                           ("mps", "device 'mps' is not supported")])
def test_other_devices_are_refused_on_any_machine(cuda_present, name, message):
    with pytest.raises(RequestError, match=message):
        resolve_device(name)


# ----- the service's default workers ------------------------------------------------------------------------
def test_the_service_runs_two_workers_by_default_on_cuda_and_one_on_a_cpu(monkeypatch):
    from featviz_core.config import ServiceSettings

    monkeypatch.delenv("FEATVIZ_WORKERS", raising=False)
    monkeypatch.delenv("FEATVIZ_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert ServiceSettings.from_env().workers == 2
    monkeypatch.setenv("FEATVIZ_DEVICE", "cpu")  # a GPU machine told to render on its CPU
    assert ServiceSettings.from_env().workers == 1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("FEATVIZ_DEVICE")
    assert ServiceSettings.from_env().workers == 1
    monkeypatch.setenv("FEATVIZ_WORKERS", "3")
    assert ServiceSettings.from_env().workers == 3


# ----- batch sizes and out of memory on CUDA ---------------------------------------------------------------
def test_renders_on_cuda_batch_many_images_per_pass():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert default_batch_size(cuda) > default_batch_size(cpu) >= 1


def test_halving_on_cuda_empties_the_cache_and_on_a_cpu_does_not(monkeypatch):
    emptied: list[int] = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(1))
    assert halved(64, torch.device("cpu")) == 32 and emptied == []
    assert halved(64, torch.device("cuda")) == 32 and emptied == [1]
    assert halved(1, torch.device("cuda", 1)) == 1 and emptied == [1, 1]


def test_cuda_out_of_memory_is_retried_then_reported_as_cuda_memory():
    oom = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert is_out_of_memory(oom)
    check_retry(oom, 4, torch.device("cuda"), "even with one image per batch")  # returns: retry smaller
    with pytest.raises(RenderError, match="^out of CUDA memory even with one image per batch$"):
        check_retry(oom, 1, torch.device("cuda"), "even with one image per batch")
    other = RuntimeError("CUDA error: device-side assert triggered")
    with pytest.raises(RuntimeError, match="device-side assert"):
        check_retry(other, 4, torch.device("cuda"), "even with one image per batch")


# ----- the atlas on GPUs -------------------------------------------------------------------------------------
class FakeRay:
    """Just enough of the ``ray`` module for RayEngine.start: an initialized cluster with these resources."""

    def __init__(self, **resources: float) -> None:
        self.resources = resources

    def is_initialized(self) -> bool:
        return True

    def cluster_resources(self) -> dict[str, float]:
        return dict(self.resources)


@pytest.mark.parametrize("gpus, per_worker, actors, described", [(2.0, 1.0, 2, "2 actors of 1 GPU each"),
                                                                 (2.0, 0.5, 4, "4 actors of 0.5 GPU each")])
def test_a_ray_cluster_with_gpus_gets_gpu_actors_and_gpu_sized_batches(monkeypatch, gpus, per_worker, actors,
                                                                       described):
    from featviz_core.atlas import ray_engine
    from featviz_core.atlas.runner import CPU_BATCH, GPU_BATCH, _plan

    monkeypatch.setattr(ray_engine, "_import_ray", lambda: FakeRay(GPU=gpus, CPU=16.0))
    engine = ray_engine.RayEngine(gpus_per_worker=per_worker)
    engine.start()
    assert (engine.device_type, engine.in_flight) == ("cuda", actors)
    assert engine.describe() == f"Ray on a local cluster: {described}"
    plan = _plan(None, engine, None, None)
    assert plan.batch == GPU_BATCH > CPU_BATCH
    assert plan.images_per_pass == min(GPU_BATCH, default_batch_size(torch.device("cuda")))


def test_a_ray_cluster_without_gpus_gets_cpu_actors(monkeypatch):
    from featviz_core.atlas import ray_engine
    from featviz_core.atlas.runner import CPU_BATCH, _plan

    monkeypatch.setattr(ray_engine, "_import_ray", lambda: FakeRay(CPU=6.0))
    engine = ray_engine.RayEngine(cpus_per_worker=2)
    engine.start()
    assert (engine.device_type, engine.in_flight) == ("cpu", 3)
    assert engine.describe() == "Ray on a local cluster: 3 actors of 2 CPU cores each"
    plan = _plan(None, engine, None, None)
    assert (plan.batch, plan.images_per_pass) == (CPU_BATCH, default_batch_size(torch.device("cpu")))
