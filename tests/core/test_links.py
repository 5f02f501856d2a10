"""App links read without the app: full URLs, query strings, links files with bad lines."""

from __future__ import annotations

import subprocess
import sys

import pytest

from featviz_core.errors import RequestError
from featviz_core.links import (explorer_defaults, link_query, link_values, read_links, request_from_link,
                                request_params)
from featviz_core.request import RenderRequest

M, LAYER = "efficientnet-lite0", "_blocks.10"


def test_a_full_url_a_query_string_and_a_bare_query_mean_the_same_render():
    query = f"model={M}&layer={LAYER}&channels=3,5-6&steps=8&size=32&seed=4&fft=false"
    requests = {request_from_link(link) for link in (f"https://someone-featviz.hf.space/?{query}",
                                                      f"http://localhost:8501/explorer?{query}",
                                                      f"?{query}", query)}
    assert len(requests) == 1
    request = requests.pop()
    assert (request.layer, request.channels, request.steps, request.size, request.seed, request.fft) == (
        LAYER, (3, 5, 6), 8, 32, 4, False)
    # The query string the app writes for a request reads back as the same request.
    assert request_from_link(link_query(request)) == request


def test_left_out_settings_take_the_explorers_defaults():
    request = request_from_link(f"?model={M}&steps=8")
    defaults = explorer_defaults(M)
    assert request == defaults.replace(steps=8)
    assert defaults.channels == tuple(range(10)) and defaults.layer == LAYER


def test_view_parameters_are_allowed_and_left_out_of_the_render():
    values = link_values(f"?present=1&deck=intro&slide=2&model={M}&channels=1&steps=4&size=32")
    assert values["deck"] == "intro"
    assert request_from_link(f"?present=1&model={M}&channels=1&steps=4&size=32") == RenderRequest(
        model=M, layer=LAYER, channels=(1,), steps=4, size=32)


@pytest.mark.parametrize("link, message", [
    ("", "the link has no settings"),
    ("https://host.example/?", "the link has no settings"),
    ("http://localhost:8501/layers?model=efficientnet-lite0", "link to the Layers page, which names no render"),
    ("?chanels=3", "unknown setting 'chanels' (did you mean 'channels'?); links name model, layer, channels"),
    ("?steps", "cannot read 'steps': each setting is name=value"),
    ("?present=1&deck=intro", "the link names no render setting"),
    (f"?model={M}&channels=500", "channel 500 is outside layer _blocks.10, which has 112 channels"),
    ("?model=alexnet&channels=1", "unknown model 'alexnet'"),
    ("?" + "a" * 5000, "the link is too long"),
])
def test_bad_links_say_what_is_wrong(link, message):
    with pytest.raises(RequestError) as info:
        request_from_link(link)
    assert message in str(info.value)


def test_a_links_file_keeps_line_numbers_notes_and_the_reason_of_each_bad_line():
    text = (f"# my lecture\n\n?model={M}&channels=0-1&steps=4&size=32  # two channels\n"
            "?chanels=3\n"
            f"   http://localhost:8501/?model={M}&channels=7&steps=4&size=32\t# seven\n"
            "# done\n")
    lines = read_links(text)
    assert [line.number for line in lines] == [3, 4, 5]
    assert [line.note for line in lines] == ["two channels", "", "seven"]
    assert lines[0].request.channels == (0, 1) and lines[2].request.channels == (7,)
    assert lines[1].request is None and "unknown setting 'chanels'" in lines[1].error
    assert read_links("\n# only comments\n") == []


def test_the_ui_keeps_its_link_api_and_the_core_never_imports_the_ui():
    import ast
    from pathlib import Path

    from featviz_ui import address_bar as ui_links

    assert ui_links.request_params is request_params and ui_links.explorer_defaults is explorer_defaults
    core = Path(__file__).resolve().parents[2] / "featviz_core"
    for path in core.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n.split(".")[0] in ("streamlit", "featviz_ui")], path
    # The app reads links at start: that must not import torch.
    light = subprocess.run([sys.executable, "-c", "import sys, featviz_core.links; print('torch' in sys.modules)"],
                           capture_output=True, text=True, check=True).stdout
    assert light.strip() == "False"


