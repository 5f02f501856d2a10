"""Your photo: which channels of a layer does a picture excite most? Then render those channels."""

from __future__ import annotations

import math
from urllib.parse import urlencode

import streamlit as st

from featviz_core.errors import FeatvizError
from featviz_core.models import REGISTRY, default_model_name, get_spec, model_status
from featviz_core.photo import top_channels
from featviz_core.request import format_channels
from featviz_core.uploads import ALLOWED_EXTENSIONS, UploadLimits, allowed_text, load_upload

EXPLORER_PAGE = "pages/explorer.py"

st.title("Your photo")
st.write(
    "Upload a photo to see which channels of a layer respond to it most strongly, then open those channels "
    "in the Explorer to see what each one is looking for."
)

limits = UploadLimits.from_env()
available = [name for name in REGISTRY if model_status(name).available]
if not available:
    st.error("No model has its weights on this machine; see the Models list for where to put them.")
    st.stop()
default = default_model_name()
left, middle, right = st.columns([2, 2, 1])
model_name = left.selectbox("Model", available, index=available.index(default) if default in available else 0,
                            key="photo_model")
spec = get_spec(model_name)
layers = list(spec.featured_layers)
layer = middle.selectbox("Layer", layers, index=layers.index(spec.default_layer), key=f"photo_layer_{model_name}")
count = right.number_input("Channels", min_value=1, max_value=32, value=8, step=1, key="photo_count",
                           help="How many of the most excited channels to list")

upload = st.file_uploader(
    "Photo",
    type=list(ALLOWED_EXTENSIONS),
    max_upload_size=max(1, math.ceil(limits.max_bytes / 1024 / 1024)),
    help=f"Accepted: {allowed_text(limits)}. Only the first frame of an animation is used.",
    key="photo_upload",
)
if upload is None:
    st.info(f"Choose {allowed_text(limits)}.")
    st.stop()

try:
    image = load_upload(upload.getvalue(), limits)
    top = top_channels(model_name, layer, image, int(count))
except FeatvizError as exc:
    st.error(str(exc))
    st.stop()

picture, chart = st.columns([1, 2])
picture.image(image, caption=f"{image.width}x{image.height} pixels", width="stretch")
rows = [{"channel": f"{layer}:{item.channel}", "mean activation": round(item.mean, 4)} for item in top]
with chart:
    st.bar_chart(rows, x="channel", y="mean activation", sort=False, height=300)
    st.dataframe(rows, hide_index=True, width="stretch")

channels = tuple(item.channel for item in top)
query = {"model": model_name, "layer": layer, "channels": format_channels(channels)}
label = f"Render these {len(channels)} channels in the Explorer"
try:
    st.page_link(EXPLORER_PAGE, label=label, icon=":material/auto_awesome:", query_params=query)
except Exception:  # the Explorer is not registered in this navigation (e.g. the page run on its own)
    st.markdown(f"[{label}](explorer?{urlencode(query)})")
