"""The shared render service under a crowd and under faults: limits, queue, cancel, deadline, OOM, NaN."""

from __future__ import annotations

import copy
import json
import threading

import numpy as np
import pytest
import torch

from featviz_core.errors import NonFiniteError, QueueFull, RenderError
from featviz_core.render import render, render_iter
from featviz_core.service import CANCELLED, DONE, FAILED, QUEUED, RUNNING

from service_helpers import tiny, wait_for

LONG = dict(steps=4000, snapshot_every=1)


def long_request(seed: int = 0, channels=(0,)):
    return tiny(seed=seed, channels=channels, steps=LONG["steps"])


def finished(job):
    return lambda: not job.active


class Toucher:
    """A client that keeps polling its jobs (an open browser tab)."""

    def __init__(self, *jobs_and_clients):
        self.pairs = list(jobs_and_clients)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.wait(0.05):
            for job, client in self.pairs:
                job.touch(client)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)


# ----- limits and queue -------------------------------------------------------------------------------------
def test_one_worker_runs_one_render_at_a_time_and_queues_the_rest_in_order(make_service):
    service = make_service(workers=1, queue_length=3)
    jobs = [service.submit(tiny(seed=s), f"client-{s}", snapshot_every=4) for s in range(4)]
    with Toucher(*[(job, f"client-{i}") for i, job in enumerate(jobs)]):
        positions = [job.position() for job in jobs]
        assert positions[0] == 0
        # While the first runs (or is about to), the others wait in submission order.
        assert positions[1:] == sorted(positions[1:])
        for job in jobs:
            wait_for(finished(job), what=f"{job.id} to finish")
    assert [job.state for job in jobs] == [DONE] * 4
    stats = service.stats()
    assert stats["peak_running"] == 1
    assert stats["completed"] == 4 and stats["running"] == 0 and stats["queued"] == 0


def test_full_queue_answers_busy_and_a_cancelled_job_leaves_the_queue(make_service):
    service = make_service(workers=1, queue_length=2)
    running = service.submit(long_request(seed=1), "a", snapshot_every=1)
    wait_for(lambda: running.state == RUNNING, what="the first render to start")
    second = service.submit(long_request(seed=2), "b")
    third = service.submit(long_request(seed=3), "c")
    assert (second.state, third.state) == (QUEUED, QUEUED)
    assert (second.position(), third.position()) == (0, 1)
    with pytest.raises(QueueFull, match="busy.*at most 2 may wait.*Try again"):
        service.submit(long_request(seed=4), "d")
    assert service.stats()["rejected"] == 1

    second.cancel("stopped by user")
    # It leaves the queue at once: the one behind moves up and there is room again.
    assert second.state == CANCELLED and second.result is None
    assert third.position() == 0
    fourth = service.submit(long_request(seed=4), "d")
    assert fourth.position() == 1
    for job in (running, third, fourth):
        job.cancel()
    for job in (running, third, fourth):
        wait_for(finished(job))


def test_no_waiting_room_still_runs_on_an_idle_worker(make_service):
    service = make_service(workers=1, queue_length=0)
    job = service.submit(tiny(seed=5), "a")
    with Toucher((job, "a")):
        wait_for(finished(job))
    assert job.state == DONE
    blocker = service.submit(long_request(seed=6), "b")
    wait_for(lambda: blocker.state == RUNNING)
    with pytest.raises(QueueFull):
        service.submit(tiny(seed=7), "c")
    blocker.cancel()
    wait_for(finished(blocker))


def test_same_request_from_two_clients_is_rendered_once_then_served_from_the_cache(make_service):
    service = make_service(workers=1)
    first = service.submit(tiny(seed=8), "a")
    second = service.submit(tiny(seed=8), "b")
    assert second is first
    with Toucher((first, "a")):
        wait_for(finished(first))
    again = service.submit(tiny(seed=8), "c")
    assert again.state == DONE and again.result is first.result  # from memory
    service.cache.clear_memory()
    from_disk = service.submit(tiny(seed=8), "d")
    assert from_disk.state == DONE and from_disk.result.extra == {"from_cache": True}
    np.testing.assert_array_equal(from_disk.result.images, first.result.images)
    stats = service.stats()
    assert (stats["submitted"], stats["shared"], stats["cache_hits"]) == (1, 1, 2)


