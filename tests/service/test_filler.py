"""The atlas filler: it fills an atlas store with the service's idle time, gives way to a visitor within one
optimization step, renders nothing with the setting off, and stops with the service."""

from __future__ import annotations

import numpy as np
import pytest
from service_helpers import tiny, wait_for

from featviz_core.atlas.lookup import find_stores, matching_result
from featviz_core.atlas.store import read_entry
from featviz_core.service.filler import CLIENT, FILL_PRIORITY, AtlasFiller
from featviz_core.service.job import DONE, RUNNING
from featviz_core.service.render_service import PREEMPTED

STEM = "_conv_stem"  # 32 channels
QUICK = dict(steps=4, size=32, upsample=False)  # a batch of 8 channels renders in well under a second


@pytest.fixture
def atlas_root(tmp_path, monkeypatch):
    root = tmp_path / "atlas"
    monkeypatch.setenv("FEATVIZ_ATLAS_DIR", str(root))  # the folder the app (and its lookup) reads
    return root


def filler_jobs(service):
    return [job for job in service._jobs.values() if CLIENT in job.clients or job.priority == FILL_PRIORITY]


def test_the_filler_fills_an_atlas_store_the_app_reads(make_service, atlas_root):
    service = make_service()
    filler = AtlasFiller(service, auto=True, settings=QUICK, layers=(STEM,), batch=8, poll_s=0.05)
    service.filler = filler
    filler.start()
    store = wait_for(lambda: next((s for s in find_stores() if s.count()[0] == 32), None), timeout_s=180,
                     what="the filler to render all 32 channels of _conv_stem")
    assert store.path.parent == atlas_root and store.model == "efficientnet-lite0"
    assert dict(store.identity.settings)["steps"] == 4 and dict(store.identity.settings)["size"] == 32
    assert list(store.activations) == [STEM] and store.plan.batch == 8
    assert store.missing(STEM) == []
    pixels, record = read_entry(store.image_path(STEM, 5))
    assert pixels.shape == (32, 32, 3) and record == {"key": store.identity.key, "layer": STEM, "channel": 5,
                                                      "activation": store.done(STEM)[5]}
    # Four jobs of 8 channels, each at the filler's priority, preemptible; then the filler idles.
    jobs = filler_jobs(service)
    assert sorted(job.request.channels for job in jobs) == [tuple(range(k, k + 8)) for k in (0, 8, 16, 24)]
    assert all(job.priority == FILL_PRIORITY and job.preemptible and job.state == DONE for job in jobs)
    # A visitor's request with the atlas's settings is answered from it (the Explorer's lookup).
    request = store.identity.request(STEM, (3, 4))
    found = matching_result(request)
    assert found is not None and np.array_equal(found.images[0], read_entry(store.image_path(STEM, 3))[0])
    # A finished atlas submits nothing more.
    rounds = filler.rounds
    wait_for(lambda: filler.rounds >= rounds + 3, what="three more filler rounds")
    assert len(filler_jobs(service)) == 4


def test_a_visitor_preempts_the_background_render_within_one_step(make_service, atlas_root):
    service = make_service()
    # A long background render (400 steps) with a snapshot every step, so the steps it does are counted.
    filler = AtlasFiller(service, auto=True, settings=dict(steps=400, size=64, upsample=False), layers=(STEM,),
                         batch=8, snapshot_every=1, poll_s=0.05)
    service.filler = filler
    filler.start()
    background = wait_for(lambda: next((j for j in filler_jobs(service) if j.state == RUNNING and j.snapshot
                                        and j.snapshot.step >= 3), None), timeout_s=120,
                          what="the background render to be a few steps in")
    asked_at: list[int] = []  # the background's last finished step when the visitor's submit asks it to stop
    preempt = service._preempt_locked

    def recording(priority: int) -> None:
        asked_at.append(background.snapshot.step)
        preempt(priority)

    service._preempt_locked = recording
    visitor = service.submit(tiny(), "visitor")
    wait_for(lambda: visitor.started is not None, timeout_s=60, what="the visitor's render to start")
    wait_for(lambda: not background.active, what="the background job to end")
    stopped_at = background.result.steps_done
    # Asked to stop during step asked_at + 1, the render finishes that step and stops at its check. The
    # published snapshot can lag one step (step k's stop check passes, then the request comes before the
    # worker stores snapshot k), so the bound read this way is asked_at + 2; usually it is asked_at + 1.
    assert asked_at and stopped_at <= asked_at[0] + 2, (asked_at, stopped_at)
    assert background.state == DONE and background.error == PREEMPTED and background.result.stopped
    assert visitor.started >= background.finished  # the visitor's job ran on the freed worker, next
    step_s = background.result.elapsed_s / max(1, stopped_at)
    print(f"\nbackground step {step_s * 1000:.0f} ms; steps after the visitor's submit "
          f"{stopped_at - asked_at[0]}; submit -> visitor start {(visitor.started - visitor.created) * 1000:.0f} ms")
    # The partial result is neither in the render cache nor in the atlas.
    assert service.cache.get(background.request.key()) is None
    assert not any(s.count()[0] for s in find_stores())
    # While the visitor renders the filler waits; afterwards it submits that batch again.
    wait_for(lambda: visitor.state == DONE, timeout_s=120, what="the visitor's render to finish")
    again = wait_for(lambda: next((j for j in filler_jobs(service) if j is not background
                                   and j.request == background.request), None), what="the filler to resume")
    assert again.created >= visitor.finished and again.priority == FILL_PRIORITY


