"""The running top-K merge is exact and order-independent: chunks merged in any order or grouping give the
ranking of all images at once (what makes a Ray run equal to one process)."""

from __future__ import annotations

import numpy as np

from featviz_core.examples.topk import PAD_ID, Ranked, empty_state, merge_states, states_equal


def chunk_state(values: np.ndarray, first: int, k: int) -> dict:
    """values: (B, C) means of images first..first+B-1 -> a partial state (maps tagged with the image id)."""
    b, c = values.shape
    ids = np.arange(first, first + b, dtype=np.int64)
    out = {}
    for side in ("top", "bottom"):
        ranked = Ranked(values.T.astype(np.float32).copy(), np.broadcast_to(ids, (c, b)).copy(),
                        np.zeros((c, b, 2), np.int32), np.zeros((c, b, 8), np.int32),
                        np.broadcast_to(ids.astype(np.float32)[None, :, None, None], (c, b, 2, 2)).copy())
        out[side] = ranked.ranked(k, side)
    return {"L": out}


def test_merging_chunks_in_any_order_equals_ranking_everything_at_once():
    generator = np.random.default_rng(3)
    values = generator.integers(-5, 6, size=(37, 6)).astype(np.float32)  # many ties on purpose
    k = 4
    whole = chunk_state(values, 0, k)
    chunks = [chunk_state(values[i:i + 5], i, k) for i in range(0, 37, 5)]
    for order in (range(len(chunks)), reversed(range(len(chunks))), generator.permutation(len(chunks))):
        state = empty_state({"L": (6, 2, 2)}, k)
        for i in order:
            state = merge_states(state, chunks[i], k)
        assert states_equal(state, whole)
    # Two shards merged separately, then together (as a cluster of two would).
    left = right = empty_state({"L": (6, 2, 2)}, k)
    for i, chunk in enumerate(chunks):
        if i % 2:
            left = merge_states(left, chunk, k)
        else:
            right = merge_states(right, chunk, k)
    assert states_equal(merge_states(right, left, k), whole)


def test_the_order_is_by_value_then_by_image_number():
    values = np.array([[1.0], [3.0], [3.0], [-2.0], [-2.0]], np.float32)
    state = chunk_state(values, 10, 3)["L"]
    assert state["top"].ids[0].tolist() == [11, 12, 10]
    assert state["bottom"].ids[0].tolist() == [13, 14, 10]
    assert state["top"].maps[0, :, 0, 0].tolist() == [11, 12, 10]  # maps travel with their image


def test_fewer_images_than_k_leave_empty_slots_that_sort_last():
    state = merge_states(empty_state({"L": (1, 2, 2)}, 3), chunk_state(np.array([[0.5]], np.float32), 7, 3), 3)
    assert state["L"]["top"].ids[0].tolist() == [7, PAD_ID, PAD_ID]
    assert state["L"]["top"].filled()[0].tolist() == [True, False, False]
    assert state["L"]["bottom"].values[0, 0] == 0.5 and np.isinf(state["L"]["bottom"].values[0, 1:]).all()
