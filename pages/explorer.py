"""Explorer: many channels of one layer, optimized together in one batch, watched as they form."""

from __future__ import annotations

import streamlit as st

from featviz_core.settings.declarations import tail_words
from featviz_core.settings.step_presets import FAST_STEPS, PRESET_OPTIMIZER, SEED_STEPS, preset_settings
from featviz_ui import (
    address_bar, figure_downloads, finished_renders, form, layout, model_choice, notebook_figures, photo_start,
    present, views
)
from featviz_ui.shell import require_entry_point
from featviz_ui.slots import current_job, get_slot, poll, stop, submit

require_entry_point()

SLOT = "explorer"
PREFIX = "ex"  # session-state keys of the form's settings: ex_steps, ex_size, ...
SETTINGS = "ex_settings_open"  # the settings panel is open (it folds once a render runs)
PHOTO, USE_PHOTO = "ex_init", "ex_use_photo"  # the photo a render starts from: set by a Photo page link
FAST_SET = "ex_fast_optimizer"  # the Fourier optimizer settings the Fast button last put in the form
POLL_S = 0.5

st.title("Explorer")
INTRO = ("Choose a layer and some of its channels. featviz optimizes one image per channel, all in one "
         "batch, so that each image excites its channel as strongly as it can. The images appear while "
         "they form; renders wait their turn in a queue shared by everyone using this server.")

model = model_choice.current_model()
slot = get_slot(SLOT)
waiting = address_bar.waiting_notice()  # a link waits for its model's weights: nothing is shown in its place
ss = st.session_state
layer_key = f"ex_layer_{model}"


def preset(request) -> None:
    """Put a request's settings into the form (before its widgets are drawn)."""
    from featviz_core.objectives.targets import format_channels

    channels = request.channels or address_bar.explorer_defaults(request.model).channels
    contiguous = list(channels) == list(range(channels[0], channels[0] + len(channels)))
    ss[f"ex_layer_{request.model}"] = request.layer
    ss["ex_first"], ss["ex_last"] = (channels[0], channels[-1]) if contiguous else (0, 0)
    ss["ex_list"] = "" if contiguous else format_channels(channels)
    ss[PHOTO], ss[USE_PHOTO] = request.init, bool(request.init)  # not a widget: photos come from the Photo page
    form.fill(request, PREFIX)


def form_request():
    """The form's settings as a validated RenderRequest (raises RequestError with the reason)."""
    from featviz_core.request import RenderRequest

    # As text: the request reads channels only when its objective uses them (not a whole layer, an expression
    # or an interpolation), so leftovers in these boxes never block such a render.
    channels = ss["ex_list"].strip() or f"{int(ss['ex_first'])}-{int(ss['ex_last'])}"
    init = ss.get(PHOTO, "") if ss.get(USE_PHOTO) else ""
    return RenderRequest(model=model, layer=ss[layer_key], channels=channels, init=init,
                         **own_optimizer(form.values(PREFIX)))


def own_optimizer(values: dict) -> dict:
    """The form's values, with the Fast button's Fourier optimizer (NAdam at 0.1, the tail schedule) taken back
    when the parameterization was switched in the form after pressing it (the button cannot see a switch not
    yet submitted) and those settings were left as Fast set them: that parameterization then runs its own
    optimizer, as Fast sets it for MACO. Called from Render's callback, so the form shows what ran."""
    fast = ss.get(FAST_SET) or {}
    if values.get("param", "fourier") == "fourier" or not fast or any(values.get(k) != v for k, v in fast.items()):
        return values
    ss[FAST_SET] = {}
    for name, value in PRESET_OPTIMIZER["seed"].items():
        values[name] = ss[form.key(PREFIX, name)] = value
    return values


def start(request=None) -> bool:
    """Submit ``request`` (default: the form's settings) for this tab. Called from callbacks, so a click's
    render is queued before anything else of its run can be interrupted. False (with the reason in the
    slot) when the settings are invalid or the queue is full; the last images stay."""
    from featviz_core.errors import FeatvizError

    try:
        request = form_request() if request is None else request
    except FeatvizError as exc:
        slot.error = str(exc)
        return False
    return submit(slot, request, snapshot_every=int(ss.get("ex_every", 16)))


