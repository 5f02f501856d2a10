"""Gallery: every channel of a layer from an atlas (rendered ahead of time), 60 to a page, read from disk
without a model; a click on a channel opens it on the Neuron page. With an examples store of the same
weights, each tile also shows the dataset images that excite its channel most, and "More" their full views
with heatmaps."""

from __future__ import annotations

import streamlit as st

from featviz_ui import dataset_examples, gallery_tiles, model_choice, views
from featviz_ui.shell import require_entry_point
from featviz_ui.slots import get_slot, is_active, poll, submit

require_entry_point()

SLOT = "gallery"
POLL_S = 1.0
NEURON_PAGE, EXPLORER_PAGE = "pages/neuron.py", "pages/explorer.py"

st.title("Gallery")
st.caption("Every channel of a layer at a glance, from an atlas rendered ahead of time. Click a channel's number "
           "to study it on the Neuron page.")

model = model_choice.selected_model()
stores = gallery_tiles.stores_of(model)
if not stores:  # the server fills one by itself; visitors get progress and a button, not a command
    from featviz_ui.atlas_fill import empty_gallery

    empty_gallery(model, gallery_tiles.stores_of)
    st.stop()

ss = st.session_state
slot = get_slot(SLOT)
labels = {str(store.path): gallery_tiles.store_label(store) for store in stores}
if ss.get("ga_store") not in labels:
    ss["ga_store"] = next(iter(labels))
store = next(s for s in stores if str(s.path) == ss["ga_store"])
layer_names = list(store.activations)
if ss.get("ga_layer") not in layer_names:
    ss["ga_layer"] = layer_names[0]
