"""The render service and atlases: a request an atlas holds is answered at once from its files; the
Gallery's background renders queue behind visitors' renders and never turn a visitor away."""

from __future__ import annotations

import pytest
from atlas_helpers import LAYER, images_of

from featviz_core.atlas.lookup import lookup, matching_result
from featviz_core.atlas.store import AtlasStore
from featviz_core.config import ServiceSettings
from featviz_core.errors import QueueFull
from featviz_core.service import DONE, QUEUED, RUNNING, RenderService
from featviz_core.service.render_cache import RenderCache


@pytest.fixture
def make_service(tmp_path, effnet):
    made = []

    def make(**changes) -> RenderService:
        lookup_hook = changes.pop("lookup", None)
        base = dict(workers=1, queue_length=4, deadline_s=120.0, cache_entries=10, cache_bytes=10 * 1024**2,
                    cache_path=tmp_path / "renders", idle_timeout_s=60.0)
        service = RenderService(ServiceSettings(**{**base, **changes}), device="cpu", cache=RenderCache(None),
                                model_loader=lambda _name, _device: effnet, lookup=lookup_hook)
        made.append(service)
        return service

    yield make
    for service in made:
        service.shutdown(timeout_s=30)


def test_a_request_the_atlas_holds_is_done_at_once_with_the_atlas_images(make_service, local_store, monkeypatch):
    monkeypatch.setenv("FEATVIZ_ATLAS_DIR", str(local_store.parent))  # a folder of stores
    store = AtlasStore.open(local_store)
    service = make_service(lookup=lookup)
    request = store.identity.request(LAYER, (3, 11, 5))
    job = service.submit(request, "visitor")
    assert job.state == DONE and service.stats()["submitted"] == 0  # nothing was queued or rendered
    result = job.result
    expected = images_of(local_store)
    assert all((result.images[i] == expected[c]).all() for i, c in enumerate((3, 11, 5)))
    assert [float(s) for s in result.scores] == [store.done(LAYER)[c] for c in (3, 11, 5)]
    assert result.labels == [f"{LAYER}:3", f"{LAYER}:11", f"{LAYER}:5"] and result.history.shape == (0, 3)
    assert result.extra["from_atlas"] == str(local_store)


def test_requests_the_atlas_does_not_hold_exactly_are_rendered(local_store, monkeypatch):
    monkeypatch.setenv("FEATVIZ_ATLAS_DIR", str(local_store))  # the store itself
    request = AtlasStore.open(local_store).identity.request(LAYER, (0, 1))
    assert matching_result(request) is not None
    for other in (request.replace(seed=1), request.replace(negate=True), request.replace(objective="neuron"),
                  request.replace(steps=9), request.replace(layer="_blocks.1")):
        assert matching_result(other) is None, other
    monkeypatch.setenv("FEATVIZ_ATLAS_DIR", str(local_store / "nowhere"))
    assert matching_result(request) is None


def test_background_renders_wait_behind_visitors_and_do_not_fill_their_queue(make_service):
    from featviz_core.request import RenderRequest

    def tiny(seed: int, steps: int = 8) -> RenderRequest:
        return RenderRequest(model="efficientnet-lite0", layer="_blocks.1", channels=(0,), steps=steps, size=32,
                             upsample=False, seed=seed)

    service = make_service(queue_length=1)
    running = service.submit(tiny(1, steps=4000), "a", snapshot_every=1)
    try:
        import time

        deadline = time.monotonic() + 60
        while running.state != RUNNING:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        background = service.submit(tiny(2), "gallery", priority=-1)
        visitor = service.submit(tiny(3), "b")  # the one waiting place is still free for a visitor
        assert (background.state, visitor.state) == (QUEUED, QUEUED)
        assert (visitor.position(), background.position()) == (0, 1)
        with pytest.raises(QueueFull):
            service.submit(tiny(4), "c")
        # A visitor asking for the background's request lifts it to the visitors' priority.
        shared = service.submit(tiny(2), "d")
        assert shared is background and background.priority == 0 and background.position() == 1
    finally:
        for job in list(service._jobs.values()):
            job.cancel("test finished")
