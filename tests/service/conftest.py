"""Fixtures for the shared-use tests: services that are always shut down."""

from __future__ import annotations

import pytest
from service_helpers import settings

from featviz_core.service import RenderService
from featviz_core.service.render_cache import RenderCache


@pytest.fixture
def make_service(tmp_path, effnet):
    """``make_service(**settings_changes, model=..., **service_kwargs)`` -> a RenderService shut down after
    the test. The default model is the shared EfficientNet-Lite0 with real weights."""
    made: list[RenderService] = []

    def make(*, model=None, cache: RenderCache | None = None, **changes) -> RenderService:
        service_keys = {"batch_size", "stats_file", "idle_timeout_s"}
        service_kwargs = {k: changes.pop(k) for k in list(changes) if k in service_keys}
        chosen = model if model is not None else effnet
        service = RenderService(settings(tmp_path, **changes), device="cpu", cache=cache,
                                model_loader=lambda _name, _device: chosen, **service_kwargs)
        made.append(service)
        return service

    yield make
    for service in made:
        service.shutdown(timeout_s=30)
        assert all(not t.is_alive() for t in service._threads), "a worker thread outlived shutdown"
