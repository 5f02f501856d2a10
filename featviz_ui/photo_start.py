"""Renders that start from an uploaded photo: the Photo page's offers, and the Explorer's "start from your
photo" switch.

The photo is kept in this server's memory only (:mod:`featviz_core.photos.store`, never written to disk) and a
request names it by the SHA-256 of its pixels (``init=<digest>``), so the Photo page's offers are plain
Explorer links (:func:`featviz_core.links.request_params`): the Explorer renders them as any link.
"""

from __future__ import annotations

from typing import Any, Sequence

import streamlit as st

from featviz_ui import form

EXPLORER_PAGE = "pages/explorer.py"
PREFIX = "ph"  # the Photo page's widgets: ph_init_l2, ph_push


def choice(container: Any, digest: str, *, key: str) -> None:
    """In the Explorer's form: a switch to start from the photo a link named (or how to get one)."""
    from featviz_core.photos.store import get_photo

    if not digest:
        container.caption("To start from a photo of your own, upload it on the Photo page and follow one of its "
                          "links (dream it at a layer, or push it toward a channel).")
        return
    photo = get_photo(digest)
    if photo is None:
        container.toggle("Start from your photo (no longer on this server: upload it again on the Photo page)",
                         key=key)
        return
    picture, switch = container.columns([1, 4], vertical_alignment="center")
    picture.image(photo, caption="Your photo", width=64)
    switch.toggle("Start from your photo", key=key,
                  help="The photo from the Photo page, held in this server's memory only; off starts from noise.")


def offers(image: Any, model: str, layer: str, channels: Sequence[int]) -> None:
    """The Photo page's two renders from ``image``: dream it at ``layer``, or push it toward one channel.

    Each is a link to the Explorer naming the photo by its digest; the pull toward the photo (``init_l2``)
    is the declared setting's widget.
    """
    from featviz_core.errors import FeatvizError
    from featviz_core.links import explorer_defaults, request_params
    from featviz_core.photos.store import add_photo
    from featviz_core.settings import setting

    digest = add_photo(image)  # in memory only, by content: the same photo again is the same digest
    st.markdown("**Start a render from this photo**")
    st.caption("Instead of noise, the optimization starts from your photo: dreaming amplifies whatever the "
               "layer sees in it; pushing bends it toward one channel. The pull keeps the result close to the "
               "photo (0: free to wander).")
    pull_key = form.key(PREFIX, "init_l2")
    st.session_state.setdefault(pull_key, float(setting("init_l2").default))
    pull, push = st.columns(2)
    form.draw(pull, "init_l2", PREFIX)
    channel = push.selectbox("Channel to push toward", list(channels), key=form.key(PREFIX, "push"),
                             format_func=lambda c: f"{layer}:{c}")
    try:
        pushed = explorer_defaults(model).replace(layer=layer, channels=(int(channel),), init=digest,
                                                  init_l2=float(st.session_state[pull_key]))
        dream = pushed.replace(objective="layer")
    except FeatvizError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    dream_link, push_link = st.columns(2)
    dream_link.page_link(EXPLORER_PAGE, label=f"Dream this photo at {layer}", icon=":material/cloud:",
                         query_params=request_params(dream))
    push_link.page_link(EXPLORER_PAGE, label=f"Push this photo toward channel {layer}:{channel}",
                        icon=":material/north_east:", query_params=request_params(pushed))
