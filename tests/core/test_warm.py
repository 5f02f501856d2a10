"""``python -m featviz_core warm LINKS.txt``: every good link rendered into the cache once, bad lines named."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from featviz_core.cli.dispatch import main
from featviz_core.config import ServiceSettings
from featviz_core.links import PREPARABLE, RENDER_PARAMS, request_from_link
from featviz_core.request import RenderRequest
from featviz_core.service.render_cache import RenderCache

M, LAYER = "efficientnet-lite0", "_blocks.10"
FIRST = f"?model={M}&layer={LAYER}&channels=0-1&steps=3&size=32&seed=4101"
SECOND = f"http://localhost:8501/?model={M}&channels=2&steps=3&size=32&seed=4101"


def test_warm_renders_the_good_links_names_each_bad_line_and_exits_2(tmp_path, capsys):
    links = tmp_path / "lecture.txt"
    links.write_text(f"# a lecture\n{FIRST}  # first slide\n\n"
                     f"http://localhost:8501/layers?model={M}&layer={LAYER}\n"
                     f"{SECOND}\n?chanels=1\n")
    assert main(["warm", str(links), "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"error: {links} line 4: this is a link to the Layers page, which names no render; {PREPARABLE}",
        f"error: {links} line 6: unknown setting 'chanels' (did you mean 'channels'?); links name "
        + ", ".join(RENDER_PARAMS),
    ]
    lines = out.splitlines()
    assert lines[1].startswith(f"[1/2] line 2 {M}: {LAYER}, channels 0-1 (3 steps, 32 px, seed 4101): rendered in ")
    assert lines[2].startswith(f"[2/2] line 5 {M}: {LAYER}, channel 2 (3 steps, 32 px, seed 4101): rendered in ")
    assert lines[-1] == "4 links: 2 rendered, 0 already prepared, 2 bad lines"

    cache = RenderCache(ServiceSettings.from_env().cache_path)  # what the app reads
    for link, count in ((FIRST, 2), (SECOND, 1)):
        result = cache.get(request_from_link(link).key())
        assert result is not None and result.images.shape == (count, 32, 32, 3) and result.steps_done == 3

    # Only the good lines, again: nothing is rendered twice, and the status is 0.
    good = tmp_path / "good.txt"
    good.write_text(f"{FIRST}\n{SECOND}\n")
    assert main(["warm", str(good)]) == 0
    out, err = capsys.readouterr()
    assert "already prepared, skipped" in out.splitlines()[1] and "already prepared, skipped" in out.splitlines()[2]
    assert out.splitlines()[-1] == "2 links: 0 rendered, 2 already prepared"
    assert "step" not in err  # no render ran, so no progress bar


def test_files_without_links_are_refused_in_one_line(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n")
    assert main(["warm", str(empty)]) == 2
    assert capsys.readouterr().err == f"error: {empty} holds no links; write one app link per line (# starts a comment)\n"
    binary = tmp_path / "deck.txt"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["warm", str(binary)]) == 2
    assert "is not a UTF-8 text file" in capsys.readouterr().err
    done = subprocess.run([sys.executable, "-m", "featviz_core", "warm", str(tmp_path / "missing.txt")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr == f"error: no links file at {tmp_path / 'missing.txt'}\n"


def test_a_neuron_page_link_prepares_every_render_the_page_shows_for_it(tmp_path, capsys, monkeypatch):
    from featviz_core import links

    monkeypatch.setitem(links.NEURON_FORM, "steps", 3)  # the page's form defaults, made quick for the test
    monkeypatch.setitem(links.NEURON_FORM, "size", 32)
    monkeypatch.setitem(links.NEURON_FORM, "seed", 4102)
    neuron = f"http://localhost:8501/neuron?model={M}&layer={LAYER}&channel=5"
    deck = tmp_path / "neuron.txt"
    deck.write_text(f"{neuron}  # one channel, closely\n")
    assert main(["warm", str(deck), "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("1 of 1 links to prepare in ")
    assert out[1].startswith(f"[1/1] line 1 Neuron page, {M}: {LAYER}, channel 5 (3 steps, 32 px, seed 4102) + the "
                             "same in plain pixels: rendered in ")
    assert out[-1] == "1 links: 1 rendered, 0 already prepared"
    main_request = RenderRequest(model=M, layer=LAYER, channels=(5,), steps=3, size=32, seed=4102)
    cache = RenderCache(ServiceSettings.from_env().cache_path)
    for request in (main_request, main_request.replace(fft=False, decorrelate=False)):
        result = cache.get(request.key())
        assert result is not None and result.steps_done == 3 and result.images.shape == (1, 32, 32, 3)
    assert main(["warm", str(deck)]) == 0  # both are there now: nothing renders
    assert capsys.readouterr().out.splitlines()[-1] == "1 links: 0 rendered, 1 already prepared"


def _photo() -> str:
    import numpy as np
    from PIL import Image

    from featviz_core.photos.store import add_photo

    pixels = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    return add_photo(Image.fromarray(pixels))


@pytest.mark.parametrize("settings, words", [
    (dict(negative=True), "with negatives"),
    (dict(diversity=3), "3 diverse images each"),
    (dict(alpha=True), "transparent"),
    (dict(negate=True), "negated (minimized)"),
    (dict(fft=False, decorrelate=False), "pixel parameterization"),
    (dict(channels=(), interpolate=f"{LAYER}:1,{LAYER}:2", frames=4),
     f"Interpolation from {LAYER}:1 to {LAYER}:2, 4 frames"),
    (dict(channels=(), expression=f"{LAYER}:3 - 0.5*dream({LAYER})"),
     f"Free objective: {LAYER}:3 - 0.5*dream({LAYER})"),
    (dict(init="photo"), "from your photo"),
])
def test_describe_names_the_renders_beyond_one_image_per_channel(settings, words):
    from featviz_core.words import describe

    if settings.get("init") == "photo":
        settings = {**settings, "init": _photo()}
    request = RenderRequest(**{"model": M, "layer": LAYER, "channels": (1, 2), "steps": 8, "size": 32, **settings})
    text = describe(request)
    assert text.startswith(f"{M}: ") and text.endswith(" (8 steps, 32 px, seed 0" + (
        ", pixel parameterization)" if not request.fft else ")"))
    assert words in text and not re.search(rf"{LAYER}:(?!\d)", text), text  # never an empty "layer:"


def test_describe_names_what_every_objective_kind_optimizes():
    from featviz_core.objectives import registered_kinds
    from featviz_core.words import describe

    for kind in registered_kinds():
        for position in ("", "2,3") if kind.reads_position else ("",):
            request = RenderRequest(model=M, layer=LAYER, objective=kind.name, channels=(0, 1, 2), position=position,
                                    steps=8, size=32)
            text = describe(request)
            assert text == f"{M}: {kind.heading(LAYER, request.channels, position)} (8 steps, 32 px, seed 0)", text
            assert not re.search(rf"{LAYER}:(?!\d)", text), text  # never an empty "layer:"
