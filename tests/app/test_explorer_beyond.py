"""Explorer beyond one image per channel: objectives named as they are (neuron positions, a whole layer, a free
expression), negatives beside their positives, diverse images grouped per objective, interpolation frames
in one row, and the new fields' bad input answered with the request's message while the grid stays."""

from __future__ import annotations

from app_helpers import captions, errors, press_render, render_finished, run_until, service, set_form, slot

EARLY = "_blocks.4"  # 40 channels, cheap: tests render 2 steps at 32 px
CHEAP = {"model": "efficientnet-lite0", "layer": EARLY, "steps": "2", "size": "32"}


def rendered(new_app, **query):
    at = new_app({**CHEAP, **query}).run()
    return run_until(at, render_finished("explorer"), what="the linked render")


def subheaders(at) -> list[str]:
    return [s.value for s in at.subheader]


def study_links(at) -> list[str]:
    return [link.value for link in at.get("page_link") if "Neuron page" in link.value]


def bold_titles(at) -> list[str]:
    return [m.value.strip("*") for m in at.markdown if m.value.startswith("**") and EARLY in m.value]


def test_a_neuron_at_a_position_says_so_in_the_form_captions_and_heading(new_app):
    at = rendered(new_app, channels="0-1", objective="neuron", position="2,3", seed="201")
    assert not errors(at)
    assert at.selectbox(key="ex_objective").value == "neuron"
    assert at.text_input(key="ex_position").value == "2,3"
    assert captions(at) == [[f"{EARLY}:0 neuron@2,3", f"{EARLY}:1 neuron@2,3"]]
    assert subheaders(at) == [f"{EARLY}, the neuron at 2,3 of channels 0-1"]
    assert study_links(at) == [f"Open {EARLY}:0 on the Neuron page"]  # a neuron still belongs to a channel


def test_a_whole_layer_an_expression_and_a_negation_are_named_as_they_are(new_app):
    at = rendered(new_app, objective="layer", seed="202")
    assert captions(at) == [[f"dream({EARLY})"]]
    assert subheaders(at) == [f"{EARLY}, the whole layer (DeepDream)"]
    assert study_links(at) == [], "a whole layer has no one channel to study"
    assert "channel" not in at.query_params and at.query_params["objective"] == "layer"

    expression = f"{EARLY}:3 - 0.5*{EARLY}:7"
    set_form(at, objective="channel", expression=expression, seed=203)
    press_render(at)
    run_until(at, render_finished("explorer"), what="the expression's render")
    assert not errors(at)
    assert captions(at) == [[expression]]
    assert subheaders(at) == [f"Free objective: {expression}"]
    assert study_links(at) == []
    assert at.query_params["expression"] == expression

    set_form(at, expression="", first=4, last=4, list="", negate=True, seed=204)
    press_render(at)
    run_until(at, render_finished("explorer"), what="the negated render")
    assert captions(at) == [[f"-{EARLY}:4"]]
    assert subheaders(at) == [f"{EARLY}, channel 4 · negated (minimized)"]
    assert at.query_params["negate"] == "true"


def test_negatives_are_shown_beside_their_positives_while_rendering_and_after(new_app):
    at = new_app().run()
    at.selectbox(key="ex_layer_efficientnet-lite0").set_value(EARLY)
    set_form(at, first=0, last=1, list="", steps=4000, size=32, seed=205, every=1, negative=True)
    press_render(at)
    job = service().get(slot(at, "explorer").job_id)
    run_until(at, lambda a: job.snapshot is not None and bool(captions(a)), what="the first snapshot")
    pairs = [[f"{EARLY}:0", f"-{EARLY}:0"], [f"{EARLY}:1", f"-{EARLY}:1"]]
    assert captions(at) == pairs, "live snapshots use the pairs too"
    at.button(key="ex_stop").click().run()
    run_until(at, render_finished("explorer"), what="the stopped render")
    assert captions(at) == pairs
    assert subheaders(at) == [f"{EARLY}, channels 0-1 · with negatives"]
    assert any("on the right (its negative)" in c.value for c in at.caption)


def test_diverse_images_are_grouped_per_objective_with_negatives_in_a_row_below(new_app):
    at = rendered(new_app, channels="2,5", diversity="2", seed="206")
    assert captions(at) == [[f"{EARLY}:2 #1", f"{EARLY}:2 #2"], [f"{EARLY}:5 #1", f"{EARLY}:5 #2"]]
    assert bold_titles(at) == [f"{EARLY}:2", f"{EARLY}:5"]
    assert subheaders(at) == [f"{EARLY}, channels 2,5 · 2 diverse images each"]

    set_form(at, first=2, last=2, list="", negative=True, seed=207)
    press_render(at)
    run_until(at, render_finished("explorer"), what="the diverse render with negatives")
    assert captions(at) == [[f"{EARLY}:2 #1", f"{EARLY}:2 #2"], [f"-{EARLY}:2 #1", f"-{EARLY}:2 #2"]]
    rows = [c.value for c in at.caption]
    assert rows.index("excites (maximized)") < rows.index("suppresses (negated)")


