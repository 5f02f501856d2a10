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

    from featviz_core.param import ImageParam, decorrelate_colors, raw_shape

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


@st.cache_data(show_spinner=False, max_entries=32)
def tiny_renders(model: str, layer: str, channel: int, seed: int = 0) -> list[tuple[str, np.ndarray, float]]:
    """One channel rendered three ways at 64 px and 32 steps, at the model's own resolution (no
    upsampling, to stay cheap): Lucid's recipe, plain pixels, and no transforms.

    Returns (name, (H, W, 3) uint8 image, objective without transforms) per variant.
    """
    from featviz_core.device import default_device
    from featviz_core.render import render
    from featviz_core.request import RenderRequest

    from featviz_ui.models import shared_model

    base = RenderRequest(model=model, layer=layer, channels=(channel,), steps=EXAMPLE_STEPS,
                         size=EXAMPLE_SIZE, upsample=False, seed=seed)
    variants = (
        ("Fourier, decorrelated, transforms", base),
        ("Plain pixels", base.replace(fft=False, decorrelate=False)),
        ("No transforms", base.replace(transforms="none")),
    )
    net = shared_model(model)
    out = []
    for name, request in variants:
        result = render(request, model=net, device=default_device(), snapshot_every=EXAMPLE_STEPS)
        out.append((name, result.images[0], float(result.scores[0])))
    return out
