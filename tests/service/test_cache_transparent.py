"""The render cache keeps a transparent render's alpha, refuses an entry whose images lost it, and never
writes a render that started from a photo to disk (photos are held in memory only)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from service_helpers import tiny

from featviz_core.render import RenderResult
from featviz_core.service.render_cache import RenderCache

WEIGHTS = "a" * 64  # the weights' identity the entries are stored under (the pixels are not a real render)


def result_of(request, depth: int) -> RenderResult:
    count = len(request.labels())
    rng = np.random.default_rng(request.seed)
    images = rng.integers(0, 256, (count, request.size, request.size, depth), dtype=np.uint8)
    return RenderResult(request=request, images=images, labels=request.labels(),
                        scores=np.arange(count, dtype=np.float32), history=np.zeros((4, count), np.float32),
                        steps_done=4, elapsed_s=0.1, device="cpu")


def test_a_transparent_render_comes_back_from_disk_with_its_alpha(tmp_path):
    cache = RenderCache(tmp_path)
    result = result_of(tiny(seed=1, alpha=True), depth=4)
    cache.put(result, weights=WEIGHTS)
    key = result.request.key(WEIGHTS)
    with Image.open(tmp_path / key / "0.png") as png:
        assert png.mode == "RGBA"
    cache.clear_memory()
    loaded = cache.get(key)
    assert loaded is not None and loaded.images.shape == result.images.shape
    np.testing.assert_array_equal(loaded.images, result.images)


def test_an_entry_whose_images_do_not_match_the_request_is_dropped(tmp_path):
    cache = RenderCache(tmp_path)
    opaque = result_of(tiny(seed=2), depth=3)
    cache.put(opaque, weights=WEIGHTS)
    key = opaque.request.key(WEIGHTS)
    cache.clear_memory()
    assert cache.get(key) is not None and cache.get(key).images.shape[-1] == 3

    transparent = result_of(tiny(seed=3, alpha=True), depth=4)
    cache.put(transparent, weights=WEIGHTS)
    key = transparent.request.key(WEIGHTS)
    Image.fromarray(transparent.images[0][..., :3]).save(tmp_path / key / "0.png")  # its alpha lost
    cache.clear_memory()
    assert cache.get(key) is None
    assert not (tmp_path / key).exists()


def test_a_render_started_from_a_photo_stays_in_memory_only(tmp_path):
    from featviz_core.photos.store import add_photo

    digest = add_photo(Image.fromarray(np.full((40, 40, 3), 120, np.uint8)))
    result = result_of(tiny(seed=4, init=digest, init_l2=0.1), depth=3)
    cache = RenderCache(tmp_path)
    cache.put(result, weights=WEIGHTS)
    assert list(tmp_path.iterdir()) == []
    assert cache.get(result.request.key(WEIGHTS)) is result
