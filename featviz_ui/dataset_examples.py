"""Dataset examples in the app: a channel's top and bottom images from an examples store (Neuron page and
Gallery), and a visitor's zip of images searched for them through the render queue (Neuron page); where a
photo fires each channel (Photo page). Stores are read from disk (examples.json once per store and change,
and only the crops shown); no model is loaded here (the queue's workers load it, and the Photo page's shared
model draws a photo's maps).

The stores every visitor sees are the shared ones (FEATVIZ_EXAMPLES_DIR); a store made from a visitor's zip
lies in the uploads' own folder and is listed only in the session that uploaded it (its path is kept in the
session's state), beside the shared ones."""

from __future__ import annotations

import streamlit as st

CROP_WIDTH = 112
VIEW_WIDTH = 200
SIDES = (("top", "Excite it most"), ("bottom", "Suppress it most"))
GALLERY_CROPS = 3  # crops under each Gallery tile
GALLERY_HINT = ("Dataset examples beside each channel: run the `examples` command on a folder of images "
                "(docs/examples.md).")
UPLOADED = "featviz_uploaded_examples"  # session state: paths of the stores this session's zips made


def stores_for(model: str, layer: str):
    """The shared stores of ``model`` covering ``layer``, then this session's uploads' stores, after one warning
    line for each store that may be of them but is skipped as damaged (which store, and what is wrong)."""
    from pathlib import Path

    from featviz_core.examples.lookup import survey_examples

    shared, skipped = survey_examples(model, layer)
    own, own_skipped = survey_examples(model, layer, roots=[Path(p) for p in st.session_state.get(UPLOADED, [])])
    for store in skipped + own_skipped:
        st.warning(store.line(), icon=":material/warning:")
    known = {str(store.path) for store in shared}
    return shared + [store for store in own if str(store.path) not in known]


def _remember_upload(store) -> None:
    """This session made (or was given again) the upload store ``store``: list it in this session only."""
    mine = list(st.session_state.get(UPLOADED, []))
    if str(store) not in mine:
        st.session_state[UPLOADED] = mine + [str(store)]


def _caption(entry: dict) -> str:
    name = entry["image"]
    short = name if len(name) <= 28 else "…" + name[-27:]
    return f"{entry['activation']:.3g} · {short}"


def short_activation(value: float) -> str:
    """Few characters for a crop narrower than a word: 1234, 13.3, 4.94, -0.32."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) >= 1 else f"{value:.2f}"


def section(model: str, layer: str, channel: int, *, key: str) -> None:
    """The channel's top and bottom examples (crops), with each full view and its heatmap in an expander;
    nothing when no finished examples store of ``model`` covers ``layer``."""
    stores = stores_for(model, layer)
    if not stores:
        return
    st.markdown(f"**Dataset examples of {layer}:{channel}**")
    mine = set(st.session_state.get(UPLOADED, []))
    labels = {str(store.path): ("Your zip · " if str(store.path) in mine else "") + store.label() for store in stores}
    chosen = stores[0]
    if st.session_state.get(f"{key}_store") not in labels:  # a store of another layer (an upload's) was chosen
        st.session_state.pop(f"{key}_store", None)
    if len(stores) > 1:
        picked = st.selectbox("Examples from", list(labels), format_func=labels.get, key=f"{key}_store")
        chosen = next(s for s in stores if str(s.path) == picked)
    if str(chosen.path) in mine:
        from featviz_core.examples.upload import mark_used

        mark_used(chosen.path)  # kept longer among the uploads' stores (FEATVIZ_UPLOAD_EXAMPLES_MAX)
    examples = chosen.examples(layer, channel)
    if examples is None:
        st.caption(f"The examples store {chosen.path.name} has no channel {channel} of {layer}.")
        return
    from featviz_core.atlas.identity import local_weights_digest

    if local_weights_digest(model) != chosen.weights_sha256:
        st.caption("These examples were found with other weights of this model than the server's.")
    for side, title in SIDES:
        entries = examples[side]
        if not entries:
            continue
        crops = [chosen.file_bytes(entry["crop"]) for entry in entries]
        shown = [(crop, _caption(entry)) for crop, entry in zip(crops, entries) if crop is not None]
        st.caption(f"{title} (mean activation · image), crops around where it fires "
                   f"{'most' if side == 'top' else 'least'}")
        if shown:
            st.image([crop for crop, _ in shown], caption=[text for _, text in shown], width=CROP_WIDTH)
        with st.expander(f"Full images and heatmaps ({title.lower()})"):
            _views(chosen, layer, channel, side, entries)


def _views(store, layer: str, channel: int, side: str, entries: list[dict]) -> None:
    from featviz_core.examples.heatmap import overlay

    pictures, captions = [], []
    for rank, entry in enumerate(entries):
        view, activation_map = store.view(entry), store.activation_map(layer, channel, side, rank)
        if view is None or activation_map is None:
            continue
        pictures.append(overlay(view, activation_map, box=entry["view_box"], suppress=side == "bottom"))
        captions.append(_caption(entry))
    if pictures:
        st.image(pictures, caption=captions, width=VIEW_WIDTH)
    else:
        st.caption("The store's full views are missing.")


def gallery_store(model: str, layer: str, weights_sha256: str, *, key: str):
    """The examples store the Gallery shows beside an atlas of ``model`` made with weights ``weights_sha256``
    (a picker when several cover ``layer``), or None after one line that says how to get one."""
    found = stores_for(model, layer)
    stores = [store for store in found if store.weights_sha256 == weights_sha256]
    if not stores:
        st.caption("The dataset examples of this layer were found with other weights than this atlas's."
                   if found else GALLERY_HINT)
        return None
    if len(stores) == 1:
        return stores[0]
    labels = {str(store.path): store.label() for store in stores}
    picked = st.selectbox("Dataset examples from", list(labels), format_func=labels.get, key=key)
    return next((s for s in stores if str(s.path) == picked), stores[0])


def strip(container, store, layer: str, channel: int, side: str, count: int = GALLERY_CROPS) -> int:
    """The channel's first ``count`` crops of ``side`` in a row under ``container``, each captioned with
    its mean activation; reads those crops only (handed to the browser as stored, never decoded here).
    Returns how many were shown."""
    entries = (store.examples(layer, channel) or {}).get(side, [])[:count]
    crops = [(store.file_bytes(entry["crop"]), entry) for entry in entries]
    crops = [(crop, entry) for crop, entry in crops if crop is not None]
    # Equal columns (a crop of a small image is scaled up to its column, as is a large one down).
    for column, (crop, entry) in zip(container.columns(count, gap="small") if crops else [], crops):
        column.image(crop, caption=short_activation(entry["activation"]), width="stretch", output_format="PNG")
    return len(crops)


def channel_views(store, layer: str, channel: int) -> None:
    """A channel's "more" view: the full images of its top and bottom examples, each with its heatmap and
    the crop's box outlined."""
    examples = store.examples(layer, channel)
    if examples is None:
        st.caption(f"The examples store {store.path.name} has no channel {channel} of {layer}.")
        return
    for side, title in SIDES:
        if examples[side]:
            st.markdown(f"**{title}** (mean activation · image; bright: where it fires "
                        f"{'most' if side == 'top' else 'least'})")
            _views(store, layer, channel, side, examples[side])