# ----- cancel, closed tabs, deadline ------------------------------------------------------------------------
def test_cancel_mid_render_keeps_the_partial_result_and_does_not_cache_it(make_service):
    service = make_service(workers=1)
    job = service.submit(long_request(seed=9), "a", snapshot_every=1)
    with Toucher((job, "a")):
        wait_for(lambda: job.snapshot is not None and job.snapshot.step >= 2, what="two steps")
        job.cancel("stopped by user")
        wait_for(finished(job))
    assert job.state == DONE
    assert job.result.stopped == "stopped by user"
    assert 2 <= job.result.steps_done < LONG["steps"]
    assert (service.stats()["completed"], service.stats()["stopped"]) == (1, 1)
    assert job.result.images.shape == (1, 32, 32, 3)
    assert service.cache.get(job.request.key()) is None


def test_closed_tab_cancels_its_running_and_its_queued_render(make_service):
    # 5 s without a poll: the watched tab's Toucher (every 50 ms) would have to be starved for 100 polls on a
    # loaded machine to lose its render. The abandoned render is heavy enough (4 images of 128 px: minutes
    # here) to still be running when it is stopped, on a much faster CPU too.
    service = make_service(workers=1, queue_length=4, idle_timeout_s=5.0)
    running = service.submit(long_request(seed=10, channels=(0, 1, 2, 3)).replace(size=128), "tab-1",
                             snapshot_every=1)
    queued = service.submit(long_request(seed=11), "tab-2")
    watched = service.submit(tiny(seed=12), "tab-3")
    # Only tab 3 stays open; tabs 1 and 2 never poll again.
    with Toucher((watched, "tab-3")):
        wait_for(finished(running), timeout_s=30, what="the abandoned render to stop")
        wait_for(finished(queued), timeout_s=30, what="the abandoned queued render to leave")
        wait_for(finished(watched), timeout_s=60, what="the watched render")
    assert running.state == DONE and "nobody is watching" in running.result.stopped
    assert 1 <= running.result.steps_done < LONG["steps"]
    assert queued.state == CANCELLED and queued.result is None and "nobody is watching" in queued.error
    assert watched.state == DONE and watched.result.stopped == ""
    assert service.stats()["queued"] == 0


def test_release_by_the_last_client_stops_the_render(make_service):
    service = make_service(workers=1)
    job = service.submit(long_request(seed=13), "a", snapshot_every=1)
    service.submit(long_request(seed=13), "b")  # a second tab on the same settings shares the job
    with Toucher((job, "a"), (job, "b")):
        wait_for(lambda: job.state == RUNNING)
        job.release("a")
        assert job.stop_reason == ""  # b still watches
        job.release("b", "the tab was closed")
        wait_for(finished(job))
    assert job.result.stopped == "the tab was closed"


def test_deadline_stops_a_render_and_keeps_its_partial_result(make_service):
    service = make_service(workers=1, deadline_s=0.5)
    job = service.submit(long_request(seed=14), "a", snapshot_every=1)
    with Toucher((job, "a")):
        wait_for(finished(job), timeout_s=60)
    assert job.state == DONE
    assert job.result.stopped == "stopped at the 0.5 s deadline"
    assert 1 <= job.result.steps_done < LONG["steps"]
    assert job.finished - job.started < 20
    assert service.cache.get(job.request.key()) is None


def test_deadline_is_read_from_the_environment(monkeypatch, tmp_path):
    from featviz_core.config import ServiceSettings

    monkeypatch.setenv("FEATVIZ_DEADLINE_S", "1.5")
    assert ServiceSettings.from_env().deadline_s == 1.5
    for bad in ("0", "-3", "soon"):
        monkeypatch.setenv("FEATVIZ_DEADLINE_S", bad)
        with pytest.raises(ValueError, match="FEATVIZ_DEADLINE_S"):
            ServiceSettings.from_env()


