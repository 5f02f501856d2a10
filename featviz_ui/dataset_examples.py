"""Dataset examples in the app: a channel's top and bottom images from an examples store (Neuron page),
and where a photo fires each channel (Photo page). Stores are read from disk; no model is loaded here."""

from __future__ import annotations

import streamlit as st

CROP_WIDTH = 112
VIEW_WIDTH = 200


def stores_for(model: str, layer: str):
    from featviz_core.examples.lookup import find_examples

    return find_examples(model, layer)


def _caption(entry: dict) -> str:
    name = entry["image"]
    short = name if len(name) <= 28 else "…" + name[-27:]
    return f"{entry['activation']:.3g} · {short}"


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
    for side, title in (("top", "Excite it most"), ("bottom", "Suppress it most")):
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
                if png is not None:
                    st.image([heat, png], caption=[f"{layer}:{channel} in your photo", "its atlas image"],
                             width=120)
                else:
                    st.image(heat, caption=f"{layer}:{channel} in your photo", width=160)
