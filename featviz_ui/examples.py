"""Small, cached computations for the Method page's live examples."""

from __future__ import annotations

import numpy as np
import streamlit as st

EXAMPLE_SIZE = 64
EXAMPLE_STEPS = 32


@st.cache_data(show_spinner=False, max_entries=8)
def random_images(size: int = 128, seed: int = 0) -> dict[str, np.ndarray]:
    """The same random numbers read as pixels and as a Fourier spectrum, with and without color
    decorrelation, contrast-normalized so the structure of each is visible: name -> (H, W, 3) uint8."""
    import torch

    from featviz_core.method.param import ImageParam, decorrelate_colors, raw_shape

    generator = torch.Generator().manual_seed(seed)
    out = {}
    for name, fft, decorrelate in (("pixels", False, False), ("Fourier", True, False),
                                   ("Fourier + decorrelated color", True, True)):
        raw = torch.randn((1, *raw_shape(size, fft)), generator=generator)
        linear = ImageParam(raw, size, fft, decorrelate=False).linear_image().detach()
        linear = linear / linear.std()
        if decorrelate:
            linear = decorrelate_colors(linear)
            linear = linear / linear.std()
        pixels = torch.sigmoid(1.5 * linear)[0].permute(1, 2, 0).numpy()
        out[name] = (pixels * 255).round().astype(np.uint8)
    return out


def example_request(model: str, layer: str, channel: int, seed: int = 0, **changes):
    """The RenderRequest of one live example: EXAMPLE_SIZE px and EXAMPLE_STEPS steps, at the model's own
    resolution (no upsampling, to stay cheap) when the model accepts an image that small, else upsampled
    to the model's native size as Lucent does (InceptionV1's fixed final pooling needs a large input)."""
    from featviz_core.errors import FeatvizError
    from featviz_core.request import RenderRequest

    settings = dict(model=model, layer=layer, channels=(channel,), steps=EXAMPLE_STEPS, size=EXAMPLE_SIZE,
                    seed=seed, **changes)
    try:
        return RenderRequest(**settings, upsample=False)
    except (FeatvizError, RuntimeError):  # too small for the model: its layer shapes cannot be traced
        return RenderRequest(**settings, upsample=True)


@st.cache_data(show_spinner=False, max_entries=32)
def tiny_renders(model: str, layer: str, channel: int, seed: int = 0) -> list[tuple[str, np.ndarray, float]]:
    """One channel rendered three ways at EXAMPLE_SIZE px and EXAMPLE_STEPS steps (see
    :func:`example_request`): Lucid's recipe, plain pixels, and no transforms.

    Returns (name, (H, W, 3) uint8 image, objective without transforms) per variant.
    """
    from featviz_core.device import default_device
    from featviz_core.render import render

    from featviz_ui.model_choice import shared_model

    variants = (
        ("Fourier, decorrelated, transforms", {}),
        ("Plain pixels", {"fft": False, "decorrelate": False}),
        ("No transforms", {"transforms": "none"}),
    )
    net = shared_model(model)
    out = []
    for name, changes in variants:
        request = example_request(model, layer, channel, seed, **changes)
        result = render(request, model=net, device=default_device(), snapshot_every=EXAMPLE_STEPS)
        out.append((name, result.images[0], float(result.scores[0])))
    return out


def deep_layer(model: str) -> str:
    """A deep layer of ``model`` for the MACO example: the last featured layer before the head."""
    from featviz_core.models import get_spec

    layers = get_spec(model).featured_layers
    return layers[-2] if len(layers) > 1 else layers[-1]


@st.cache_data(show_spinner=False, max_entries=16)
def maco_beside_fourier(model: str, channel: int, seed: int = 0) -> list[tuple[str, np.ndarray, float]]:
    """One channel of :func:`deep_layer` rendered with Lucid's Fourier parameterization and with MACO (same
    size, steps and seed; see :func:`example_request`), and MACO's attribution map (grey levels, brightest
    where the objective's gradient was largest over the whole optimization).

    Returns (caption, (H, W, 3) uint8 image, objective without transforms; NaN for the map) per picture.
    """
    from featviz_core.device import default_device
    from featviz_core.render import render

    from featviz_ui.model_choice import shared_model

    net = shared_model(model)
    layer = deep_layer(model)
    out = []
    for name, param in (("Fourier (Lucid)", "fourier"), ("MACO: phase only", "maco")):
        request = example_request(model, layer, channel, seed, param=param)
        result = render(request, model=net, device=default_device(), snapshot_every=EXAMPLE_STEPS)
        out.append((name, result.images[0], float(result.scores[0])))
    heat = (result.extra["importance"][0] * 255).round().astype(np.uint8)
    out.append(("MACO attribution", np.repeat(heat[..., None], 3, axis=-1), float("nan")))
    return out