# ----- shutdown --------------------------------------------------------------------------------------------
def test_shutdown_stops_the_running_render_keeping_its_partial_result_and_cancels_the_queue(make_service):
    service = make_service(workers=1, queue_length=4)
    running = service.submit(long_request(seed=24), "a", snapshot_every=1)
    queued = [service.submit(long_request(seed=25 + i), f"client-{i}") for i in range(2)]
    with Toucher((running, "a"), *[(job, f"client-{i}") for i, job in enumerate(queued)]):
        wait_for(lambda: running.snapshot is not None and running.snapshot.step >= 2, what="two steps")
        at_shutdown = running.snapshot.step
        service.shutdown(timeout_s=60)
    assert all(not thread.is_alive() for thread in service._threads)
    # The running render stopped within a step or two (the worker polls every step) and kept its images.
    assert running.state == DONE and running.result.stopped == "server shutting down"
    assert at_shutdown <= running.result.steps_done <= at_shutdown + 2 < LONG["steps"]
    assert running.result.images.shape == (1, 32, 32, 3)
    assert service.cache.get(running.request.key()) is None  # a partial result is never cached
    # The queued ones never ran.
    for job in queued:
        assert (job.state, job.error, job.result, job.started) == (CANCELLED, "server shutting down", None, None)
    stats = service.stats()
    assert (stats["stopped"], stats["cancelled"], stats["running"], stats["queued"]) == (1, 2, 0, 0)
    assert stats["workers_alive"] == 0


def test_submit_after_shutdown_is_refused_as_a_restart(make_service):
    service = make_service(workers=1)
    service.shutdown(timeout_s=30)
    rejected = service.stats()["rejected"]
    with pytest.raises(QueueFull) as refused:
        service.submit(tiny(seed=27), "a")
    assert str(refused.value) == "featviz is restarting; try again in a moment."
    assert service.stats()["rejected"] == rejected + 1 and service.stats()["submitted"] == 0


# ----- renders of different sessions never interfere -----------------------------------------------------
def test_concurrent_renders_equal_solo_renders(make_service, effnet):
    service = make_service(workers=2, queue_length=4)
    # 48 steps: long enough that the two workers surely overlap.
    requests = [tiny(seed=15, channels=(0, 1), steps=48), tiny(seed=16, channels=(2, 3, 4), steps=48),
                tiny(seed=15, channels=(1,), steps=48)]
    jobs = [service.submit(r, f"tab-{i}", snapshot_every=2) for i, r in enumerate(requests)]
    with Toucher(*[(job, f"tab-{i}") for i, job in enumerate(jobs)]):
        for job in jobs:
            wait_for(finished(job))
    assert service.stats()["peak_running"] == 2
    # The promise: the same request gives identical pixels on this machine whatever else is rendering
    # (the service never mixes requests in a batch and splits each one as render() does).
    for request, job in zip(requests, jobs):
        assert job.state == DONE
        solo = render(request, model=effnet, device="cpu")
        np.testing.assert_array_equal(job.result.images, solo.images)
    # Channel 1 with seed 15 beside channel 0 (a batch of 2) and alone (a batch of 1): the same start and
    # transforms, so the first step's objective agrees within float rounding. The pixels are not compared
    # bit for bit: kernels picked by batch shape may round differently (they do on AVX-512 Intel CPUs).
    np.testing.assert_allclose(jobs[2].result.history[0, 0], jobs[0].result.history[0, 1], rtol=1e-4, atol=1e-5)


# ----- out of memory ---------------------------------------------------------------------------------------
OOM_TEXT = "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total capacity)"


def faulty_copy(effnet, fault):
    """A private copy of the model whose forward first calls ``fault(batch_size)`` and lets it raise or
    replace the input. The fault lives in the class, so copies the renderer makes (its faster variant)
    carry it too; the shared model is never touched."""
    model = copy.deepcopy(effnet)
    base = type(model)
    calls: list[int] = []

    def forward(self, x, *args, **kwargs):
        calls.append(x.shape[0])
        x = fault(x)
        return base.forward(self, x, *args, **kwargs)

    model.__class__ = type(f"Faulty{base.__name__}", (base,), {"forward": forward})
    return model, calls


def oom_above(max_batch):
    """A fault raising CUDA's out-of-memory text for batches of more than ``max_batch`` images."""
    def fault(x):
        if x.shape[0] > max_batch:
            raise RuntimeError(OOM_TEXT)
        return x
    return fault


