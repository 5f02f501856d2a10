"""Photo page: the photo's pass through the model (its top channels and every channel's map, one pass) is kept
in memory for the same photo, model, weights and layer, so a rerun of the page does not run the model again;
another layer does, and going back to a layer seen lately does not."""

from __future__ import annotations

import io

import numpy as np
from app_helpers import errors
from PIL import Image

LAYERS = ("_blocks.4", "_blocks.6")


def photo_png(seed: int = 11) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_rerun_of_the_photo_page_does_not_run_the_model_again(new_app):
    from featviz_core.device import default_device
    from featviz_core.models import load_model

    shared = load_model("efficientnet-lite0", default_device())  # the page's model (one copy per process)
    passes: list[int] = []
    hook = shared.register_forward_pre_hook(lambda _module, _inputs: passes.append(1))
    try:
        at = new_app()
        at.switch_page("pages/photo.py").run()
        at.selectbox(key="ph_layer_efficientnet-lite0").set_value(LAYERS[0])
        at.number_input(key="ph_count").set_value(3)
        at.file_uploader(key="ph_upload").set_value(("mine.png", photo_png(), "image/png")).run()
        assert not errors(at) and not at.exception
        heatmaps = [c for image in at.image for c in image.captions if c.endswith("in your photo")]
        assert len(heatmaps) == 3 and len(passes) == 1, (heatmaps, passes)  # the list and the maps: one pass

        at.run()
        at.number_input(key="ph_count").set_value(5).run()  # more channels of the same pass
        assert not at.exception and len(passes) == 1
        assert len([c for image in at.image for c in image.captions if c.endswith("in your photo")]) == 5

        at.selectbox(key="ph_layer_efficientnet-lite0").set_value(LAYERS[1]).run()
        assert not at.exception and len(passes) == 2
        assert all(c.startswith(f"{LAYERS[1]}:") for image in at.image for c in image.captions
                   if c.endswith("in your photo"))
        at.selectbox(key="ph_layer_efficientnet-lite0").set_value(LAYERS[0]).run()
        assert not at.exception and len(passes) == 2
    finally:
        hook.remove()


def test_the_kept_passes_are_few_and_tell_photos_models_and_layers_apart(effnet, inception_random):
    from featviz_core.photos.analysis import KEPT, photo_layer, top_channels
    from featviz_core.photos.uploads import load_upload

    photo = load_upload(photo_png())
    other = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    first = photo_layer("efficientnet-lite0", LAYERS[0], photo, model=effnet)
    assert photo_layer("efficientnet-lite0", LAYERS[0], photo.copy(), model=effnet) is first  # same pixels
    assert not first.maps.flags.writeable and first.maps.shape[0] == first.means.shape[0]
    flipped = photo_layer("efficientnet-lite0", LAYERS[0], other, model=effnet)
    assert flipped is not first and not np.array_equal(flipped.maps, first.maps)
    deeper = photo_layer("efficientnet-lite0", LAYERS[1], photo, model=effnet)
    assert deeper.maps.shape != first.maps.shape
    inception = photo_layer("inceptionv1", "mixed3a", photo, model=inception_random)
    assert inception.maps.shape[0] == 256
    listed = top_channels("efficientnet-lite0", LAYERS[0], photo, 3, model=effnet)
    assert [c.channel for c in listed] == list(np.argsort(-first.means, kind="stable")[:3])
    for seed in range(KEPT):  # KEPT other photos push the first one out
        photo_layer("efficientnet-lite0", LAYERS[0], load_upload(photo_png(seed)), model=effnet)
    again = photo_layer("efficientnet-lite0", LAYERS[0], photo, model=effnet)
    assert again is not first and np.array_equal(again.maps, first.maps)
