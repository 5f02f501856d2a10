import pytest
import torch
from lucent.optvis import objectives as lucent_objectives

from featviz_core.method.interpolation import (
    SHARED_LEVELS,
    AlignedInterpolationParam,
    channel_interpolate_scores,
    draw_aligned_raws,
    frame_blend_matrix,
    interpolation_weights,
    shared_shapes,
)
from featviz_core.method.param import initial_raw, raw_shape


def generators(count, first_seed=10):
    return [torch.Generator().manual_seed(first_seed + i) for i in range(count)]


def test_weights_run_from_the_first_channel_to_the_second():
    torch.testing.assert_close(
        interpolation_weights(5),
        torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.5, 0.5], [0.25, 0.75], [0.0, 1.0]]),
    )
    torch.testing.assert_close(interpolation_weights(2), torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="at least 2 frames"):
        interpolation_weights(1)


def test_scores_match_lucents_channel_interpolate():
    g = torch.Generator().manual_seed(0)
    first, second = torch.randn(6, 5, 4, 4, generator=g), torch.randn(6, 7, 2, 2, generator=g)
    scores = channel_interpolate_scores(first, 2, second, 6)
    layers = {"a": first, "b": second}
    lucent_loss = lucent_objectives.channel_interpolate("a", 2, "b", 6)(lambda name: layers[name])
    torch.testing.assert_close(scores.sum(), -lucent_loss)
    torch.testing.assert_close(scores[0], first[0, 2].mean())
    torch.testing.assert_close(scores[-1], second[-1, 6].mean())
    with pytest.raises(ValueError, match="one activation per frame"):
        channel_interpolate_scores(first, 0, second[:3], 0)


def test_shared_shapes_follow_the_notebook_and_stay_at_least_one_pixel():
    assert shared_shapes(128) == [(1, 3, 64, 64), (1, 3, 32, 32), (1, 3, 16, 16), (2, 3, 16, 16), (1, 3, 8, 8), (2, 3, 8, 8)]
    assert [shape[2] for shape in shared_shapes(12, channels=4)] == [6, 3, 1, 1, 1, 1]
    assert len(SHARED_LEVELS) == 6


def test_frame_blend_aligns_the_corners():
    torch.testing.assert_close(frame_blend_matrix(2, 5), interpolation_weights(5))
    assert torch.equal(frame_blend_matrix(1, 3), torch.ones(3, 1))


def test_draws_give_each_frame_its_own_noise_and_shared_tensors_from_the_first_generator():
    unique, shared = draw_aligned_raws(generators(3), 16, fft=True)
    assert unique.shape == (3, *raw_shape(16, True))
    for index, g in enumerate(generators(3)):
        assert torch.equal(unique[index], initial_raw(16, True, g))
    assert [tuple(s.shape) for s in shared] == shared_shapes(16)
    assert all(0.001 < s.std() < 0.05 for s in shared if s.numel() > 8)


@pytest.mark.parametrize("fft", [True, False])
@pytest.mark.parametrize("channels", [3, 4])
def test_output_shape_and_range(fft, channels):
    unique, shared = draw_aligned_raws(generators(4), 16, fft=fft, channels=channels)
    frames = AlignedInterpolationParam(unique, shared, 16, fft=fft, decorrelate=True)()
    assert frames.shape == (4, channels, 16, 16)
    assert frames.min() > 0 and frames.max() < 1


def test_shared_part_is_common_to_all_frames_or_blended_from_first_to_last():
    size, frames = 16, 5
    unique = torch.zeros(frames, *raw_shape(size, True))
    shared = [torch.zeros(shape) for shape in shared_shapes(size)]
    param = AlignedInterpolationParam(unique, shared, size, fft=True, decorrelate=False)
    with torch.no_grad():
        param.shared[0].fill_(0.3)  # one element: the same offset in every frame
        linear = param.linear_image()
        torch.testing.assert_close(linear, torch.full_like(linear, 0.3))
        param.shared[0].zero_()
        param.shared[3][0].fill_(-1.0)  # two elements: first frame -1, last frame 1, halfway 0
        param.shared[3][1].fill_(1.0)
        per_frame = param.linear_image().mean(dim=(1, 2, 3))
    torch.testing.assert_close(per_frame, torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0]))


def test_frames_with_their_own_noise_differ_and_gradients_reach_every_part():
    unique, shared = draw_aligned_raws(generators(3), 16, fft=True)
    param = AlignedInterpolationParam(unique * 100, shared, 16)
    frames = param()
    assert (frames[0] - frames[1]).abs().mean() > 1e-3
    frames[:, 0].mean().backward()
    parameters = list(param.parameters())
    assert len(parameters) == 1 + len(SHARED_LEVELS)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in parameters)
    with pytest.raises(ValueError, match="shared tensors"):
        AlignedInterpolationParam(unique, [torch.zeros(1, 4, 2, 2)], 16)