IMPOSSIBLE_BYTES = 2**50  # 1 PiB: more than any machine's memory and beyond a 47-bit address space


def cpu_oom_above(max_batch):
    """A fault in which torch itself fails to allocate for batches of more than ``max_batch`` images: the CPU
    allocator raises its real error ("DefaultCPUAllocator: can't allocate memory: ..."), no text of ours."""
    def fault(x):
        if x.shape[0] > max_batch:
            torch.empty(IMPOSSIBLE_BYTES, dtype=torch.uint8)
        return x
    return fault


OOM_FAULTS = pytest.mark.parametrize("fault_above", [oom_above, cpu_oom_above],
                                     ids=["cuda-text", "real-cpu-allocator"])


def test_a_real_cpu_allocation_failure_counts_as_out_of_memory():
    from featviz_core.render.scoring import is_out_of_memory

    with pytest.raises(RuntimeError) as caught:
        torch.empty(IMPOSSIBLE_BYTES, dtype=torch.uint8)
    assert type(caught.value) is RuntimeError  # not torch.OutOfMemoryError: only its text says what happened
    assert is_out_of_memory(caught.value), str(caught.value)
    # The same allocator's wording on other platforms (Windows: "not enough memory"), and the CUDA one.
    assert is_out_of_memory(RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you tried to allocate "
        "1125899906842624 bytes."))
    assert is_out_of_memory(RuntimeError(OOM_TEXT))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"))


@OOM_FAULTS
def test_out_of_memory_retries_with_smaller_chunks_and_matches_a_one_image_render(effnet, fault_above):
    model, calls = faulty_copy(effnet, fault_above(1))
    request = tiny(seed=17, channels=(0, 1, 2, 3))
    result = render(request, model=model, device="cpu", batch_size=4)
    tried = [b for i, b in enumerate(calls) if i == 0 or b != calls[i - 1]]
    assert tried[-3:] == [4, 2, 1]  # chunks of 4 failed, then 2, then 1 image ran
    # The fault also hits the fast variant's check (a batch of 2), so the note says why the plain model ran.
    eager, _, memory = result.note.partition("); ")
    assert eager.startswith("plain eager: the fast variant could not be checked (")
    assert "out of memory" in eager or "can't allocate memory" in eager
    assert memory == "memory was short; continued with 1 image(s) per batch"
    assert result.images.shape == (4, 32, 32, 3) and result.steps_done == request.steps
    reference = render(request, model=model, device="cpu", batch_size=1)
    np.testing.assert_array_equal(result.images, reference.images)


@OOM_FAULTS
def test_out_of_memory_even_for_one_image_fails_clearly_and_the_worker_survives(make_service, effnet, fault_above):
    model, _ = faulty_copy(effnet, fault_above(0))
    service = make_service(workers=1, model=model, batch_size=2)
    job = service.submit(tiny(seed=18, channels=(0, 1)), "a")
    with Toucher((job, "a")):
        wait_for(finished(job))
    assert job.state == FAILED
    assert job.error.startswith("out of CPU memory even with one image per batch; try a smaller image size")
    assert "Traceback" not in job.error
    # The same worker takes the next render (the model recovered).
    service.model_loader = lambda _name, _device: effnet
    after = service.submit(tiny(seed=19), "b")
    with Toucher((after, "b")):
        wait_for(finished(after))
    assert after.state == DONE
    stats = service.stats()
    assert stats["failed"] == 1 and stats["completed"] == 1 and stats["workers_alive"] == 1


def test_a_real_error_that_is_not_out_of_memory_is_not_retried(effnet):
    def broken(x):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    model, calls = faulty_copy(effnet, broken)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        render(tiny(seed=20, channels=(0, 1)), model=model, device="cpu", batch_size=2)
    assert calls and 1 not in calls  # never retried with a smaller chunk


def test_the_faster_variant_never_inherits_hooks_of_the_shared_model(effnet):
    """Another render thread may have capture hooks on the shared model while the variant is copied."""
    from featviz_core.models.fast import render_variant

    model = copy.deepcopy(effnet)
    fired = []
    handle = model._blocks[1].register_forward_hook(lambda *_: fired.append(1))
    try:
        variant = render_variant(model)
    finally:
        handle.remove()
    fired.clear()
    assert variant.model is not model
    with torch.no_grad():
        variant.model(torch.zeros(1, 3, 64, 64))
    assert fired == []
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in variant.model.modules())


