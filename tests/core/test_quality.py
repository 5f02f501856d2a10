"""The neutral quality score: fixed grey-framed, upright and turned views, averaged."""

import numpy as np
import torch

from featviz_core.render import evaluate, render
from featviz_core.render.neutral_score import NEUTRAL_ANGLES, NEUTRAL_PADS, neutral_score, neutral_view
from featviz_core.request import RenderRequest

E = "efficientnet-lite0"


def _images(count: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_views_frame_the_image_in_grey():
    images = _images(2, 32)
    framed = neutral_view(images, pad=8, angle=0.0, input_size=48)  # 32 + 2 * 8: no resize
    torch.testing.assert_close(framed[:, :, 8:40, 8:40], images, atol=0, rtol=0)
    assert (framed[:, :, :8] == 0.5).all() and (framed[:, :, :, 40:] == 0.5).all()
    turned = neutral_view(images, pad=0, angle=5.0, input_size=32)
    assert turned.shape == (2, 3, 32, 32)
    torch.testing.assert_close(turned[:, :, 0, 0], torch.full((2, 3), 0.5))  # a corner turned out of the image
    assert not torch.allclose(turned, images, atol=1e-3)
    resized = neutral_view(images, pad=24, angle=5.0, input_size=224)
    assert resized.shape == (2, 3, 224, 224) and float(resized.min()) >= 0.0 and float(resized.max()) <= 1.0


def test_one_bare_view_is_the_plain_evaluation(effnet):
    request = RenderRequest(model=E, channels=(0, 3, 7), size=64, steps=4)
    images = _images(3, 64, seed=1)
    bare = neutral_score(effnet, E, request.objectives(), images, pads=(0,), angles=(0.0,))
    np.testing.assert_allclose(bare, evaluate(effnet, request, images), rtol=1e-4, atol=1e-4)


def test_the_score_is_the_mean_over_the_eight_views_image_by_image(effnet):
    request = RenderRequest(model=E, layer="_blocks.3", channels=(2, 5), size=48, steps=4)
    images = _images(2, 48, seed=2)
    objectives = request.objectives()
    small = dict(input_size=96)  # a smaller model input keeps the test quick; the arithmetic is the same
    score = neutral_score(effnet, E, objectives, images, **small)
    assert score.shape == (2,) and len(NEUTRAL_PADS) * len(NEUTRAL_ANGLES) == 8
    views = [neutral_score(effnet, E, objectives, images, pads=(p,), angles=(a,), **small)
             for p in NEUTRAL_PADS for a in NEUTRAL_ANGLES]
    np.testing.assert_allclose(score, np.mean(views, axis=0), rtol=1e-5, atol=1e-5)
    assert len({round(float(v[0]), 4) for v in views}) > 4  # the views really differ
    alone = neutral_score(effnet, E, objectives[1:], images[1:], **small)  # depends on that image only
    np.testing.assert_allclose(alone, score[1:], rtol=1e-4, atol=1e-4)


def test_an_optimized_image_scores_above_a_grey_one(effnet):
    request = RenderRequest(model=E, layer="_blocks.5", channels=(0, 3), size=48, steps=12, upsample=False)
    result = render(request, model=effnet, snapshot_every=12)
    optimized = torch.from_numpy(result.images).permute(0, 3, 1, 2).float() / 255
    grey = torch.full_like(optimized, 0.5)
    objectives = request.objectives()
    assert (neutral_score(effnet, E, objectives, optimized) > neutral_score(effnet, E, objectives, grey)).all()
