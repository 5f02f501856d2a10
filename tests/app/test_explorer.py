"""Explorer page: a real render through the job queue, bad inputs, links, stop, queue position."""

from __future__ import annotations

import time

from app_helpers import (LAYER, captions, errors, press_render, render_finished, run_until, service, set_form,
                         slot)

THREE = [f"{LAYER}:0", f"{LAYER}:1", f"{LAYER}:2"]


def render_three(at, *, seed: int, steps: int = 6):
    at.run()
    set_form(at, first=0, last=2, list="", steps=steps, size=32, seed=seed, every=2)
    press_render(at)
    return run_until(at, render_finished("explorer"), what="the Explorer render")


def test_render_three_channels_ends_with_captioned_grid_chart_downloads_and_link(new_app):
    at = render_three(new_app(), seed=101)

    assert not errors(at)
    assert captions(at) == [THREE]
    result = slot(at, "explorer").result
    assert result.images.shape == (3, 32, 32, 3)
    assert result.steps_done == 6 and not result.stopped
    assert result.history.shape == (6, 3)
    chart = at.get("plotly_chart")
    assert len(chart) == 1
    assert [d.label for d in at.get("download_button")] == ["Download grid (PNG)", "Download all (zip)"]
    study = [link for link in at.get("page_link") if "Neuron page" in link.value]
    assert [link.value for link in study] == [f"Open {LAYER}:0 on the Neuron page"]
    assert study[0].proto.query_string == f"layer={LAYER}&channel=0"
    # The URL now reproduces the render.
    assert at.query_params == {"model": "efficientnet-lite0", "layer": LAYER, "channels": "0-2", "steps": "6",
                               "size": "32", "seed": "101"}


def test_bad_form_inputs_show_the_reason_and_keep_the_previous_grid(new_app):
    at = render_three(new_app(), seed=102, steps=4)
    assert captions(at) == [THREE]

    set_form(at, first=500, last=500)
    press_render(at)
    assert errors(at) == [f"channel 500 is outside layer {LAYER}, which has 112 channels (0-111)"]
    assert captions(at) == [THREE]

    set_form(at, first=0, last=2, steps=0)
    press_render(at)
    assert errors(at) == ["steps must be between 1 and 4096, got 0"]
    assert captions(at) == [THREE]

    set_form(at, steps=4, list="4,x")
    press_render(at)
    assert len(errors(at)) == 1 and "cannot read 'x'" in errors(at)[0]
    assert captions(at) == [THREE]

    set_form(at, list="", first=5, last=2)
    press_render(at)
    assert len(errors(at)) == 1 and "runs backwards" in errors(at)[0]
    assert captions(at) == [THREE]
    assert not at.exception


def test_bad_query_parameters_show_the_reason_and_keep_the_previous_grid(new_app):
    at = render_three(new_app(), seed=103, steps=4)

    at.query_params["channels"] = "500"
    at.run()
    assert errors(at) == [f"This link's settings cannot be rendered: channel 500 is outside layer {LAYER}, "
                          "which has 112 channels (0-111)"]
    assert captions(at) == [THREE]

    at.query_params.update({"channels": "0-2", "steps": "0"})
    at.run()
    assert errors(at) == ["This link's settings cannot be rendered: steps must be between 1 and 4096, got 0"]
    assert captions(at) == [THREE]

    at.query_params.update({"steps": "many"})
    at.run()
    assert errors(at) == ["This link's settings cannot be rendered: steps must be a whole number, got 'many'"]
    assert captions(at) == [THREE]


def test_a_link_renders_its_view_and_a_second_visit_gets_it_from_the_cache(new_app):
    query = {"model": "efficientnet-lite0", "layer": LAYER, "channels": "3,5,7", "steps": "4", "size": "32",
             "seed": "104"}
    at = new_app(query).run()
    # The form shows the link's settings.
    assert at.text_input(key="ex_list").value == "3,5,7"
    assert at.number_input(key="ex_steps").value == 4
    run_until(at, render_finished("explorer"), what="the linked render")
    assert captions(at) == [[f"{LAYER}:3", f"{LAYER}:5", f"{LAYER}:7"]]

    again = new_app(query).run()  # another tab: the finished render is shown on its first run
    assert captions(again) == [[f"{LAYER}:3", f"{LAYER}:5", f"{LAYER}:7"]]
    assert any("from the cache" in info.value for info in again.info)
    assert (slot(again, "explorer").result.images == slot(at, "explorer").result.images).all()


