"""Neuron page: one channel, snapshots kept at chosen steps, curve, and the pixel-space comparison."""

from __future__ import annotations

from app_helpers import DEFAULT_LAYER, LAYER, errors, press_render, run_until, set_form, slot


def both_finished(at) -> bool:
    if "featviz_slots" not in at.session_state:
        return False
    slots = at.session_state["featviz_slots"]
    return all(name in slots and slots[name].job_id is None and slots[name].result is not None
               for name in ("neuron", "neuron_pixel"))


def test_neuron_render_keeps_snapshots_and_compares_with_pixels(new_app, model):
    at = new_app().run()
    at.sidebar.selectbox(key="model").set_value(model).run()
    at.switch_page("pages/neuron.py").run()
    assert at.number_input(key="ne_steps").value == 1024 and at.number_input(key="ne_size").value == 256
    set_form(at, "ne", channel=7, steps=8, size=32, seed=201, keep="2, 4, 99")
    press_render(at)
    run_until(at, both_finished, what="the Fourier and pixel renders")

    assert not errors(at)
    main, pixel = slot(at, "neuron").result, slot(at, "neuron_pixel").result
    assert main.labels == [f"{DEFAULT_LAYER[model]}:7"] and main.request.fft and main.request.decorrelate
    assert main.request.model == model
    assert pixel.request == main.request.replace(fft=False, decorrelate=False)
    # Steps past the end are dropped and the last step is always kept. A snapshot lands on every chosen
    # step; the page keeps the first one it sees at or after each (the queue keeps only the latest).
    kept = slot(at, "neuron").kept
    assert sorted(kept) == [2, 4, 8]
    for wanted in (2, 4, 8):
        actual = kept[wanted][0]
        assert wanted <= actual <= 8 and actual % 2 == 0
    assert kept[8][0] == 8 and (kept[8][1] == main.images[0]).all()

    image_captions = [list(image.captions) for image in at.image]
    assert [f"step {kept[s][0]}" for s in (2, 4, 8)] in image_captions
    flat = [c for group in image_captions for c in group]
    assert any(c.startswith("Fourier + decorrelated color · objective") for c in flat)
    assert any(c.startswith("Plain pixels · objective") for c in flat)
    chart = at.get("plotly_chart")[0]
    assert '"Fourier + decorrelated"' in chart.proto.spec and '"pixels"' in chart.proto.spec


def test_neuron_bad_inputs_show_the_reason(new_app):
    at = new_app().run()
    at.switch_page("pages/neuron.py").run()
    set_form(at, "ne", channel=112, steps=8, size=32)
    press_render(at)
    assert errors(at) == [f"channel 112 is outside layer {LAYER}, which has 112 channels (0-111)"]
    set_form(at, "ne", channel=1, keep="4, soon")
    press_render(at)
    assert errors(at) == ["snapshot steps must be whole numbers from 1 up, like 16, 64, 256; got 'soon'"]
    assert not at.exception


def test_the_explorer_link_presets_the_neuron_form(new_app):
    at = new_app({"layer": "_blocks.4", "channel": "17"}).run()
    at.switch_page("pages/neuron.py").run()
    assert at.selectbox(key="ne_layer_efficientnet-lite0").value == "_blocks.4"
    assert at.number_input(key="ne_channel").value == 17
    assert slot(at, "neuron").job_id is None and not errors(at)


def counters() -> tuple[int, int, int]:
    from app_helpers import service

    stats = service().stats()
    return stats["submitted"], stats["completed"], stats["running"] + stats["queued"]


def test_a_prepared_neuron_link_opens_on_its_render_and_its_pixel_twin(new_app, monkeypatch, tmp_path, capsys):
    from featviz_core import links
    from featviz_core.cli.dispatch import main
    from featviz_core.request import RenderRequest

    for name, value in (("steps", 3), ("size", 32), ("seed", 4301)):  # the form's defaults, quick for the test
        monkeypatch.setitem(links.NEURON_FORM, name, value)
    deck = tmp_path / "neuron.txt"
    deck.write_text(f"http://localhost:8501/neuron?model=efficientnet-lite0&layer={LAYER}&channel=6\n")
    assert main(["warm", str(deck), "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] in ("1 links: 1 rendered, 0 already prepared",
                                                        "1 links: 0 rendered, 1 already prepared")
    before = counters()
    at = new_app({"layer": LAYER, "channel": "6"}).run()
    at.switch_page("pages/neuron.py").run()
    assert not errors(at) and not at.exception
    wanted = RenderRequest(model="efficientnet-lite0", layer=LAYER, channels=(6,), steps=3, size=32, seed=4301)
    assert slot(at, "neuron").result.request == wanted
    assert slot(at, "neuron_pixel").result.request == wanted.replace(fft=False, decorrelate=False)
    assert counters() == before, "both renders came from the cache: nothing was queued"
    flat = [c for image in at.image for c in image.captions]
    assert any(c.startswith("Plain pixels · objective") for c in flat)
    assert at.number_input(key="ne_steps").value == 3  # the form shows the settings it was prepared with

    fresh = new_app({"layer": LAYER, "channel": "7"}).run()  # a channel nobody prepared: the form, no render
    fresh.switch_page("pages/neuron.py").run()
    assert slot(fresh, "neuron").result is None and slot(fresh, "neuron").job_id is None
    assert counters() == before


def test_a_neuron_link_names_its_model(new_app, with_inception):
    at = new_app().run()
    at.switch_page("pages/neuron.py").run()
    assert at.sidebar.selectbox(key="model").value == "inceptionv1"  # the default where its weights are
    at.query_params.update({"model": "efficientnet-lite0", "layer": "_blocks.4", "channel": "5"})
    at.run()
    assert at.sidebar.selectbox(key="model").value == "efficientnet-lite0"
    assert at.selectbox(key="ne_layer_efficientnet-lite0").value == "_blocks.4"
    assert at.number_input(key="ne_channel").value == 5 and not errors(at)
    at.sidebar.selectbox(key="model").set_value("inceptionv1").run()  # the link chose once, not for good
    assert at.sidebar.selectbox(key="model").value == "inceptionv1"