@OOM_FAULTS
def test_out_of_memory_while_building_the_variant_renders_with_the_original(effnet, fault_above):
    from featviz_core.models.fast import _variants, model_for_render

    model, calls = faulty_copy(effnet, fault_above(1))  # the variant's check runs a batch of 2
    assert model_for_render(model, ("_blocks.1",)) is model
    assert model not in _variants  # not remembered: the next render tries again
    result = render(tiny(seed=23, channels=(0, 1)), model=model, device="cpu", batch_size=2)
    assert result.note.endswith("1 image(s) per batch") and result.images.shape == (2, 32, 32, 3)


# ----- non-finite values ------------------------------------------------------------------------------------
def test_nan_activations_stop_the_render_with_the_likely_cause(make_service, effnet):
    model, _ = faulty_copy(effnet, lambda x: x * float("nan"))
    with pytest.raises(NonFiniteError, match=r"non-finite values by step 1; the learning rate \(0.05\)"):
        for _ in render_iter(tiny(seed=21), model=model, device="cpu", snapshot_every=1):
            pass
    service = make_service(workers=1, model=model)
    job = service.submit(tiny(seed=21), "a", snapshot_every=4)
    with Toucher((job, "a")):
        wait_for(finished(job))
    assert job.state == FAILED
    assert "non-finite values by step 4" in job.error and "model's weights are broken" in job.error
    assert service.cache.get(job.request.key()) is None
    assert isinstance(NonFiniteError("x"), RenderError)
    assert service.stats()["workers_alive"] == 1


def test_infinite_activations_are_caught_too(effnet):
    model, _ = faulty_copy(effnet, lambda x: x * float("inf"))
    with pytest.raises(NonFiniteError, match="non-finite values"):
        render(tiny(seed=22, lr=10.0), model=model, device="cpu", snapshot_every=1)


# ----- stats file ------------------------------------------------------------------------------------------
def test_stats_file_follows_the_service(make_service, tmp_path):
    path = tmp_path / "stats" / "service.json"
    service = make_service(workers=1, queue_length=0, stats_file=path)
    assert json.loads(path.read_text())["completed"] == 0
    job = service.submit(tiny(seed=23), "a")
    with Toucher((job, "a")):
        wait_for(finished(job))
    wait_for(lambda: json.loads(path.read_text())["completed"] == 1, timeout_s=5, what="the stats file")
    data = json.loads(path.read_text())
    assert data["peak_running"] == 1 and data["running"] == 0 and data["workers_alive"] == 1
    assert not [p for p in path.parent.iterdir() if p.name != path.name]  # no temporary files left


def test_stats_file_can_come_from_the_environment(monkeypatch, make_service, tmp_path):
    path = tmp_path / "from-env.json"
    monkeypatch.setenv("FEATVIZ_STATS_FILE", str(path))
    service = make_service(workers=1)
    assert service.stats_file == path and json.loads(path.read_text())["workers"] == 1


# ----- the job registry -----------------------------------------------------------------------------------
def test_finished_jobs_stay_long_enough_to_be_collected_and_the_registry_stays_bounded(make_service):
    service = make_service(workers=1)
    first = service.submit(tiny(seed=30), "a")
    wait_for(finished(first))
    # 400 cache hits (a crowd reloading the same link) in a moment: the first job is still there to poll.
    hits = [service.submit(tiny(seed=30), f"tab-{i}") for i in range(400)]
    assert all(job.state == DONE for job in hits)
    assert service.get(first.id) is first and len(service._jobs) == 401
    # Long-finished jobs beyond the newest 64 are forgotten.
    for job in list(service._jobs.values())[:-64]:
        job.finished -= 121.0
    service.submit(tiny(seed=30), "late")
    assert service.get(first.id) is None and len(service._jobs) == 65
    # However fast they come, at most 512 finished jobs are kept.
    for i in range(700):
        service.submit(tiny(seed=30), f"burst-{i}")
    assert len(service._jobs) <= 513
