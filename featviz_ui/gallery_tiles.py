"""What the Gallery page needs from the atlas stores: which ones a model has, a page of tiles, and the
request that renders a page's missing channels. No model is loaded here: only manifests and PNG files."""

from __future__ import annotations

import io
from dataclasses import dataclass

import streamlit as st

PER_PAGE = 60
COLUMNS = 10
EXAMPLE_COLUMNS = 5  # tiles a row when each carries a strip of dataset examples
BACKGROUND_PRIORITY = -1  # below every visitor's render in the shared queue


@dataclass(frozen=True)
class Tile:
    """One channel of a page: its PNG bytes (None: not rendered) and its final activation."""

    channel: int
    png: bytes | None
    activation: float | None
    source: str  # "atlas", "rendered here" or "missing"


def stores_of(model: str):
    """The atlas stores of ``model`` under the atlas folders (manifests are re-read only when changed)."""
    from featviz_core.atlas.lookup import find_stores

    return [store for store in find_stores() if store.model == model]


def store_label(store) -> str:
    settings = dict(store.identity.settings)
    done, total = store.count()
    untrained = "random weights · " if store.identity.random_weights else ""
    return (f"{untrained}{settings['steps']} steps · {settings['size']} px · seed {settings['seed']} · "
            f"{done}/{total} channels · {store.path.name}")


def weights_note(store) -> str:
    """One line over the tiles of an atlas of an untrained network (random weights), else ""."""
    if not store.identity.random_weights:
        return ""
    from featviz_core.atlas.identity import describe_weights

    weights = describe_weights(store.identity.weights_sha256)
    return (f"An untrained network: every image of this atlas was rendered with {weights}, not learned ones "
            "(a baseline to compare the trained network with).")


@st.cache_data(show_spinner=False, max_entries=4)
def placeholder_png(size: int) -> bytes:
    """A light grey square: the tile of a channel the atlas does not have."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), (236, 238, 242))
    draw = ImageDraw.Draw(image)
    draw.line((0, 0, size - 1, size - 1), fill=(205, 209, 216), width=max(1, size // 64))
    draw.line((0, size - 1, size - 1, 0), fill=(205, 209, 216), width=max(1, size // 64))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def page_channels(count: int, page: int) -> range:
    return range(page * PER_PAGE, min(count, (page + 1) * PER_PAGE))


def page_label(count: int, page: int) -> str:
    channels = page_channels(count, page)
    return f"channels {channels.start}-{channels.stop - 1}"


def missing_request(store, layer: str, channels: list[int]):
    """The RenderRequest that renders ``channels`` of ``layer`` with the atlas's settings."""
    return store.identity.request(layer, tuple(channels))


def tiles(store, layer: str, page: int, rendered=None) -> list[Tile]:
    """The page's tiles: atlas images, else this server's render of the missing ones (``rendered``, a
    RenderResult of :func:`missing_request`), else a placeholder."""
    done = store.done(layer)
    extra = {}
    if rendered is not None:
        from featviz_core.outputs.export import png_bytes

        for channel, image, score in zip(rendered.request.channels, rendered.images, rendered.scores):
            extra[channel] = (png_bytes(image), float(score))
    out = []
    for channel in page_channels(store.channels(layer), page):
        png = store.image_bytes(layer, channel) if channel in done else None
        if png is not None:
            out.append(Tile(channel, png, done[channel], "atlas"))
        elif channel in extra:
            out.append(Tile(channel, extra[channel][0], extra[channel][1], "rendered here"))
        else:
            out.append(Tile(channel, None, None, "missing"))
    return out


def explorer_params(store, layer: str, channel: int) -> dict[str, str] | None:
    """Explorer query parameters that ask for exactly this atlas entry (so it is shown at once), or None
    when the Explorer cannot express the atlas's settings (e.g. an atlas rendered without upsampling)."""
    from featviz_core.errors import FeatvizError
    from featviz_core.links import request_params
    from featviz_core.request import RenderRequest

    try:
        request = store.identity.request(layer, (channel,))
        params = request_params(request)
        same = RenderRequest.from_mapping(params) == request
    except FeatvizError:
        return None
    return params if same else None


def weights_match(store) -> bool:
    """Whether this server's weights of the store's model are the ones the atlas was made with."""
    from featviz_core.atlas.identity import local_weights_digest

    return local_weights_digest(store.model) == store.identity.weights_sha256
