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
    ("http://localhost:8501/neuron?layer=_blocks.10&channel=3", "link to the Neuron page"),
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

    from featviz_ui import links as ui_links

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
