"""The learning-rate schedule (``lr_schedule``): its rates, that a render runs them, and what stays as before."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from featviz_core.atlas.identity import settings_of
from featviz_core.errors import RequestError
from featviz_core.method.schedule import TAIL_END, TAIL_START, learning_rate
from featviz_core.render import render_iter, set_up
from featviz_core.render.step import ModelRun, optimization_step
from featviz_core.models import get_spec
from featviz_core.request import RenderRequest

M = "efficientnet-lite0"


def test_tail_holds_the_rate_then_lowers_it_linearly_to_a_tenth():
    steps = 100
    rates = [learning_rate(0.1, "tail", step, steps) for step in range(1, steps + 1)]
    held = int(TAIL_START * steps)
    assert rates[:held] == [0.1] * held
    assert all(later < earlier for earlier, later in zip(rates[held:], rates[held + 1:]))
    assert rates[-1] == pytest.approx(0.1 * TAIL_END)
    assert [learning_rate(0.05, "constant", step, steps) for step in (1, 50, 100)] == [0.05] * 3


def test_a_render_runs_the_schedule_and_only_its_tail_differs(effnet):
    request = RenderRequest(model=M, layer="_conv_stem", channels=(0, 1), steps=10, size=32, upsample=False,
                            optimizer="nadam", lr=0.1)
    tail = request.replace(lr_schedule="tail")
    setup = set_up(tail, torch.device("cpu"), batch_size=2)
    chunk, run = setup.chunks[0], ModelRun(effnet, get_spec(M).preprocess.apply)
    for step in range(1, tail.steps + 1):
        optimization_step(setup, chunk, step, run)
        assert chunk.optimizer.param_groups[0]["lr"] == pytest.approx(learning_rate(0.1, "tail", step, 10))
    # the first 70% of the steps are the constant render's, the rest differ
    constant, tailed = images_at(request, effnet), images_at(tail, effnet)
    np.testing.assert_array_equal(constant[7], tailed[7])
    assert not np.array_equal(constant[10], tailed[10])


def images_at(request, model, steps=(7, 10)) -> dict[int, np.ndarray]:
    got = {}
    for snapshot in render_iter(request, model=model, device=torch.device("cpu"), snapshot_every=1):
        if snapshot.step in steps:
            got[snapshot.step] = np.array(snapshot.images, copy=True)
    return got


def test_the_setting_is_checked_and_left_out_of_old_keys_and_atlas_identities():
    base = RenderRequest(model=M, layer="_blocks.4", channels=(0,), steps=2, size=48)
    with pytest.raises(RequestError, match="learning-rate schedule"):
        base.replace(lr_schedule="cosine")
    assert base.key("w") != base.replace(lr_schedule="tail").key("w")
    # settings added after atlases were first made are left out of an atlas's identity at their defaults
    assert "lr_schedule" not in settings_of(base) and "optimizer" not in settings_of(base)
    assert settings_of(base.replace(lr_schedule="tail", optimizer="nadam"))["lr_schedule"] == "tail"