def start_preset(figure) -> None:
    """A figure preset's callback: the form takes the figure's settings, and it renders, as Render does."""
    request = figure.request(model)
    preset(request)
    layout.start_on_click(SETTINGS, start, request)


# A link is handled before the page draws anything: drawing is where a run can be interrupted, and the
# link's outcome is taken from session state only once.
intake = address_bar.take_intake()
if intake is not None and intake.request is not None:
    preset(intake.request)
    if intake.render:  # a link to a render starts it and shows it in the settings' place, as Render does
        layout.start_on_click(SETTINGS, start, intake.request)
    else:  # a link that only fills in the form shows its render when that is prepared
        finished_renders.show(slot, intake.request)
if intake is not None and intake.error:
    slot.error = intake.error
elif form.key(PREFIX, "steps") not in ss:  # back from another page (Streamlit forgets the widgets of pages not shown)
    job = current_job(slot)
    shown = job.request if job is not None else slot.result.request if slot.result is not None else None
    if shown is not None and shown.model == model:
        preset(shown)
defaults = address_bar.explorer_defaults(model)
if intake is None and not waiting:  # a first visit opens on the default render when it is prepared (`warm`)
    finished_renders.first_screen(slot, defaults)
if layer_key not in ss:
    ss[layer_key] = defaults.layer
for name, value in {"ex_first": defaults.channels[0], "ex_last": defaults.channels[-1], "ex_list": "",
                    "ex_every": 16}.items():
    ss.setdefault(name, value)
form.set_defaults(defaults, PREFIX)

notebook_figures.buttons((notebook_figures.SEED_GRID,), model, key="ex_preset", on_pick=start_preset)
panel = layout.settings_panel(SETTINGS, start_open=current_job(slot) is None and slot.result is None)
panel.caption(INTRO)
show_all = panel.toggle("List every layer, not only the main ones", key="ex_all_layers")
table = model_choice.layers(model, featured_only=not show_all, always=(ss[layer_key],))
layer_names = [info.name for info in table]
layer_text = {info.name: model_choice.layer_label(info) for info in table}
if ss[layer_key] not in layer_names:
    ss[layer_key] = defaults.layer


def quality_preset(quality: str) -> None:
    """Set the form's steps, compute path and optimizer to a quality preset's (featviz_core.settings.step_presets)."""
    param = ss.get(form.key(PREFIX, "param"), "fourier")
    settings = preset_settings(quality, model, param)
    for name, value in settings.items():
        ss[form.key(PREFIX, name)] = value
    fast = quality == "fast"
    ss[FAST_SET] = {name: settings[name] for name in PRESET_OPTIMIZER["fast"] if fast and name in settings}


if model in FAST_STEPS:  # quality presets set the form's steps: the seed's 512, or the measured fast count
    seed_button, fast_button, _ = panel.columns([3, 2, 5])  # wide enough for "Seed quality (512 steps)"
    seed_button.button(f"Seed quality ({SEED_STEPS} steps)", key="ex_quality_seed", on_click=quality_preset,
                       args=("seed",), help="Lucent's default step count, in float32, with Adam at 0.05.")
    fast_button.button(f"Fast ({FAST_STEPS[model]} steps)", key="ex_quality_fast", on_click=quality_preset,
                       args=("fast",),
                       help="Where featviz reaches Lucent's 512-step quality on this model (measured; see BENCHMARKS.md), "
                            "on this machine's fastest compute path (precision and memory layout auto), with NAdam at 0.1 "
                            f"and the rate {tail_words()}.")