def test_with_the_setting_off_nothing_renders_in_the_background(make_service, atlas_root, monkeypatch):
    from featviz_core.config import ServiceSettings

    monkeypatch.setenv("FEATVIZ_ATLAS_FILL", "0")
    assert ServiceSettings.from_env().atlas_fill is False
    monkeypatch.setenv("FEATVIZ_ATLAS_FILL", "1")
    assert ServiceSettings.from_env().atlas_fill is True
    monkeypatch.delenv("FEATVIZ_ATLAS_FILL")
    assert ServiceSettings.from_env().atlas_fill is True  # on by default for a server; tests turn it off
    monkeypatch.setenv("FEATVIZ_ATLAS_FILL", "maybe")
    with pytest.raises(ValueError, match="FEATVIZ_ATLAS_FILL must be 1 or 0"):
        ServiceSettings.from_env()

    service = make_service()
    filler = AtlasFiller(service, auto=False, settings=QUICK, layers=(STEM,), batch=8, poll_s=0.05)
    service.filler = filler
    filler.start()
    wait_for(lambda: filler.rounds >= 5, what="five filler rounds")
    assert service.stats()["submitted"] == 0 and not filler_jobs(service) and not atlas_root.exists()
    # "Render this layer now" still renders that layer, and only that one.
    filler.fill_layer("efficientnet-lite0", "_blocks.0")  # 16 channels
    store = wait_for(lambda: next((s for s in find_stores() if s.count()[0] == 16), None), timeout_s=180,
                     what="the asked layer to be filled")
    assert len(store.done("_blocks.0")) == 16 and not store.done(STEM)
    rounds = filler.rounds
    wait_for(lambda: filler.rounds >= rounds + 3, what="three more filler rounds")
    assert len(filler_jobs(service)) == 2


def test_the_filler_stops_with_the_service(make_service, atlas_root):
    service = make_service()
    filler = AtlasFiller(service, auto=True, settings=dict(steps=400, size=64, upsample=False), layers=(STEM,),
                         batch=8, snapshot_every=1, poll_s=0.05)
    service.filler = filler
    filler.start()
    background = wait_for(lambda: next((j for j in filler_jobs(service) if j.state == RUNNING and j.snapshot),
                                       None), timeout_s=120, what="the background render to start")
    service.shutdown(timeout_s=30)
    assert not filler.alive and not background.active
    assert background.result is None or background.result.stopped  # stopped, not finished
    assert not any(s.count()[0] for s in find_stores())  # nothing half-made in the atlas
    assert not [j for j in filler_jobs(service) if j.active]
    rounds = filler.rounds
    filler.start()  # a stopped filler stays stopped
    assert not filler.alive and filler.rounds == rounds


R18 = "torchvision:resnet18?weights=random"


def test_the_filler_names_its_store_portably_and_resumes_one_named_the_old_way(make_service, tmp_path):
    """A model named with ``:`` and ``?`` fills ``atlas-torchvision_resnet18_weights_random-HASH-KEY-filled``;
    a store it filled before under the model's name as written is resumed, not started again beside it."""
    import re

    from featviz_core.atlas.runner import build_atlas
    from featviz_core.atlas.store import AtlasStore

    root = tmp_path / "atlas"
    root.mkdir()
    build_atlas(tmp_path / "made", R18, "layer1", {"steps": 1, "size": 32}, batch=2, max_batches=1)
    identity = AtlasStore.open(tmp_path / "made").identity
    filler = AtlasFiller(make_service(), auto=False, root=root)
    portable = filler.store_path(identity)
    assert portable == root / f"{identity.name}-filled" and re.fullmatch(r"atlas-[A-Za-z0-9._-]+", portable.name)
    assert portable.name.startswith("atlas-torchvision_resnet18_weights_random-")
    legacy = root / f"atlas-{R18}-{identity.key}-filled"
    (tmp_path / "made").rename(legacy)
    assert filler.store_path(identity) == legacy
    assert [store.path for store in find_stores([root])] == [legacy]
