import pytest
import torch
from lucent.optvis import objectives as lucent_objectives

from featviz_core.method.diversity import DIVERSITY_WEIGHT, diversity, diversity_per_image, normalized_grams


def activations(shape, seed=0, relu=True):
    acts = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return acts.clamp_min(0) if relu else acts


def test_matches_lucents_diversity_negated():
    acts = activations((4, 6, 5, 5))
    lucent_value = lucent_objectives.diversity("layer")(lambda name: acts)
    torch.testing.assert_close(diversity(acts), -lucent_value)


def test_lucids_double_loop_over_normalized_grams():
    acts = activations((3, 4, 3, 2), seed=1, relu=False)
    flat = acts.flatten(2)
    grams = [a @ a.T for a in flat]
    grams = [g / g.norm() for g in grams]
    expected = sum((grams[i] * grams[j]).sum() for i in range(3) for j in range(3) if j != i) / 3
    torch.testing.assert_close(diversity(acts), expected)
    per_image = diversity_per_image(acts)
    torch.testing.assert_close(per_image.sum(), expected)
    torch.testing.assert_close(per_image[0], ((grams[0] * grams[1]).sum() + (grams[0] * grams[2]).sum()) / 3)
    assert normalized_grams(acts).shape == (3, 16)


def test_identical_images_are_maximally_similar_and_one_image_has_no_pairs():
    acts = activations((1, 5, 4, 4), seed=2).expand(4, -1, -1, -1)
    torch.testing.assert_close(diversity(acts), torch.tensor(3.0, dtype=torch.float64))
    torch.testing.assert_close(diversity_per_image(acts), torch.full((4,), 0.75, dtype=torch.float64))
    assert diversity(acts[:1]) == 0


def test_groups_do_not_push_each_other_apart():
    first, second = activations((3, 4, 3, 3), seed=3), activations((3, 4, 3, 3), seed=4)
    grouped = diversity_per_image(torch.cat([first, second]), group_size=3)
    torch.testing.assert_close(grouped, torch.cat([diversity_per_image(first), diversity_per_image(second)]))
    assert not torch.allclose(grouped, diversity_per_image(torch.cat([first, second])))
    with pytest.raises(ValueError, match="groups of 4"):
        diversity_per_image(torch.cat([first, second]), group_size=4)
    with pytest.raises(ValueError, match="\\(N, C, H, W\\)"):
        diversity(torch.zeros(3, 4))


def test_subtracting_the_weighted_term_makes_images_less_alike():
    acts = activations((4, 6, 4, 4), seed=5).requires_grad_(True)
    before = diversity(acts)
    objective = -DIVERSITY_WEIGHT * diversity_per_image(acts)
    objective.sum().backward()
    with torch.no_grad():
        after = diversity(acts + 1e-3 * acts.grad)  # one small ascent step on the objective
    assert after < before
    assert DIVERSITY_WEIGHT == 100.0
