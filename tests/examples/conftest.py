"""Examples fixtures: the known folder (renders of four channels of ``_blocks.4`` among noise and grey
pictures), made once per session, and its examples found by one process with one torch thread."""

from __future__ import annotations

from pathlib import Path

import pytest
from examples_helpers import BATCH, TOP
from examples_sample import LAYER, MODEL, known_folder


@pytest.fixture(scope="session")
def known_images(tmp_path_factory, effnet) -> Path:
    return known_folder(tmp_path_factory.mktemp("known") / "images", model=effnet)


@pytest.fixture(scope="session")
def local_examples(tmp_path_factory, known_images) -> Path:
    """The known folder's examples (top 3, batches of 2 images, one thread): the reference store."""
    from featviz_core.examples.runner import build_examples
    from featviz_core.examples.scan import LocalEngine

    out = tmp_path_factory.mktemp("examples") / "local"
    last = build_examples(out, MODEL, LAYER, known_images, top=TOP, batch=BATCH, engine=LocalEngine(threads=1))
    assert last.finished and last.done == last.total == 10
    return out
