"""Lecture-ready: prepared renders open without queueing, the first screen shows a prepared default render,
the presentation view (deck, toggle, Previous/Next) and the Lecture page's "Prepare these renders"."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from app_helpers import LAYER, captions, errors, render_finished, run_until, service, slot

from featviz_core.cli.dispatch import main
from featviz_core.links import RENDER_PARAMS, request_from_link

M = "efficientnet-lite0"
TWO = f"?model={M}&layer={LAYER}&channels=3-4&steps=3&size=32&seed=4201"
ONE = f"?model={M}&layer={LAYER}&channels=6&steps=3&size=48&seed=4201"


def query(link: str) -> dict[str, str]:
    return dict(pair.split("=") for pair in link.lstrip("?").split("&"))


def counters() -> tuple[int, int, int]:
    stats = service().stats()
    return stats["submitted"], stats["completed"], stats["running"] + stats["queued"]


@pytest.fixture
def warmed(tmp_path, capsys):
    """TWO and ONE rendered into the cache by `python -m featviz_core warm` (in this process)."""
    links = tmp_path / "lecture.txt"
    links.write_text(f"{TWO}  # two channels\n{ONE}  # one channel\n?chanels=9\n")
    assert main(["warm", str(links), "--quiet"]) == 2  # the bad third line
    summary = re.search(r"3 links: (\d) rendered, (\d) already prepared, 1 bad line", capsys.readouterr().out)
    assert summary and int(summary.group(1)) + int(summary.group(2)) == 2
    return links


def test_a_warmed_link_opens_with_its_images_and_queues_nothing(new_app, warmed):
    before = counters()
    at = new_app(query(TWO)).run()
    assert captions(at) == [[f"{LAYER}:3", f"{LAYER}:4"]]
    assert slot(at, "explorer").result.request == request_from_link(TWO)
    assert counters() == before  # nothing submitted, nothing rendered, nothing waiting
    assert at.session_state["ex_settings_open"] is False, "the settings fold away for the images"
    assert not errors(at)


def test_the_first_screen_shows_the_default_render_when_it_is_prepared(new_app):
    from featviz_core.links import explorer_defaults
    from featviz_core.render import RenderResult

    default = explorer_defaults(M)
    # A stored entry for the default request (10 channels, 512 steps): its pixels are test data, the lookup,
    # cache and page are the real ones. Removed afterwards, so other tests see an empty first screen.
    images = np.random.default_rng(0).integers(0, 256, (10, 128, 128, 3), dtype=np.uint8)
    cache = service().cache
    cache.put(RenderResult(request=default, images=images, labels=default.labels(), scores=np.zeros(10, np.float32),
                           history=np.zeros((512, 10), np.float32), steps_done=512, elapsed_s=1.0, device="cpu"))
    try:
        before = counters()
        at = new_app().run()
        assert captions(at) == [default.labels()]
        assert (slot(at, "explorer").result.images == images).all()
        assert counters() == before
        assert at.query_params["channels"] == "0-9" and at.query_params["steps"] == "512"
        assert at.expander[0].label == "Settings" and at.session_state["ex_settings_open"] is False
    finally:
        shutil.rmtree(cache.path / default.key(), ignore_errors=True)
        cache.clear_memory()
    assert not captions(new_app().run()), "without a prepared render the first screen is the form"


def html_text(at) -> str:
    return "\n".join(element.value for element in at.html)


def test_presenting_a_deck_steps_through_its_slides_without_the_form_or_the_sidebar(new_app, warmed, tmp_path,
                                                                                    monkeypatch):
    decks = tmp_path / "decks"
    decks.mkdir()
    shutil.copy(warmed, decks / "intro.txt")
    monkeypatch.setenv("FEATVIZ_DECKS_DIR", str(decks))
    before = counters()
    at = new_app({"present": "1", "deck": "intro", "slide": "1"}).run()
    assert not at.exception and not [b for b in at.button if b.label == "Render"]
    assert not at.sidebar.selectbox, "no sidebar in the presentation view"
    page = html_text(at)
    assert "two channels" in page and "slide 1 of 3" in page
    assert page.count('class="featviz-caption"') == 2 and f">{LAYER}:3</figcaption>" in page
    assert "grid-template-columns: repeat(2," in page  # two tiles side by side, as large as they fit

    at.button(key="featviz_present_next").click().run()
    assert at.query_params["slide"] == "2"
    assert f">{LAYER}:6</figcaption>" in html_text(at) and "one channel" in html_text(at)
    assert counters() == before, "prepared slides are shown without rendering"

    at.button(key="featviz_present_next").click().run()  # the bad line names itself
    assert [e.value for e in at.error] == [
        "Line 3 of deck intro cannot be shown: unknown setting 'chanels' (did you mean 'channels'?); links name "
        + ", ".join(RENDER_PARAMS)]
    assert at.button(key="featviz_present_next").disabled

    at.query_params["slide"] = "x"
    at.run()
    assert any("slide must be a number from 1 to 3" in w.value for w in at.warning)
    at.query_params.update({"deck": "nope", "slide": "1"})
    at.run()
    assert [e.value for e in at.error] == ["no deck named 'nope' (decks here: intro)"]

    at.toggle(key="featviz_present_on").set_value(False).run()  # leave: the Explorer with its form
    assert "present" not in at.query_params and "deck" not in at.query_params
    assert [b.label for b in at.button if b.label == "Render"] == ["Render"]
    assert slot(at, "explorer").result is None, "presenting left the Explorer's render alone"


def test_the_toggle_presents_the_render_on_screen_and_brings_the_settings_back(new_app, warmed):
    at = new_app(query(TWO)).run()
    settings = {key: at.number_input(key=key).value for key in ("ex_first", "ex_last", "ex_steps", "ex_size")}
    at.toggle(key="ex_present").set_value(True).run()
    assert at.query_params["present"] == "1" and not [b for b in at.button if b.label == "Render"]
    assert f">{LAYER}:4</figcaption>" in html_text(at) and "slide" not in html_text(at)

    at.toggle(key="featviz_present_on").set_value(False).run()
    assert "present" not in at.query_params and at.query_params["channels"] == "3-4"
    assert {key: at.number_input(key=key).value for key in settings} == settings
    assert captions(at) == [[f"{LAYER}:3", f"{LAYER}:4"]]


def test_the_lecture_page_prepares_its_list_and_adds_renders_to_it(new_app, monkeypatch):
    from featviz_core import links
    from featviz_core.request import RenderRequest

    for name, value in (("steps", 2), ("size", 32), ("seed", 4202)):  # the Neuron page's form, quick for the test
        monkeypatch.setitem(links.NEURON_FORM, name, value)
    fresh = f"?model={M}&layer={LAYER}&channels=9&steps=2&size=32&seed=4202"
    neuron, layers = f"/neuron?layer={LAYER}&channel=8", f"http://localhost:8501/layers?model={M}"
    at = new_app().run()
    at.switch_page("pages/lecture.py").run()
    at.text_area(key="lec_links_box").set_value(f"{fresh}\n{neuron}\n{layers}\n").run()
    assert list(at.dataframe[0].value["render"])[1] == (
        f"Neuron page, {M}: {LAYER}, channel 8 (2 steps, 32 px, seed 4202) + the same in plain pixels")
    before = counters()
    next(b for b in at.button if b.label == "Prepare these renders").click().run()
    run_until(at, lambda a: "featviz_prepare_run" in a.session_state and a.session_state["featviz_prepare_run"].done,
              what="the list to be prepared")
    states = at.session_state["featviz_prepare_run"].states
    assert states[fresh].startswith("rendered in ") and states[neuron].startswith("rendered in ")
    assert states[layers].startswith("bad line: this is a link to the Layers page, which names no render; only "
                                     "links of the Explorer")
    assert counters()[:2] == (before[0] + 3, before[1] + 3)  # the Explorer's render, the neuron and its twin
    assert any("2 rendered, 0 already prepared, 1 bad" in s.value for s in at.success)
    twin = RenderRequest(model=M, layer=LAYER, channels=(8,), steps=2, size=32, seed=4202, fft=False, decorrelate=False)
    assert service().cache.get(twin.key()) is not None

    next(b for b in at.button if b.label == "Prepare these renders").click().run()  # again: nothing to do
    run_until(at, lambda a: a.session_state["featviz_prepare_run"].done, what="the second pass")
    assert at.session_state["featviz_prepare_run"].states[fresh] == "already prepared"
    assert at.session_state["featviz_prepare_run"].states[neuron] == "already prepared"
    assert counters()[:2] == (before[0] + 3, before[1] + 3)

    other = new_app(query(fresh)).run()  # the prepared link opens at once in another tab
    assert captions(other) == [[f"{LAYER}:9"]] and render_finished("explorer")(other)
    other.button(key="ex_add_slide").click().run()
    assert other.session_state["featviz_lecture_links"] == f"{fresh}\n"


def test_tiles_are_laid_out_for_a_wide_screen_and_bad_slide_numbers_are_explained():
    from featviz_ui.slides import grid_shape, slide_number

    assert [grid_shape(n) for n in (1, 2, 4, 6, 10, 12)] == [(1, 1), (2, 1), (4, 1), (3, 2), (5, 2), (6, 2)]
    assert slide_number(None, 3) == (1, "") and slide_number("2", 3) == (2, "")
    assert slide_number("9", 3) == (3, "this deck has 3 slides (1-3); showing slide 3")
    assert slide_number("-1", 3)[0] == 1 and "from 1 to 3" in slide_number("-1", 3)[1]
