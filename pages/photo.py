"""Your photo: which channels of a layer does a picture excite most? Then render those channels."""

from __future__ import annotations

import math

import streamlit as st

from featviz_ui import model_choice, photo_start
from featviz_ui.shell import require_entry_point

# A first visit straight to /photo on a cold server must still get the app's navigation and sidebar.
require_entry_point()

EXPLORER_PAGE = "pages/explorer.py"

st.title("Your photo")
st.caption("Upload a photo to see which channels of a layer respond to it most strongly, then open those "
           "channels in the Explorer to see what each one is looking for, or start a render from the photo "
           "itself. The photo is held in this server's memory only (for the renders that start from it, "
           "until the server restarts or newer photos take its place); it is never saved.")

from featviz_core.errors import FeatvizError  # noqa: E402  (torch-heavy: imported when the page runs)
from featviz_core.models import get_spec  # noqa: E402
from featviz_core.objectives.targets import format_channels  # noqa: E402
from featviz_core.photos.uploads import ALLOWED_EXTENSIONS, UploadLimits, allowed_text, load_upload  # noqa: E402

model = model_choice.current_model()
spec = get_spec(model)
limits = UploadLimits.from_env()
ss = st.session_state
layer_key = f"ph_layer_{model}"
table = model_choice.layers(model, featured_only=True, always=(spec.default_layer,))
layer_names = [info.name for info in table]
layer_text = {info.name: model_choice.layer_label(info) for info in table}
if ss.get(layer_key) not in layer_names:
    ss[layer_key] = spec.default_layer

left, right = st.columns([3, 1])
left.selectbox("Layer", layer_names, key=layer_key, format_func=layer_text.get,
               help=f"A layer of {spec.title} (change the model in the sidebar).")
right.number_input("Channels to list", min_value=1, max_value=32, value=8, step=1, key="ph_count",
                   help="How many of the most excited channels to show and render.")
upload = st.file_uploader(
    "Photo",
    type=list(ALLOWED_EXTENSIONS),
    max_upload_size=max(1, math.ceil(limits.max_bytes / 1024 / 1024)),
    help=f"Accepted: {allowed_text(limits)}. Only the first frame of an animation is used.",
    key="ph_upload",
)
if upload is None:
    st.info(f"Choose {allowed_text(limits)}.", icon=":material/add_photo_alternate:")
    st.stop()

layer = ss[layer_key]
try:
    # Only the bytes are used: the file name and the type the browser claims are ignored.
    image = load_upload(upload.getvalue(), limits)
    from featviz_core.photos.analysis import top_channels

    top = top_channels(model, layer, image, int(ss["ph_count"]), model=model_choice.shared_model(model))
except FeatvizError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()

picture, chart = st.columns([1, 2])
picture.image(image, caption=f"Your photo ({image.width}×{image.height} pixels)", width="stretch")
rows = [{"channel": f"{layer}:{item.channel}", "mean activation": round(item.mean, 4)} for item in top]
with chart:
    st.markdown(f"**The {len(top)} channels of {layer} this photo excites most**")
    st.bar_chart(rows, x="channel", y="mean activation", sort=False, height=260)
    st.dataframe(rows, hide_index=True, width="stretch", key="ph_table")

channels = tuple(item.channel for item in top)
from featviz_ui import dataset_examples  # noqa: E402

dataset_examples.photo_heatmaps(model, layer, image, channels, model_choice.shared_model(model))
st.page_link(EXPLORER_PAGE, label=f"Render these {len(channels)} channels in the Explorer",
             icon=":material/grid_view:",
             query_params={"model": model, "layer": layer, "channels": format_channels(channels)})
photo_start.offers(image, model, layer, channels)
