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


def test_every_registered_kind_is_written_and_read_back():
    from featviz_core.objectives import KINDS, Term, get_kind, kind_help, registered_kinds

    assert KINDS == ("channel", "neuron", "layer") == tuple(kind.name for kind in registered_kinds())
    assert list(kind_help()) == list(KINDS)
    assert all(text and "\n" not in text for text in kind_help().values())
    for kind in registered_kinds():
        terms = [Term(kind.name, "_blocks.10", 7 if kind.reads_channel else None, weight=w) for w in (1.0, -1.0, 0.25)]
        if kind.reads_position:
            terms.append(Term(kind.name, "_blocks.10", 7, 2, 3, weight=-2.0))
        for term in terms:
            assert parse_objective(term.describe()).terms == (term,), term.describe()
        assert parse_objective(kind.example).terms[0].kind == kind.name
        assert get_kind(kind.name) is kind


def test_a_batch_gathers_once_per_layer_and_kind():
    objs = [channel("a", 0), channel("a", 3) - channel("b", 1), neuron("a", 2), 2 * deepdream("b") + neuron("a", 1)]
    groups = BatchObjective(objs).groups
    assert [(g.layer, g.kind.name, g.image_idx.tolist()) for g in groups] == [
        ("a", "channel", [0, 1]), ("b", "channel", [1]), ("a", "neuron", [2, 3]), ("b", "layer", [3]),
    ]


@pytest.mark.parametrize("kind", ["channel", "neuron", "layer"])
def test_a_kind_gives_the_objectives_and_labels_a_request_of_it_renders(kind):
    from featviz_core.objectives import get_kind
    from featviz_core.request import RenderRequest

    for negate in (False, True):
        request = RenderRequest(model="efficientnet-lite0", layer="_blocks.10", channels=(3, 8), objective=kind,
                                negate=negate, steps=1, size=32, upsample=False)
        registered = get_kind(kind)
        assert request.channels == ((3, 8) if registered.reads_channel else ())
        sign = -1.0 if negate else 1.0
        assert request.objectives() == [o * sign for o in registered.objectives(request.layer, request.channels)]
        assert request.labels() == [("-" if negate else "") + label
                                    for label in registered.labels(request.layer, request.channels)]
