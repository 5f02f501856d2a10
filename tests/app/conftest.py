"""AppTest fixtures: app sessions on the real app.py, a render queue left idle after each test, and which
models have weights: by default only EfficientNet-Lite0 (whatever the machine holds: the cache folder is
the test run's own and FEATVIZ_INCEPTIONV1_WEIGHTS is removed); ``with_inception`` adds InceptionV1 with
a random-weights ``inception5h.pth`` made for the run; ``model`` runs a test once for each model."""

from __future__ import annotations

import time

import pytest
from app_helpers import APP, LAYER, RUN_TIMEOUT_S, service
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import app_test as app_test_module


class _NavigationPagesManager(PagesManager):
    """AppTest builds a fresh PagesManager for every run, and because the app keeps its page files in
    ``pages/`` it would start every run after the first in Streamlit's old multipage mode, where only the
    page file runs; the page then switches to ``st.navigation`` and reruns (featviz_ui.shell), which
    drops that run's widget events. A live server leaves the old mode for good on its first run; this
    does the same for every AppTest run."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


@pytest.fixture(autouse=True)
def _navigation_pages(monkeypatch):
    monkeypatch.setattr(app_test_module, "PagesManager", _NavigationPagesManager)


INCEPTION_VARIABLES = ("FEATVIZ_INCEPTIONV1_WEIGHTS", "FEATVIZ_INCEPTIONV1_URL", "FEATVIZ_INCEPTIONV1_SHA256")


def _forget_availability() -> None:
    from featviz_ui import model_choice

    model_choice.weights_arrived()  # the app checks every model's weights again


@pytest.fixture(autouse=True)
def _only_the_offline_model(monkeypatch):
    for name in INCEPTION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    _forget_availability()
    yield
    _forget_availability()


@pytest.fixture
def with_inception(monkeypatch, inception_weights_file):
    """InceptionV1 is available (random weights named by FEATVIZ_INCEPTIONV1_WEIGHTS)."""
    path = inception_weights_file()
    monkeypatch.setenv("FEATVIZ_INCEPTIONV1_WEIGHTS", str(path))
    _forget_availability()
    return path


@pytest.fixture(params=["efficientnet-lite0", "inceptionv1"])
def model(request):
    """Each model in turn, with its weights available (InceptionV1's are random)."""
    if request.param == "inceptionv1":
        request.getfixturevalue("with_inception")
    return request.param


@pytest.fixture
def new_app():
    """Factory of app sessions (one per simulated browser tab); their renders are cancelled afterwards."""
    sessions: list[AppTest] = []

    def make(query: dict[str, str] | None = None) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S)
        at.query_params.update(query or {})
        sessions.append(at)
        return at

    yield make
    for at in sessions:
        slots = at.session_state["featviz_slots"] if "featviz_slots" in at.session_state else {}
        for state in slots.values():
            job = service().get(state.job_id) if state.job_id else None
            if job is not None and job.active:
                job.cancel("test finished")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        stats = service().stats()
        if stats["running"] == 0 and stats["queued"] == 0:
            break
        time.sleep(0.2)


@pytest.fixture(scope="module")
def examples_root(tmp_path_factory):
    """A folder of stores with one small store of EfficientNet-Lite0 ``_blocks.10`` (five pictures, top 2)."""
    import numpy as np
    from PIL import Image

    from featviz_core.examples.runner import build_examples

    images = tmp_path_factory.mktemp("pictures")
    generator = np.random.default_rng(5)
    for i in range(5):
        Image.fromarray(generator.integers(0, 256, (60 + 10 * i, 80, 3), dtype=np.uint8)).save(images / f"p{i}.png")
    root = tmp_path_factory.mktemp("examples-root")
    last = build_examples(root / "pictures-store", "efficientnet-lite0", LAYER, images, top=2, batch=5)
    assert last.finished
    return root