def test_the_example_deck_reads_without_a_bad_line_and_opens_on_the_default_render():
    from pathlib import Path

    from featviz_core.models import default_model_name

    deck = Path(__file__).resolve().parents[2] / "decks" / "example.txt"
    lines = read_links(deck.read_text())
    assert lines and [line.error for line in lines] == [""] * len(lines)
    assert all(line.note for line in lines)
    assert lines[0].request == explorer_defaults(default_model_name())  # the Explorer's first screen


# ----- links of other pages, the address-bar forms people paste, hand-written queries ---------------------
NEURON_LINK = f"layer={LAYER}&channel=3"
QUERY = f"model={M}&layer={LAYER}&channels=1-2&steps=4&size=32"
PREPARED = ("only links of the Explorer (/?model=...&layer=...&channels=0-9) and of the Neuron page "
            "(/neuron?layer=...&channel=3) name a render")


def neuron_render(model: str = M, channel: int = 3) -> RenderRequest:
    """What the Neuron page renders for a channel when its form is as a new visitor finds it."""
    from featviz_core.links import NEURON_FORM

    return RenderRequest(model=model, layer=LAYER, channels=(channel,), steps=NEURON_FORM["steps"],
                         size=NEURON_FORM["size"], seed=NEURON_FORM["seed"])


@pytest.mark.parametrize("link", [f"http://localhost:8501/neuron?{NEURON_LINK}", f"/neuron?{NEURON_LINK}",
                                  f"neuron?{NEURON_LINK}", f"localhost:8501/Neuron?{NEURON_LINK}",
                                  f"https://host.example/featviz/neuron/?{NEURON_LINK}&model={M}#top"])
def test_a_neuron_page_link_prepares_its_render_and_its_plain_pixel_twin(link):
    (line,) = read_links(f"{link}  # one neuron")
    assert (line.page, line.note, line.error) == ("neuron", "one neuron", "")
    assert line.request == neuron_render() and line.request == request_from_link(link)
    assert line.companions == (neuron_render().replace(fft=False, decorrelate=False),)
    assert line.requests == (line.request, *line.companions)


def test_a_neuron_link_without_its_comparison_prepares_the_one_render(monkeypatch):
    from featviz_core import links

    monkeypatch.setitem(links.NEURON_FORM, "compare", False)
    (line,) = read_links(f"/neuron?{NEURON_LINK}")
    assert line.requests == (neuron_render(),) and line.companions == ()


@pytest.mark.parametrize("link", [f"/?{QUERY}", f"/Explorer?{QUERY}", f"/explorer/?{QUERY}",
                                  f"localhost:8501/?{QUERY}", f"http://localhost:8501?{QUERY}",
                                  f"https://host.example/featviz/?{QUERY}#slide-2"])
def test_the_explorer_link_reads_the_same_in_every_address_bar_form(link):
    (line,) = read_links(link)
    assert (line.page, line.companions) == ("explorer", ())
    assert line.request == request_from_link(f"?{QUERY}") == RenderRequest(model=M, layer=LAYER, channels=(1, 2),
                                                                            steps=4, size=32)


@pytest.mark.parametrize("link, page", [(f"http://localhost:8501/layers?model={M}&layer={LAYER}", "Layers"),
                                        ("/method", "Method"), (f"/photo?{QUERY}", "Photo"),
                                        ("https://host.example/gallery/", "Gallery"), ("/lecture?deck=x", "Lecture")])
def test_a_link_of_a_page_that_names_no_render_says_which_pages_links_can_be_prepared(link, page):
    (line,) = read_links(link)
    assert line.request is None and line.requests == ()
    assert line.error == f"this is a link to the {page} page, which names no render; {PREPARED}"


