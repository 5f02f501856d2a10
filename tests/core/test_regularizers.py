import torch

from featviz_core.render import l2_norm_squared, total_variation


def test_total_variation_on_a_hand_made_image():
    image = torch.tensor([[[[0.0, 1.0], [3.0, 7.0]]]])  # (1, 1, 2, 2)
    # vertical: |3-0| + |7-1| = 9 ; horizontal: |1-0| + |7-3| = 5
    assert total_variation(image).tolist() == [14.0]


def test_total_variation_sums_channels_and_is_per_image():
    flat = torch.full((1, 3, 4, 4), 0.3)
    stripes = torch.zeros(1, 3, 4, 4)
    stripes[..., 1::2] = 1.0  # 3 vertical edges per row, 4 rows, 3 channels
    tv = total_variation(torch.cat([flat, stripes]))
    assert tv.tolist() == [0.0, 36.0]


def test_l2_on_a_hand_made_image():
    image = torch.tensor([[[[1.0, 2.0], [0.0, -3.0]]], [[[0.5, 0.5], [0.5, 0.5]]]])
    assert l2_norm_squared(image).tolist() == [14.0, 1.0]