def test_a_model_without_weights_explains_itself_and_a_link_never_renders_another_model(new_app):
    at = new_app({"model": "inceptionv1", "layer": "mixed4a", "channels": "0-1", "steps": "2", "size": "32",
                  "seed": "105"}).run()
    warnings = [w.value for w in at.warning]
    assert any("inception5h.pth" in w for w in warnings), warnings
    assert any("Nothing is rendered with another model in its place" in w for w in warnings), warnings
    assert not at.exception
    at.run()
    assert slot(at, "explorer").job_id is None and slot(at, "explorer").result is None
    assert captions(at) == [], "no EfficientNet-Lite0 channels in the link's place"

    sidebar_warnings = [w.value for w in at.sidebar.warning]
    assert any("weights are not available" in w and "efficientnet-lite0" in w for w in sidebar_warnings)
    # The Explorer keeps working on the default model for a render asked for by hand.
    assert at.selectbox(key=f"ex_layer_efficientnet-lite0").value == LAYER
    assert not errors(at)


def test_a_render_goes_on_while_another_page_is_open_and_stop_keeps_the_partial_grid(new_app):
    at = new_app().run()
    set_form(at, first=0, last=2, list="", steps=4000, size=32, seed=106, every=1)
    press_render(at)
    job = service().get(slot(at, "explorer").job_id)
    run_until(at, lambda a: job.snapshot is not None, what="the first snapshot")
    assert at.get("progress") and "Step" in at.get("progress")[0].text
    assert [b.label for b in at.button if b.key == "ex_stop"] == ["Stop"]

    at.switch_page("pages/layers.py").run()
    client = at.session_state["featviz_client_id"]
    seen = job.clients[client]
    time.sleep(0.3)
    at.run()  # the sidebar polls the Explorer's render from the Layers page
    assert job.clients[client] > seen
    assert job.active

    at.switch_page("pages/explorer.py").run()
    assert at.get("progress"), "the live panel is back"
    # and so are the settings of the render on screen (Streamlit forgets the widgets of hidden pages)
    assert (at.number_input(key="ex_steps").value, at.number_input(key="ex_seed").value) == (4000, 106)
    assert (at.number_input(key="ex_first").value, at.number_input(key="ex_last").value) == (0, 2)
    at.button(key="ex_stop").click().run()
    run_until(at, render_finished("explorer"), what="the stopped render")
    state = slot(at, "explorer")
    assert 1 <= state.result.steps_done < 4000
    assert state.result.stopped
    assert captions(at) == [THREE]
    assert any("Stopped at step" in info.value for info in at.info)


def test_a_second_tab_is_told_its_place_in_the_queue(new_app):
    first = new_app().run()
    set_form(first, first=0, last=2, list="", steps=4000, size=32, seed=107, every=1)
    press_render(first)
    job = service().get(slot(first, "explorer").job_id)
    run_until(first, lambda a: job.state == "running", what="the first render to start")

    second = new_app().run()
    set_form(second, first=3, last=4, list="", steps=4, size=32, seed=108, every=2)
    press_render(second)
    infos = [info.value for info in second.info]
    assert any(text.startswith("Queued: 1 ahead of you") for text in infos), infos

    first.button(key="ex_stop").click().run()
    run_until(second, render_finished("explorer"), what="the queued render")
    assert captions(second) == [[f"{LAYER}:3", f"{LAYER}:4"]]


def test_the_link_keeps_parameters_that_are_not_about_the_render(new_app):
    at = new_app({"utm_source": "lecture", "channels": "0-1", "steps": "3", "size": "32", "seed": "109",
                  "fft": "false"}).run()
    run_until(at, render_finished("explorer"), what="the linked render")
    assert captions(at) == [[f"{LAYER}:0", f"{LAYER}:1"]]
    assert at.query_params == {"utm_source": "lecture", "model": "efficientnet-lite0", "layer": LAYER,
                               "channels": "0-1", "steps": "3", "size": "32", "seed": "109", "fft": "false"}
    assert at.toggle(key="ex_fft").value is False


