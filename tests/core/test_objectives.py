import pytest
import torch

from featviz_core.errors import RequestError
from featviz_core.objectives import BatchObjective, channel, deepdream, neuron, parse_objective


def _acts():
    g = torch.Generator().manual_seed(0)
    return {"a": torch.randn(3, 5, 4, 6, generator=g), "b": torch.randn(3, 2, 3, 3, generator=g)}


def test_channel_objectives_are_one_gather():
    acts = _acts()
    batch = BatchObjective([channel("a", 0), channel("a", 4), channel("a", 2)])
    expected = torch.stack([acts["a"][0, 0].mean(), acts["a"][1, 4].mean(), acts["a"][2, 2].mean()])
    torch.testing.assert_close(batch.score(acts), expected)
    assert batch.layers == ("a",)


def test_neuron_defaults_to_the_centre_and_takes_a_position():
    acts = _acts()
    batch = BatchObjective([neuron("a", 1), neuron("a", 3, y=0, x=5), neuron("b", 1)])
    expected = torch.stack([acts["a"][0, 1, 2, 3], acts["a"][1, 3, 0, 5], acts["b"][2, 1, 1, 1]])
    torch.testing.assert_close(batch.score(acts), expected)


def test_deepdream_negation_and_weighted_sums():
    acts = _acts()
    objs = [deepdream("b"), -channel("a", 1), channel("a", 1) - 0.5 * channel("b", 0)]
    got = BatchObjective(objs).score(acts)
    expected = torch.stack([
        acts["b"][0].pow(2).mean(),
        -acts["a"][1, 1].mean(),
        acts["a"][2, 1].mean() - 0.5 * acts["b"][2, 0].mean(),
    ])
    torch.testing.assert_close(got, expected)
    assert BatchObjective(objs).layers == ("b", "a")


def test_parse_objective():
    obj = parse_objective("mixed4a:3 - 0.5*mixed4b:7 + neuron(mixed4a:9@7,6) + dream(mixed3a)")
    assert [(t.kind, t.layer, t.channel, t.y, t.x, t.weight) for t in obj.terms] == [
        ("channel", "mixed4a", 3, None, None, 1.0),
        ("channel", "mixed4b", 7, None, None, -0.5),
        ("neuron", "mixed4a", 9, 7, 6, 1.0),
        ("layer", "mixed3a", None, None, None, 1.0),
    ]
    assert parse_objective("_blocks.10:2").terms[0].layer == "_blocks.10"
    assert parse_objective("-_blocks.10:2").terms[0].weight == -1.0


@pytest.mark.parametrize("text", ["", "mixed4a", "mixed4a:3 mixed4a:4", "mixed4a:x", "2*"])
def test_parse_objective_errors(text):
    with pytest.raises(RequestError, match="objective"):
        parse_objective(text)
