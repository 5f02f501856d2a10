"""The chunk planner and set-up: which images share a forward pass (no model runs here)."""

import itertools

import numpy as np
import pytest
import torch

from featviz_core.render import plan_chunks, set_up
from featviz_core.render.step import current_images
from featviz_core.request import RenderRequest


def _images(chunk):
    return [i for group in chunk for i in group]


@pytest.mark.parametrize("count,batch_size", itertools.product([1, 2, 5, 7, 64], [1, 2, 3, 64]))
def test_images_alone_are_chunked_in_runs_of_batch_size(count, batch_size):
    expected = [list(range(start, min(start + batch_size, count))) for start in range(0, count, batch_size)]
    plan = plan_chunks(count, batch_size)
    assert [_images(chunk) for chunk in plan] == expected
    assert all(len(group) == 1 for chunk in plan for group in chunk)
    assert plan_chunks(count, batch_size, [[i] for i in range(count)]) == plan


@pytest.mark.parametrize("batch_size", [1, 2, 3, 4, 6])
def test_a_group_is_never_split_and_every_image_is_planned_once(batch_size):
    groups = [[4, 1], [6, 7, 8], [0, 9, 10, 11]]
    plan = plan_chunks(13, batch_size, groups)
    assert sorted(i for chunk in plan for i in _images(chunk)) == list(range(13))
    planned = [group for chunk in plan for group in chunk]
    for group in groups:
        assert tuple(sorted(group)) in planned
    for chunk in plan:
        assert len(_images(chunk)) <= batch_size or len(chunk) == 1  # only a lone oversized group overfills
    firsts = [group[0] for group in planned]
    assert firsts == sorted(firsts)  # groups keep the order of their first image


@pytest.mark.parametrize("groups,message", [
    ([[]], "empty"), ([[0, 5]], "outside"), ([[0, 1], [1, 2]], "shares"), ([[2, 2]], "repeats"),
])
def test_bad_groups_are_refused(groups, message):
    with pytest.raises(ValueError, match=message):
        plan_chunks(5, 2, groups)


def test_a_grouped_image_starts_from_the_same_noise_and_lands_at_its_place():
    request = RenderRequest(model="efficientnet-lite0", layer="_blocks.10", channels=(0, 1, 2, 3), steps=2, size=32,
                            upsample=False)
    alone = set_up(request, torch.device("cpu"), 1)
    grouped = set_up(request, torch.device("cpu"), 2, groups=[[0, 3]])
    assert [c.images for c in grouped.chunks] == [(0, 3), (1, 2)]
    assert [c.groups for c in grouped.chunks] == [((0, 1),), ((0,), (1,))]
    assert grouped.chunks[0].where == [0, 3] and grouped.chunks[1].where == slice(1, 3)
    start = {c.images[0]: c.param.raw.detach() for c in alone.chunks}
    for chunk in grouped.chunks:
        for k, image in enumerate(chunk.images):
            torch.testing.assert_close(chunk.param.raw.detach()[k], start[image][0], rtol=0, atol=0)
        torch.testing.assert_close(grouped.draws[:, chunk.where], alone.draws[:, chunk.where], rtol=0, atol=0)
    with torch.no_grad():  # strong starts, so that images differ clearly from each other (noise alone is grey)
        for chunk in grouped.chunks + alone.chunks:
            chunk.param.raw.mul_(300.0)
    together, apart = current_images(grouped), current_images(alone)
    assert np.abs(apart[0].astype(int) - apart[3].astype(int)).max() > 50
    # Batched and single-image Fourier transforms may round differently in the last bit: at most one level.
    assert np.abs(together.astype(int) - apart.astype(int)).max() <= 1