def test_links_reproduce_every_form_setting_exactly():
    from featviz_core.request import RenderRequest
    from featviz_ui.address_bar import request_params

    request = RenderRequest(model="efficientnet-lite0", layer=LAYER, channels=(1, 4, 5, 6), steps=33, size=48,
                            seed=7, fft=False, decorrelate=False, tv=0.000123456789, l2=1e-7, lr=0.0123456789,
                            transforms="distill")
    params = request_params(request)
    assert params["channels"] == "1,4-6" and params["lr"] == "0.0123456789" and params["fft"] == "false"
    assert RenderRequest.from_mapping(params) == request
    assert set(request_params(request.replace(fft=True, decorrelate=True, tv=0.0, l2=0.0, lr=0.05,
                                              transforms="standard"))) == {"model", "layer", "channels", "steps",
                                                                           "size", "seed"}


def test_quality_buttons_set_the_steps(new_app):
    from featviz_core.settings.step_presets import FAST_STEPS, SEED_STEPS

    at = new_app()
    at.run()
    at.button(key="ex_quality_fast").click().run()
    assert at.number_input(key="ex_steps").value == FAST_STEPS["efficientnet-lite0"] < SEED_STEPS
    # fast also picks this machine's fastest compute path; seed puts back float32 and contiguous memory
    assert (at.selectbox(key="ex_precision").value, at.selectbox(key="ex_memory_format").value) == ("auto", "auto")
    # and its optimizer: NAdam at 0.1 with the tail schedule
    assert (at.selectbox(key="ex_optimizer").value, at.number_input(key="ex_lr").value,
            at.selectbox(key="ex_lr_schedule").value) == ("nadam", 0.1, "tail")
    at.button(key="ex_quality_seed").click().run()
    assert at.number_input(key="ex_steps").value == SEED_STEPS
    assert (at.selectbox(key="ex_precision").value, at.selectbox(key="ex_memory_format").value) == (
        "float32", "contiguous")
    assert (at.selectbox(key="ex_optimizer").value, at.number_input(key="ex_lr").value,
            at.selectbox(key="ex_lr_schedule").value) == ("auto", 0.05, "constant")
    # with MACO in the form's settings (as after a MACO render), Fast leaves MACO's own optimizer alone
    at.session_state["ex_param"] = "maco"
    at.run()
    at.button(key="ex_quality_fast").click().run()
    assert (at.selectbox(key="ex_optimizer").value, at.selectbox(key="ex_lr_schedule").value) == ("auto", "constant")
    assert not errors(at)


def test_fast_then_maco_before_render_runs_macos_own_optimizer(new_app):
    """Fast sets Fourier's optimizer; a switch to MACO in the form (not yet submitted, so Fast could not see it)
    must not run MACO with it. Settings typed in by hand are kept."""
    from app_helpers import submitted

    at = new_app()
    at.run()
    at.button(key="ex_quality_fast").click().run()
    set_form(at, first=0, last=1, list="", steps=2, size=32, every=1, param="maco")
    press_render(at)
    run_until(at, render_finished("explorer"), what="the MACO render")
    request = submitted(at)
    assert request.param == "maco" and (request.optimizer, request.lr, request.lr_schedule) == ("auto", 0.05, "constant")
    assert (at.selectbox(key="ex_optimizer").value, at.number_input(key="ex_lr").value,
            at.selectbox(key="ex_lr_schedule").value) == ("auto", 0.05, "constant")  # the form shows what ran
    assert not errors(at)
    # chosen by hand for MACO: kept
    set_form(at, optimizer="nadam", lr=0.1, lr_schedule="tail", seed=3)
    press_render(at)
    run_until(at, render_finished("explorer"), what="the second MACO render")
    assert (submitted(at).optimizer, submitted(at).lr, submitted(at).lr_schedule) == ("nadam", 0.1, "tail")