with panel.form("explorer_form", enter_to_submit=False):
    st.caption(f"Model: **{model}** (choose it in the sidebar)")
    left, first, last, listed = st.columns([3, 1, 1, 2])
    left.selectbox("Layer", layer_names, key=layer_key, format_func=layer_text.get,
                   help="Channel counts and sizes are for a 224 px input.")
    first.number_input("First channel", min_value=0, step=1, key="ex_first")
    last.number_input("Last channel", min_value=0, step=1, key="ex_last")
    listed.text_input("Or a list of channels", key="ex_list", placeholder="e.g. 3,7,12 or 0-4,9",
                      help="When filled in, this list is used instead of first-last.")
    steps, size, seed, every = st.columns(4)
    for column, name in ((steps, "steps"), (size, "size"), (seed, "seed")):
        form.draw(column, name, PREFIX)
    every.number_input("Snapshot every (steps)", min_value=1, step=1, key="ex_every",
                       help="How often the live images are refreshed while rendering.")
    param, robust, penalty = st.columns(3)
    for column, names in ((param, ("fft", "decorrelate", "param", "optimizer")),
                          (robust, ("transforms", "lr", "lr_schedule", "precision")), (penalty, ("tv", "l2", "memory_format"))):
        for name in names:
            form.draw(column, name, PREFIX)
    title, rows = form.OBJECTIVE_PANEL
    form.draw_rows(st.expander(title), rows, PREFIX)
    title, rows = form.BEYOND_PANEL
    with st.expander(title):
        form.draw_rows(st, rows, PREFIX)
        photo, pull = st.columns([3, 1])
        photo_start.choice(photo, ss.get(PHOTO, ""), key=USE_PHOTO)
        form.draw(pull, "init_l2", PREFIX)
    st.form_submit_button("Render", type="primary", icon=":material/play_arrow:",
                          on_click=layout.start_on_click, args=(SETTINGS, start))

if waiting:
    st.warning(waiting, icon=":material/download:")


def tile_side(size: int) -> int:
    return 160 if size <= 160 else min(size, 256)


@st.fragment(run_every=POLL_S)
def live() -> None:
    """Progress and the current images, redrawn every POLL_S seconds while the job runs."""
    job = poll(slot)
    if job is None:  # finished: redraw the page with the result
        st.rerun()
    views.progress_panel(slot, job)
    if job.snapshot is not None:
        views.arranged_grid(job.snapshot.images, job.request.labels(), job.request, side=tile_side(job.request.size))
    st.button("Stop", key="ex_stop", on_click=stop, args=(slot,), icon=":material/stop_circle:",
              disabled=slot.stopping, help="End the render now and keep the images so far.")


def show_result(result) -> None:
    import numpy as np

    from featviz_core.words import heading

    request = result.request
    st.subheader(heading(request))
    st.caption(views.result_caption(result))
    views.arranged_grid(result.images, result.labels, request, side=tile_side(request.size))
    present.controls(request, key="ex")
    st.markdown("**Objective of each image over the optimization**")
    st.plotly_chart(views.history_chart(result), key="ex_chart", config={"displaylogo": False})
    views.downloads(result, key="ex_download")
    figure_downloads.figure_options(result, key="ex_figures", stem=views.file_stem(result))
    if request.channels:  # one image per channel (not a whole layer, an expression or an interpolation)
        pick, link = st.columns([1, 3], vertical_alignment="bottom")
        channel = pick.selectbox("Study one channel in depth", request.channels, key="ex_study")
        link.page_link("pages/neuron.py", label=f"Open {request.layer}:{channel} on the Neuron page",
                       icon=":material/center_focus_strong:",
                       query_params={"layer": request.layer, "channel": str(channel)})
    with st.expander("Final objective of each image (without random transforms)"):
        st.dataframe({"image": list(result.labels), "objective": np.round(np.asarray(result.scores, float), 4)},
                     hide_index=True)


job = poll(slot)  # also collects a render that ended while no page was polling it
views.slot_messages(slot)
if job is not None:
    if not waiting:  # the address bar links to the render on screen
        address_bar.sync(job.request)
    live()
elif slot.result is not None:
    show_result(slot.result)
    if not waiting:  # the address bar keeps a waiting link until it can be shown
        address_bar.sync(slot.result.request)
elif not waiting:
    st.info("Press **Render** to see what the chosen channels respond to.", icon=":material/touch_app:")
