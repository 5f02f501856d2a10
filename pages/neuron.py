"""Neuron: one channel in depth: a high-resolution render, its optimization curve, snapshots along the
way, and the same channel optimized in plain pixels for comparison."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from featviz_core.links import NEURON_FORM, neuron_requests
from featviz_ui import (
    dataset_examples, figure_downloads, finished_renders, form, layout, model_choice, notebook_figures, present,
    views
)
from featviz_ui.shell import require_entry_point
from featviz_ui.slots import current_job, forget, get_slot, poll, stop, submit

require_entry_point()

MAIN, PIXEL = "neuron", "neuron_pixel"
SETTINGS = "ne_settings_open"  # the settings panel is open (it folds once a render runs)
POLL_S = 0.5

st.title("Neuron")
INTRO = ("One channel, studied closely: a larger image with more steps, the objective as it climbs, "
         "snapshots of the image along the way, and the same channel optimized directly in pixels.")

model = model_choice.current_model()
main_slot, pixel_slot = get_slot(MAIN), get_slot(PIXEL)
ss = st.session_state
layer_key = f"ne_layer_{model}"
# A link (?layer=...&channel=..., from the Explorer, the Gallery or a lecture list) presets the form once; it
# does not start a render, but shows the renders when they are prepared (featviz_core.links reads the same
# link for `warm` and the Lecture page, and NEURON_FORM is where this form starts).
wanted = {name: st.query_params.get(name) for name in ("layer", "channel")}
linked = any(wanted.values()) and wanted != ss.get("ne_url_seen")
if linked:
    ss["ne_url_seen"] = wanted
    if wanted["layer"] in {info.name for info in model_choice.layers(model)}:
        ss[layer_key] = wanted["layer"]
    if (wanted["channel"] or "").isdecimal():  # int() reads every decimal digit (not "³")
        ss["ne_channel"] = int(wanted["channel"])
elif "ne_steps" not in ss and main_slot.result is not None and main_slot.result.request.model == model:
    shown = main_slot.result.request  # back from another page: show the settings of the render on screen
    ss[layer_key], ss["ne_channel"] = shown.layer, shown.channels[0]
    ss["ne_steps"], ss["ne_size"], ss["ne_seed"] = shown.steps, shown.size, shown.seed
table = model_choice.layers(model, featured_only=True, always=(ss.get(layer_key, ""),))
layer_names = [info.name for info in table]
layer_text = {info.name: model_choice.layer_label(info) for info in table}
if ss.get(layer_key) not in layer_names:
    from featviz_core.models import get_spec

    ss[layer_key] = get_spec(model).default_layer
for name, value in {"ne_channel": 0, "ne_steps": NEURON_FORM["steps"], "ne_size": NEURON_FORM["size"],
                    "ne_seed": NEURON_FORM["seed"], "ne_keep": "16, 64, 256, 1024",
                    "ne_compare": NEURON_FORM["compare"]}.items():
    ss.setdefault(name, value)


def keep_steps(text: str, steps: int) -> tuple[int, ...]:
    """"16, 64, 256" -> (16, 64, 256); steps beyond the render's length are dropped."""
    from featviz_core.errors import RequestError

    chosen = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) < 1:
            raise RequestError(f"snapshot steps must be whole numbers from 1 up, like 16, 64, 256; got {part!r}")
        chosen.append(int(part))
    return tuple(sorted({s for s in chosen if s <= steps} | {steps}))


def form_request():
    """The form's (requests, snapshot steps to keep): the render, then its pixel twin when the form compares
    (featviz_core.links.neuron_requests); raises RequestError with the reason."""
    requests = neuron_requests(model, ss[layer_key], int(ss["ne_channel"]), steps=int(ss["ne_steps"]),
                               size=int(ss["ne_size"]), seed=int(ss["ne_seed"]), compare=bool(ss["ne_compare"]))
    return requests, keep_steps(ss["ne_keep"], requests[0].steps)


def show_prepared() -> None:
    """Show the form's renders when all of them are prepared (`warm`, the Lecture page): queues nothing."""
    from featviz_core.errors import FeatvizError
    from featviz_core.service.prepared import prepared_result
    from featviz_ui.slots import service

    if any(current_job(slot) is not None for slot in (main_slot, pixel_slot)):
        return  # a render of this tab's is on its way: it stays
    try:
        requests, _ = form_request()
    except FeatvizError:
        return  # the form shows the reason when Render is pressed
    if all(prepared_result(request, service().cache) is not None for request in requests):
        for slot, request in zip((main_slot, pixel_slot), requests):
            finished_renders.show(slot, request)
        main_slot.kept = {}  # snapshots of an earlier render are not this one's


if linked:
    show_prepared()


def start() -> bool:
    """Submit the form's render (and its plain-pixel twin when compared) for this tab. Called from
    callbacks, so a click's renders are queued before anything of its run can be interrupted. False (with
    the reason in the slot) when the settings are invalid or the queue is full; the last images stay."""
    from featviz_core.errors import FeatvizError

    try:
        (request, *twin), chosen = form_request()
    except FeatvizError as exc:
        main_slot.error = str(exc)
        return False
    every = math.gcd(*chosen, 32)  # a snapshot lands on every chosen step
    if not submit(main_slot, request, snapshot_every=every, keep_steps=chosen):
        return False
    pixel_slot.result, pixel_slot.error = None, ""
    if twin:
        submit(pixel_slot, twin[0], snapshot_every=32)
    else:
        forget(pixel_slot)  # a comparison with another render would mislead
    return True