def atlas_image(model: str, layer: str, channel: int) -> bytes | None:
    """The channel's atlas image (PNG bytes) from an atlas made with this server's weights, or None."""
    from featviz_ui.gallery_tiles import stores_of, weights_match

    for store in stores_of(model):
        if layer in store.activations and channel in store.done(layer) and weights_match(store):
            png = store.image_bytes(layer, channel)
            if png is not None:
                return png
    return None


def photo_heatmaps(model: str, layer: str, image, channels: tuple[int, ...], shared_model) -> None:
    """For each channel: where in the photo it fires (heatmap over the photo), beside its atlas image."""
    from featviz_core.examples.heatmap import layer_maps, overlay

    view, maps = layer_maps(model, layer, image, model=shared_model)
    st.markdown(f"**Where each channel fires in your photo** (bright: strongest), beside what it looks for")
    per_row = 4
    for start in range(0, len(channels), per_row):
        columns = st.columns(per_row)
        for column, channel in zip(columns, channels[start:start + per_row]):
            with column:
                heat = overlay(view, maps[channel])
                png = atlas_image(model, layer, channel)
                if png is not None:  # side by side in the column (a list of two would wrap in a narrow one)
                    heat_col, atlas_col = st.columns(2, gap="small")
                    heat_col.image(heat, caption=f"{layer}:{channel} in your photo", width="stretch")
                    atlas_col.image(png, caption="its atlas image", width="stretch", output_format="PNG")
                else:
                    st.image(heat, caption=f"{layer}:{channel} in your photo", width=160)


# ----- the visitor's own images: a zip searched for examples through the render queue ---------------------
ZIP_POLL_S = 0.5
MB = 1024 * 1024


def with_upload(model: str, layer: str, channel: int, *, key: str) -> None:
    """:func:`section`, then "Find examples in your own images (zip)": an uploaded zip of images is searched
    for ``layer``'s examples as a job of the render queue (queue position, then images done of total, and
    Stop); once its store is finished, the section shows it. A refused zip is one ``st.error`` line, and
    everything above stays."""
    _collect(key)  # before the section's store choice is drawn: a finished upload becomes the chosen store
    section(model, layer, channel, key=key)
    _uploader(model, layer, key)


def _keys(key: str) -> tuple[str, str, str]:
    return f"{key}_zip_job", f"{key}_zip_error", f"{key}_zip_notice"


