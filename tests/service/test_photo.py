"""top_channels: the channels of a layer a photo excites most, checked against a plain forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from featviz_core.errors import RequestError
from featviz_core.photos.analysis import photo_tensor, top_channels


def photo(seed: int = 0, width: int = 300, height: int = 200) -> Image.Image:
    """A smooth random picture (blurred noise, so the network sees structure, not only pixel noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 20, width // 20, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((width, height), Image.BICUBIC)


def reference_means(model: torch.nn.Module, layer: str, image: Image.Image) -> np.ndarray:
    """Channel means by hand: shorter side to 224, centre crop, (x - 0.5) / 0.5, the whole model, a hook."""
    width, height = image.size
    scale = 224 / min(width, height)
    resized = image.resize((max(224, round(width * scale)), max(224, round(height * scale))), Image.BICUBIC)
    left, top = (resized.width - 224) // 2, (resized.height - 224) // 2
    array = np.asarray(resized.crop((left, top, left + 224, top + 224)), dtype=np.float32) / 255.0
    x = (torch.from_numpy(array).permute(2, 0, 1)[None] - 0.5) / 0.5
    seen = {}
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda _m, _i, out: seen.setdefault("out", out.clone()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return seen["out"][0].mean(dim=(-2, -1)).numpy()


@pytest.mark.parametrize("layer", ["_blocks.4", "_blocks.10"])
def test_top_channels_are_the_largest_mean_activations(effnet, layer):
    image = photo(1)
    top = top_channels("efficientnet-lite0", layer, image, 6, model=effnet, device="cpu")
    means = reference_means(effnet, layer, image)
    expected = np.argsort(-means, kind="stable")[:6]
    assert [item.channel for item in top] == expected.tolist()
    np.testing.assert_allclose([item.mean for item in top], means[expected], rtol=1e-4, atol=1e-4)
    assert all(a.mean >= b.mean for a, b in zip(top, top[1:]))


def test_different_photos_excite_different_channels(effnet):
    first = top_channels("efficientnet-lite0", "_blocks.10", photo(2), 5, model=effnet)
    again = top_channels("efficientnet-lite0", "_blocks.10", photo(2), 5, model=effnet)
    other = top_channels("efficientnet-lite0", "_blocks.10", Image.new("RGB", (64, 64), (20, 200, 40)), 5,
                         model=effnet)
    assert first == again
    assert [c.channel for c in first] != [c.channel for c in other]


def test_k_larger_than_the_layer_lists_every_channel(effnet):
    top = top_channels("efficientnet-lite0", "_conv_stem", photo(3), 40, model=effnet)
    assert sorted(item.channel for item in top) == list(range(32))


def test_photo_tensor_crops_the_centre_square():
    image = Image.new("RGB", (400, 200), (0, 0, 0))
    image.paste((255, 255, 255), (100, 0, 300, 200))  # the centre 200x200 square is white
    x = photo_tensor(image, 64)
    assert x.shape == (1, 3, 64, 64)
    assert x[..., 1:-1].min() > 0.99 and x.min() > 0.9  # only resampling blur at the very edge


@pytest.mark.parametrize("layer, k, image, message", [
    ("mixed4a", 5, None, "unknown layer 'mixed4a' for efficientnet-lite0; main layers are _conv_stem"),
    ("../../etc", 5, None, "unknown layer"),
    ("_blocks.10", 0, None, "whole number from 1 to 512, got 0"),
    ("_blocks.10", 513, None, "whole number from 1 to 512, got 513"),
    ("_blocks.10", True, None, "whole number from 1 to 512, got True"),
    ("_blocks.10", 2.5, None, "whole number from 1 to 512, got 2.5"),
    ("_blocks.10", 5, b"\x89PNG", "the photo must be a decoded image"),
])
def test_bad_arguments_get_clear_errors(effnet, layer, k, image, message):
    with pytest.raises(RequestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        top_channels("efficientnet-lite0", layer, photo(4) if image is None else image, k, model=effnet)


def test_unknown_model_is_refused():
    with pytest.raises(RequestError, match="unknown model 'resnet'"):
        top_channels("resnet", "layer1", photo(5), 3)