@pytest.mark.parametrize("link, message", [
    (f"/neuron?layer={LAYER}", f"a Neuron page link names a channel, like /neuron?layer={LAYER}&channel=3"),
    (f"/neuron?layer={LAYER}&channel=three", "channel must be a whole number like 3, got 'three'"),
    (f"/neuron?layer={LAYER}&channel=%C2%B3", "channel must be a whole number like 3, got '³'"),
    (f"/neuron?layer={LAYER}&channel=500", "channel 500 is outside layer _blocks.10, which has 112 channels"),
    ("/neuron?layer=nope&channel=1", "unknown layer 'nope' for efficientnet-lite0"),
    (f"/neuron?layer={LAYER}&channels=1", "a Neuron page link names model, layer and channel, not 'channels' "
                                          "(did you mean 'channel'?)"),
    ("/neuron?channel=1&steps=8", "a Neuron page link names model, layer and channel, not 'steps'; the page "
                                  "renders 1024 steps at 256 px, seed 0 (an Explorer link can name any setting)"),
    ("/neuron?chanel=1", "unknown setting 'chanel' (did you mean 'channel'?); Neuron page links name model, "
                         "layer, channel"),
    ("/neuron", "the link has no settings"),
    (f"?model={M}&steps=4#frag&size=x", None),
])
def test_bad_neuron_links_say_what_is_wrong_in_one_line(link, message):
    if message is None:  # the fragment (with whatever it holds) is the browser's: it is no setting
        assert request_from_link(link).steps == 4
        return
    with pytest.raises(RequestError) as info:
        request_from_link(link)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_fragment_after_a_bare_query_is_ignored():
    assert request_from_link(f"?model={M}&channels=1&size=32&steps=4#frag").steps == 4
    assert request_from_link(f"model={M}&channels=1&size=32&steps=4#").steps == 4
    assert request_from_link(f"/neuron?{NEURON_LINK}#frag") == neuron_render()


def test_a_parameter_given_twice_keeps_its_last_value():
    assert link_values(f"?model={M}&steps=4&channels=1&steps=8")["steps"] == "8"
    assert request_from_link(f"?model={M}&steps=4&channels=1&size=32&steps=8").steps == 8
    assert request_from_link(f"/neuron?layer={LAYER}&channel=1&channel=3") == neuron_render()


EARLY = "_blocks.4"


def test_a_hand_written_plus_in_an_expression_means_plus():
    request = request_from_link(f"?model={M}&expression={EARLY}:3+{EARLY}:7&steps=4&size=32")
    assert request.expression == f"{EARLY}:3+{EARLY}:7"
    assert [(t.channel, t.weight) for t in request.objectives()[0].terms] == [(3, 1.0), (7, 1.0)]
    weighted = request_from_link(f"?model={M}&expression=2*{EARLY}:3+0.5*neuron({EARLY}:7@2,2)+dream({EARLY})")
    assert [(t.kind, t.weight) for t in weighted.objectives()[0].terms] == [("channel", 2.0), ("neuron", 0.5),
                                                                              ("layer", 1.0)]
    mixed = request_from_link(f"?model={M}&expression={EARLY}:3+-+{EARLY}:7")  # '+' next to '-': a space
    assert [t.weight for t in mixed.objectives()[0].terms] == [1.0, -1.0]
    with pytest.raises(RequestError, match="cannot read the objective at 'oops'"):
        request_from_link(f"?model={M}&expression={EARLY}:3+oops")


@pytest.mark.parametrize("expression", [f"{EARLY}:3 - 0.5*{EARLY}:7", f"{EARLY}:3 + neuron({EARLY}:7@2,2)",
                                        f"-{EARLY}:3+{EARLY}:7", f"{EARLY}:3-{EARLY}:7", f"{EARLY}:3 -  dream({EARLY})",
                                        f"1e+1*{EARLY}:3 + 2*{EARLY}:4"])
def test_expressions_the_app_writes_read_back_the_same(expression):
    request = RenderRequest(model=M, layer=LAYER, expression=expression, steps=4, size=32)
    assert request_from_link(link_query(request)) == request
    assert request_from_link("http://localhost:8501/" + link_query(request)) == request
