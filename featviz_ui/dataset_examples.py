"""Dataset examples in the app: a channel's top and bottom images from an examples store (Neuron page and
Gallery), and where a photo fires each channel (Photo page). Stores are read from disk (examples.json once
per store and change, and only the crops shown); no model is loaded here except for a photo's maps."""

from __future__ import annotations

import streamlit as st

CROP_WIDTH = 112
VIEW_WIDTH = 200
SIDES = (("top", "Excite it most"), ("bottom", "Suppress it most"))
GALLERY_CROPS = 3  # crops under each Gallery tile
GALLERY_HINT = ("Dataset examples beside each channel: run the `examples` command on a folder of images "
                "(docs/examples.md).")


def stores_for(model: str, layer: str):
    from featviz_core.examples.lookup import find_examples

    return find_examples(model, layer)


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
    labels = {str(store.path): store.label() for store in stores}
    chosen = stores[0]
    if len(stores) > 1:
        picked = st.selectbox("Examples from", list(labels), format_func=labels.get, key=f"{key}_store")
        chosen = next(s for s in stores if str(s.path) == picked)
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