def start_preset(figure_preset) -> None:
    """A figure preset's callback: the form shows the figure's settings, then it renders."""
    figure = figure_preset.request(model)
    ss[layer_key], ss["ne_channel"], ss["ne_steps"] = figure.layer, figure.channels[0], figure.steps
    ss["ne_size"], ss["ne_seed"], ss["ne_compare"] = figure.size, figure.seed, figure_preset.compare_pixels
    ss.setdefault("ne_keep", "16, 64, 256, 1024")
    layout.start_on_click(SETTINGS, start)


notebook_figures.buttons((notebook_figures.FFT_VS_PIXEL, notebook_figures.HIGH_RES), model, key="ne_preset", on_pick=start_preset)
busy = any(current_job(slot) is not None for slot in (main_slot, pixel_slot))
panel = layout.settings_panel(SETTINGS, start_open=not busy and main_slot.result is None)
panel.caption(INTRO)
with panel.form("neuron_form", enter_to_submit=False):
    st.caption(f"Model: **{model}** (choose it in the sidebar)")
    layer_col, channel_col, steps_col, size_col, seed_col = st.columns([3, 1, 1, 1, 1])
    layer_col.selectbox("Layer", layer_names, key=layer_key, format_func=layer_text.get)
    channel_col.number_input("Channel", min_value=0, step=1, key="ne_channel")
    for column, name, step in ((steps_col, "steps", 128), (size_col, "size", 32), (seed_col, "seed", 1)):
        form.draw(column, name, "ne", step=step)  # declared in featviz_core.settings; larger steps here
    keep_col, compare_col = st.columns([3, 2])
    keep_col.text_input("Keep snapshots at steps", key="ne_keep",
                        help="The image at these steps is kept as the render passes them (the last step "
                             "is always kept).")
    compare_col.toggle("Compare with plain pixels", key="ne_compare",
                       help="Also optimize the same channel and seed directly in RGB pixels, without the "
                            "Fourier parameterization or color decorrelation.")
    st.form_submit_button("Render", type="primary", icon=":material/play_arrow:", on_click=layout.start_on_click,
                          args=(SETTINGS, start))


def stop_both() -> None:
    stop(main_slot)
    stop(pixel_slot)


def kept_row(slot) -> None:
    if not slot.kept:
        return
    steps = sorted(slot.kept)
    images = np.stack([slot.kept[s][1] for s in steps])
    captions = [f"step {slot.kept[s][0]}" for s in steps]
    views.image_grid(images, captions, side=160)


@st.fragment(run_every=POLL_S)
def live() -> None:
    main_job, pixel_job = poll(main_slot), poll(pixel_slot)
    if main_job is None and pixel_job is None:
        st.rerun()
    if main_job is not None:
        views.progress_panel(main_slot, main_job, label="Fourier render")
        if main_job.snapshot is not None:
            image_col, kept_col = st.columns([1, 2])
            image_col.image(main_job.snapshot.images[0], caption=main_job.request.labels()[0], width=256)
            with kept_col:
                st.markdown("**Snapshots kept so far**")
                kept_row(main_slot)
    if pixel_job is not None:
        views.progress_panel(pixel_slot, pixel_job, label="Pixel render")
    st.button("Stop", key="ne_stop", on_click=stop_both, icon=":material/stop_circle:",
              help="End the renders now and keep the images so far.")


def show_result(result) -> None:
    label = result.labels[0]
    st.subheader(label)
    st.caption(views.result_caption(result))
    image_col, chart_col = st.columns([2, 3])
    image_col.image(result.images[0], caption=f"{label} · objective {float(result.scores[0]):.3f}",
                    width=min(512, max(256, result.request.size)))
    series = [("Fourier + decorrelated", np.asarray(result.history)[:, 0])]
    pixel = pixel_slot.result
    same = pixel is not None and pixel.request.replace(fft=True, decorrelate=True) == result.request
    if same:
        series.append(("pixels", np.asarray(pixel.history)[:, 0]))
    chart_col.markdown("**Objective over the optimization**")
    chart_col.plotly_chart(views.objective_chart(series), key="ne_chart", config={"displaylogo": False})
    present.controls(result.request, key="ne")
    st.markdown("**Snapshots along the way**")
    if main_slot.kept:
        kept_row(main_slot)
    else:
        st.caption("This render came straight from the cache, so no snapshots were taken; change the seed "
                   "to watch a new one form.")
    if same:
        st.markdown("**Fourier vs pixel parameterization** (same channel, seed and steps)")
        fourier_col, pixel_col, _ = st.columns([1, 1, 1])
        side = min(384, max(192, result.request.size))
        fourier_col.image(result.images[0], width=side,
                          caption=f"Fourier + decorrelated color · objective {float(result.scores[0]):.3f}")
        pixel_col.image(pixel.images[0], width=side,
                        caption=f"Plain pixels · objective {float(pixel.scores[0]):.3f}")
        st.caption("Optimizing pixels directly lets high frequencies the network barely cares about grow "
                   "unchecked; the Fourier basis, scaled like natural images, favours broad structure.")
    views.downloads(result, key="ne_download", grid_label="Download image (PNG)")
    figure_downloads.figure_options(result, key="ne_figures", stem=views.file_stem(result))


running = [poll(slot) for slot in (main_slot, pixel_slot)]  # also collects renders that ended unwatched
for slot in (main_slot, pixel_slot):
    views.slot_messages(slot)
if any(job is not None for job in running):
    live()
elif main_slot.result is not None:
    show_result(main_slot.result)
else:
    st.info("Pick a layer and a channel, then press **Render**. The defaults (256 px, 1024 steps) take a "
            "while on a CPU; fewer steps or a smaller image are quicker.", icon=":material/touch_app:")

# Dataset examples of the form's channel, when an examples store of this model covers its layer, and the
# visitor's own zip of images searched for them through the render queue.
dataset_examples.with_upload(model, ss[layer_key], int(ss["ne_channel"]), key="ne_examples")