def _zip_job(key: str):
    from featviz_ui.slots import service

    job_id = st.session_state.get(_keys(key)[0])
    return service().get(job_id) if job_id else None


def _collect(key: str) -> None:
    """Touch this tab's upload job; once it has ended, its store (or why it has none) moves into the page."""
    from featviz_core.service import DONE, FAILED
    from featviz_ui.slots import client_id, session_id

    job_key, error_key, notice_key = _keys(key)
    job = _zip_job(key)
    if job is None:
        st.session_state[job_key] = None
        return
    if job.active:
        job.touch(client_id(), session_id())
        return
    st.session_state[job_key] = None
    if job.state == DONE and job.result is not None:
        found = job.result
        _remember_upload(found.store)
        st.session_state[f"{key}_store"] = str(found.store)
        how = "found before for this same zip" if found.reused else "found"
        st.session_state[notice_key] = (f"Examples {how} in the {found.images} images of "
                                        f"{job.request.name or 'your zip'} ({found.not_images} other file(s) "
                                        "skipped); they are shown above.")
    elif job.state == FAILED:
        st.session_state[error_key] = f"Finding examples in your zip failed: {job.error}"
    else:
        st.session_state[notice_key] = f"Finding examples in your zip stopped ({job.error or 'cancelled'})."


def _submit(model: str, layer: str, key: str) -> None:
    """The uploader's callback: check the zip and queue its job (a refusal is kept as one line)."""
    from featviz_core.errors import FeatvizError
    from featviz_core.examples.upload import ZipExamplesRequest
    from featviz_ui.slots import client_id, service, session_id

    upload = st.session_state.get(f"{key}_zip_file")
    if upload is None:  # the file was removed from the uploader: its job goes on
        return
    job_key, error_key, notice_key = _keys(key)
    data = upload.getvalue()
    try:
        request = ZipExamplesRequest.of_upload(data, model, layer, name=upload.name)
        job = service().submit_examples(request, data, client_id())
        job.touch(client_id(), session_id())
    except FeatvizError as exc:
        st.session_state[error_key] = str(exc)
        return
    previous = _zip_job(key)
    if previous is not None and previous is not job and previous.active:
        previous.release(client_id(), "replaced by a newer upload")
    st.session_state[job_key], st.session_state[error_key], st.session_state[notice_key] = job.id, "", ""


def _stop(key: str) -> None:
    from featviz_ui.slots import client_id

    job = _zip_job(key)
    if job is not None and job.active:
        job.release(client_id(), "stopped by you; the images scanned so far are kept for this zip")


def _uploader(model: str, layer: str, key: str) -> None:
    import math

    from featviz_core.examples.archive import ZipLimits

    limits = ZipLimits.from_env()
    st.file_uploader("Find examples in your own images (zip)", type=["zip"], key=f"{key}_zip_file",
                     max_upload_size=max(1, math.ceil(limits.max_zip_bytes / MB)),
                     help=f"Upload {limits.describe()}. The images that excite and suppress each channel of "
                          f"{layer} are found among them, in turn with other visitors' renders, and shown here, "
                          "to you only (the server keeps the latest uploads' examples for a while, so the "
                          "same zip is not read twice).",
                     on_change=_submit, args=(model, layer, key))
    _, error_key, notice_key = _keys(key)
    if st.session_state.get(error_key):
        st.error(st.session_state[error_key], icon=":material/error:")
    job = _zip_job(key)
    if job is not None and job.active:
        _live(key)
    elif st.session_state.get(notice_key):
        st.info(st.session_state[notice_key], icon=":material/info:")


@st.fragment(run_every=ZIP_POLL_S)
def _live(key: str) -> None:
    """The upload job's queue position or progress, polled; the page reruns once it has ended."""
    import time

    from featviz_core.service import QUEUED
    from featviz_ui.slots import client_id, queue_ahead, session_id
    from featviz_ui.views import duration

    job = _zip_job(key)
    if job is None or not job.active:
        st.rerun()
    job.touch(client_id(), session_id())
    progress = job.progress
    if job.state == QUEUED:
        st.info(f"Your zip is queued: {queue_ahead(job)} ahead of you. Its images are read when a worker is free.",
                icon=":material/hourglass_top:")
    elif progress is None:
        st.progress(0.0, text=f"Reading your zip's images · {duration(time.monotonic() - job.started)} elapsed")
    else:
        st.progress(min(1.0, progress.done / max(1, progress.total)),
                    text=f"Images {progress.done} of {progress.total} · about {duration(progress.remaining_s)} left")
    st.button("Stop", key=f"{key}_zip_stop", on_click=_stop, args=(key,), icon=":material/stop_circle:",
              help="Stop reading your zip (the images read so far are kept for the next upload of the same zip).")