layer = ss["ga_layer"]
count = store.channels(layer)
pages = list(range((count + gallery_tiles.PER_PAGE - 1) // gallery_tiles.PER_PAGE))
if ss.get("ga_page") not in pages:
    ss["ga_page"] = 0


def first_page() -> None:
    ss["ga_page"], ss["ga_focus"] = 0, None


def jump() -> None:
    channel = ss.get("ga_jump")
    if channel is not None and 0 <= channel < count:
        ss["ga_page"], ss["ga_focus"] = int(channel) // gallery_tiles.PER_PAGE, (layer, int(channel))


store_col, layer_col, page_col, jump_col = st.columns([3, 3, 2, 1], vertical_alignment="bottom")
store_col.selectbox("Atlas", list(labels), format_func=labels.get, key="ga_store", on_change=first_page)
layer_col.selectbox("Layer", layer_names, key="ga_layer", on_change=first_page,
                    format_func=lambda name: f"{name} · {len(store.done(name))}/{store.channels(name)} channels")
page_col.selectbox("Page", pages, key="ga_page", format_func=lambda p: gallery_tiles.page_label(count, p))
jump_col.number_input("Jump to channel", min_value=0, max_value=count - 1, value=None, step=1, key="ga_jump",
                      on_change=jump, placeholder=f"0-{count - 1}")
page = ss["ga_page"]
if note := gallery_tiles.weights_note(store):
    st.caption(note)
if store.path.name.endswith("-filled"):  # the atlas this server fills while nobody renders
    from featviz_ui.atlas_fill import status_text

    if text := status_text(model):
        st.caption(text)
channels = gallery_tiles.page_channels(count, page)
missing = [c for c in channels if c not in store.done(layer)]

rendered = None
if missing:
    from featviz_core.errors import FeatvizError

    from featviz_ui.slots import service

    request, reason = None, ""
    try:
        request = gallery_tiles.missing_request(store, layer, missing)
    except FeatvizError as exc:
        reason = f"This server cannot render the missing channels: {exc}"
    if request is not None:
        if slot.result is not None and slot.result.request == request:
            rendered = slot.result
        else:  # rendered earlier (by anyone) with exactly these channels
            rendered = service().cache.get(request.key())
        if not model_choice.status(model)[0]:
            reason = f"{model}'s weights are not on this server, so the missing channels cannot be rendered here."
        elif not gallery_tiles.weights_match(store):
            reason = ("This server's weights differ from the ones the atlas was made with, so its renders would "
                      "not match the atlas.")
    if rendered is None:
        left, right = st.columns([3, 1], vertical_alignment="center")
        left.caption(f"{len(missing)} channel(s) of this page are not in the atlas. Rendering them here waits "
                     "behind every visitor's render in the shared queue.")
        # Submitted in the click's callback: a click is never lost to an interrupted run (featviz_ui.layout).
        right.button("Render missing", key="ga_render_missing", icon=":material/play_arrow:",
                     disabled=bool(reason) or is_active(slot), help=reason or None, on_click=submit,
                     args=(slot, request), kwargs={"snapshot_every": 16, "priority": gallery_tiles.BACKGROUND_PRIORITY})
        if reason:
            st.caption(reason)


@st.fragment(run_every=POLL_S)
def background() -> None:
    job = poll(slot)
    if job is None:
        st.rerun()
    views.progress_panel(slot, job, label="Rendering the missing channels")


if poll(slot) is not None:
    background()
views.slot_messages(slot)

focus = ss.get("ga_focus")
neuron_ok = model_choice.status(model)[0]
size = dict(store.identity.settings)["size"]
grid = gallery_tiles.tiles(store, layer, page, rendered)  # the page's tiles, read once for the focus and the grid
if focus is not None and focus[0] == layer and focus[1] in channels:
    channel = focus[1]
    tile = next(t for t in grid if t.channel == channel)
    image_col, text_col = st.columns([1, 4], vertical_alignment="center")
    image_col.image(tile.png or gallery_tiles.placeholder_png(size), width="stretch",
                    output_format="PNG")
    text_col.markdown(f"**{layer}:{channel}**" + (f" · final activation {tile.activation:.3f}"
                                                  if tile.activation is not None else " · not rendered yet"))
    text_col.page_link(NEURON_PAGE, label=f"Open {layer}:{channel} on the Neuron page",
                       icon=":material/center_focus_strong:", disabled=not neuron_ok,
                       query_params={"layer": layer, "channel": str(channel)})
    params = gallery_tiles.explorer_params(store, layer, channel)
    if params is not None:
        text_col.page_link(EXPLORER_PAGE, label=f"Open {layer}:{channel} in the Explorer (shown at once)",
                           icon=":material/grid_view:", query_params=params, disabled=not neuron_ok)

examples = dataset_examples.gallery_store(model, layer, store.identity.weights_sha256, key="ga_examples")
if examples is not None:
    st.toggle("Also the images that suppress each channel", key="ga_bottom",
              help="Under each channel: crops of the images of the examples folder that excite it most (mean "
                   "activation below each); More: the full images with where it fires.")


def neuron_link(container, tile) -> None:
    # The number alone: a caption longer than the tile is cut off (the placeholder shows what is missing).
    note = "not in the atlas yet" if tile.activation is None else f"final activation {tile.activation:.3f}" + (
        " (rendered here)" if tile.source != "atlas" else "")
    container.page_link(NEURON_PAGE, label=str(tile.channel), disabled=not neuron_ok,
                        query_params={"layer": layer, "channel": str(tile.channel)}, help=note)


def open_more(channel: int) -> None:
    ss["ga_more"] = (layer, channel)


def example_tile(column, tile) -> None:
    """A tile with the channel's top crops under its atlas image (the bottom ones with the toggle)."""
    cell = column.container(border=True)
    cell.image(tile.png or gallery_tiles.placeholder_png(size), width="stretch", output_format="PNG")
    row = cell.container(horizontal=True, vertical_alignment="center", gap="small")
    neuron_link(row, tile)
    row.button("More", key=f"ga_more_{tile.channel}", type="tertiary", icon=":material/open_in_full:",
               on_click=open_more, args=(tile.channel,), help="Full images and where the channel fires in them")
    dataset_examples.strip(cell, examples, layer, tile.channel, "top")
    if ss.get("ga_bottom"):
        cell.caption("Suppress it most")
        dataset_examples.strip(cell, examples, layer, tile.channel, "bottom")


def more_view(tile) -> None:
    """The channel's "more" view: its atlas image, links, and the full images of its examples with heatmaps."""

    @st.dialog(f"{layer}:{tile.channel}", width="large")
    def body() -> None:
        image_col, text_col = st.columns([1, 3], vertical_alignment="center")
        image_col.image(tile.png or gallery_tiles.placeholder_png(size), width="stretch", output_format="PNG")
        text_col.markdown(f"**{layer}:{tile.channel}**" + (f" · final activation {tile.activation:.3f}"
                                                            if tile.activation is not None else " · not rendered yet"))
        text_col.page_link(NEURON_PAGE, label=f"Open {layer}:{tile.channel} on the Neuron page",
                           icon=":material/center_focus_strong:", disabled=not neuron_ok,
                           query_params={"layer": layer, "channel": str(tile.channel)})
        text_col.caption(f"Dataset examples from {examples.label()}")
        dataset_examples.channel_views(examples, layer, tile.channel)

    body()


per_row = gallery_tiles.COLUMNS if examples is None else gallery_tiles.EXAMPLE_COLUMNS
for start in range(0, len(grid), per_row):
    for column, tile in zip(st.columns(per_row), grid[start:start + per_row]):
        if examples is not None:
            example_tile(column, tile)
            continue
        focused = focus == (layer, tile.channel)
        cell = column.container(border=True) if focused else column
        cell.image(tile.png or gallery_tiles.placeholder_png(size), width="stretch", output_format="PNG")
        neuron_link(cell, tile)
more = ss.pop("ga_more", None)  # opened once by its click; any later run closes it
if examples is not None and more is not None and more[0] == layer:
    chosen = next((tile for tile in grid if tile.channel == more[1]), None)
    if chosen is not None:
        more_view(chosen)
if not neuron_ok:
    st.caption(f"{model}'s weights are not on this server: the Neuron page cannot render its channels here.")