def test_interpolation_frames_are_one_row_in_order(new_app):
    at = rendered(new_app, interpolate=f"{EARLY}:1,{EARLY}:2", frames="3", seed="208")
    assert not errors(at)
    assert captions(at) == [[f"{EARLY}:1 to 2, 1/3", f"{EARLY}:1 to 2, 2/3", f"{EARLY}:1 to 2, 3/3"]]
    assert subheaders(at) == [f"Interpolation from {EARLY}:1 to {EARLY}:2, 3 frames"]
    assert study_links(at) == [], "a blend of two channels is not one channel"
    assert at.text_input(key="ex_interpolate").value == f"{EARLY}:1,{EARLY}:2"
    assert at.number_input(key="ex_frames").value == 3
    assert "channels" not in at.query_params


def test_bad_input_in_the_new_fields_shows_the_reason_and_keeps_the_grid(new_app):
    at = rendered(new_app, channels="0-1", seed="209")
    grid = [[f"{EARLY}:0", f"{EARLY}:1"]]
    assert captions(at) == grid

    def refused(expected: str, **fields) -> None:
        set_form(at, **fields)
        press_render(at)
        assert errors(at) == [expected], errors(at)
        assert captions(at) == grid
        assert slot(at, "explorer").job_id is None

    refused(f"neuron position 99,0 is outside layer {EARLY}, whose activations are 28x28 at this image size",
            objective="neuron", position="99,0")
    refused("neuron position: cannot read 'middle'; write row,column like 7,7 (blank: the centre)",
            position="middle")
    refused("a position needs an objective that reads one (neuron); choose it or clear the position",
            objective="channel", position="3,3")
    refused("interpolation: cannot read 'mixed4a:3'; write two channels LAYER:A,LAYER:B like mixed4a:3,mixed4a:7",
            position="", interpolate="mixed4a:3")
    refused("diversity (images per objective) must be between 1 and 8, got 99", interpolate="", diversity=99)
    refused("negatives beside positives already show both signs; turn off 'negate' or 'negative'",
            diversity=1, negate=True, negative=True)
    refused("the pull toward the photo needs a starting photo; give one (init) or set the pull weight to 0",
            negate=False, negative=False, init_l2=0.5)
    assert not at.exception


def test_transparent_images_are_shown_on_a_checkerboard():
    import numpy as np

    from featviz_ui.views import display_tiles

    image = np.zeros((1, 16, 16, 4), np.uint8)
    image[0, :, :, :3] = (200, 30, 30)
    image[0, :, 8:, 3] = 255  # right half opaque, left half fully transparent
    (tile,) = display_tiles(image, side=160)
    assert tile.shape == (160, 160, 3)
    assert tile[:, 80:].reshape(-1, 3).tolist() == [[200, 30, 30]] * (160 * 80)
    left = tile[:, :80].reshape(-1, 3)
    assert {tuple(p) for p in left.tolist()} == {(255, 255, 255), (204, 204, 204)}, "grey and white squares"
    opaque = np.full((1, 16, 16, 3), 77, np.uint8)
    assert (display_tiles(opaque, side=160)[0] == 77).all()


def test_a_transparent_render_from_the_cache_is_shown_with_its_captions(new_app):
    import numpy as np

    from featviz_core.links import request_params
    from featviz_core.render import RenderResult
    from featviz_core.request import RenderRequest

    request = RenderRequest(model="efficientnet-lite0", layer=EARLY, channels=(0, 1), steps=2, size=32, seed=210,
                            alpha=True, negative=True)
    images = np.random.default_rng(210).integers(0, 256, (4, 32, 32, 4), dtype=np.uint8)
    service().cache.put(RenderResult(request=request, images=images, labels=request.labels(),
                                     scores=np.zeros(4, np.float32), history=np.zeros((2, 4), np.float32),
                                     steps_done=2, elapsed_s=0.1, device="cpu"))
    at = new_app(request_params(request)).run()
    assert not errors(at) and not at.exception
    assert captions(at) == [[f"{EARLY}:0", f"-{EARLY}:0"], [f"{EARLY}:1", f"-{EARLY}:1"]]
    assert subheaders(at) == [f"{EARLY}, channels 0-1 · with negatives, transparent"]
    assert slot(at, "explorer").result.images.shape == (4, 32, 32, 4)
    assert [d.label for d in at.get("download_button")] == ["Download grid (PNG)", "Download all (zip)"]
    at.toggle(key="ex_figures_detail").set_value(True)
    at.toggle(key="ex_figures_summary").set_value(True).run()
    assert not at.exception, "the figures of a transparent render are made"
    assert len(at.get("download_button")) == 4


def test_a_hand_written_plus_in_a_linked_expression_means_plus(new_app):
    # The address bar holds ?...&expression=_blocks.4:3+_blocks.4:7 as typed; Streamlit reads '+' as a space.
    at = rendered(new_app, expression=f"{EARLY}:3 {EARLY}:7", seed="205")
    assert not errors(at)
    assert slot(at, "explorer").result.request.expression == f"{EARLY}:3+{EARLY}:7"
    assert [t.weight for t in slot(at, "explorer").result.request.objectives()[0].terms] == [1.0, 1.0]
    assert at.query_params["expression"] == f"{EARLY}:3+{EARLY}:7"  # written back as it reads (urlencode: %2B)
