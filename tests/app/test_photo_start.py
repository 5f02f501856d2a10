"""Photo page: after the top channels, "dream this photo at this layer" and "push this photo toward channel c"
are Explorer links naming the photo by its digest, with the pull toward it from its widget; the Explorer
renders such a link."""

from __future__ import annotations

import io
from urllib.parse import parse_qsl

import numpy as np
from app_helpers import captions, errors, render_finished, run_until, service, slot
from PIL import Image

EARLY = "_blocks.4"


def photo_png() -> tuple[bytes, Image.Image]:
    rng = np.random.default_rng(7)
    image = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue(), image


def link(at, starts: str):
    found = [p for p in at.get("page_link") if p.value.startswith(starts)]
    assert len(found) == 1, [p.value for p in at.get("page_link")]
    return found[0]


def link_request(at, page_link):
    """The request of an Explorer link (the same page as the Photo page's link to render the listed channels)."""
    from featviz_core.links import request_from_values

    explorer = link(at, "Render these").proto.page_script_hash
    assert page_link.proto.page_script_hash == explorer, "a link to the Explorer"
    return request_from_values(dict(parse_qsl(page_link.proto.query_string)))


def test_the_photo_page_offers_dream_and_push_links_that_start_from_the_photo(new_app):
    from featviz_core.photos.store import get_photo, photo_digest

    data, image = photo_png()
    digest = photo_digest(image)
    at = new_app()
    at.switch_page("pages/photo.py").run()
    at.selectbox(key="ph_layer_efficientnet-lite0").set_value(EARLY)
    at.number_input(key="ph_count").set_value(3)
    at.file_uploader(key="ph_upload").set_value(("mine.png", data, "image/png")).run()
    assert not errors(at) and not at.exception
    listed = [int(row.split(":")[1]) for row in at.dataframe[0].value["channel"]]
    assert len(listed) == 3
    assert get_photo(digest) is not None  # held in memory for the links (photos.py never writes a file)

    at.number_input(key="ph_init_l2").set_value(0.02)
    at.selectbox(key="ph_push").set_value(listed[1]).run()
    dream = link_request(at, link(at, f"Dream this photo at {EARLY}"))
    assert (dream.objective, dream.layer, dream.channels) == ("layer", EARLY, ())
    assert (dream.init, dream.init_l2) == (digest, 0.02)
    pushed = link_request(at, link(at, "Push this photo toward channel"))
    assert (pushed.objective, pushed.layer, pushed.channels) == ("channel", EARLY, (listed[1],))
    assert (pushed.init, pushed.init_l2) == (digest, 0.02)
    assert link(at, "Push this photo toward channel").value.endswith(f"{EARLY}:{listed[1]}")

    # The Explorer renders the link as it is (another tab: the photo is the server's, not the session's)
    explorer = new_app(dict(parse_qsl(link(at, f"Dream this photo at {EARLY}").proto.query_string))).run()
    state = slot(explorer, "explorer")
    assert not errors(explorer) and state.job_id is not None
    assert service().get(state.job_id).request == dream
    assert explorer.toggle(key="ex_use_photo").value is True


def test_a_photo_seeded_render_is_named_so_in_the_explorer(new_app):
    from featviz_core.links import request_params
    from featviz_core.photos.store import add_photo
    from featviz_core.request import RenderRequest

    _, image = photo_png()
    request = RenderRequest(model="efficientnet-lite0", layer=EARLY, objective="layer", init=add_photo(image),
                            init_l2=0.05, steps=2, size=32, seed=301)
    at = new_app(request_params(request)).run()
    run_until(at, render_finished("explorer"), what="the photo-seeded render")
    assert not errors(at)
    assert captions(at) == [["Your photo"], [f"dream({EARLY})"]]  # the form shows the photo it starts from
    assert [s.value for s in at.subheader] == [f"{EARLY}, the whole layer (DeepDream) · from your photo"]
    assert at.query_params["init"] == request.init and at.query_params["init_l2"] == "0.05"
