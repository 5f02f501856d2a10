import torch
import torch.nn.functional as F

from featviz_core.method.transforms import apply_transforms, sample_params
from featviz_core.settings.transform_presets import PRESETS, TransformSpec, output_size


def _params(b, jx=0.0, jy=0.0, scale=1.0, angle=0.0, jx2=0.0, jy2=0.0):
    return torch.tensor([[jx, jy, scale, angle, jx2, jy2]] * b)


def test_identity_geometry_is_pad_and_resize():
    spec = TransformSpec(name="pad-only", pad=4, jitter=2)
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    out = apply_transforms(images, spec, _params(2), out_size=24)
    expected = F.pad(images, [4] * 4, value=0.5)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_integer_jitter_shifts_content_by_whole_pixels():
    spec = TransformSpec(name="jitter", jitter=8)
    images = torch.zeros(1, 3, 16, 16)
    images[:, :, 5, 7] = 1.0
    out = apply_transforms(images, spec, _params(1, jx=3.0, jy=-2.0), out_size=16)
    assert torch.nonzero(out[0, 0] > 0.99).tolist() == [[3, 10]]


def test_rotation_by_90_degrees_matches_rot90():
    spec = TransformSpec(name="rot", angles=(90.0,))
    images = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    out = apply_transforms(images, spec, _params(1, angle=90.0), out_size=8)
    options = [torch.rot90(images, k, dims=(2, 3)) for k in (1, 3)]
    assert min((out - o).abs().max().item() for o in options) < 1e-5


def test_scale_zooms_about_the_centre():
    spec = TransformSpec(name="scale", scales=(2.0,))
    images = torch.zeros(1, 3, 16, 16)
    images[:, :, 6:10, 6:10] = 1.0  # centred 4x4 square
    out = apply_transforms(images, spec, _params(1, scale=2.0), out_size=16)
    mask = out[0, 0] > 0.5
    rows = torch.nonzero(mask.any(1)).flatten()
    assert rows.min().item() == 4 and rows.max().item() == 11  # now 8 px wide, still centred


def test_each_image_uses_its_own_parameters():
    spec = PRESETS["standard"]
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    draws = torch.stack([sample_params(spec, 1, torch.Generator().manual_seed(s))[0] for s in range(3)])
    together = apply_transforms(images, spec, draws, out_size=64)
    for i in range(3):
        alone = apply_transforms(images[i : i + 1], spec, draws[i : i + 1], out_size=64)
        torch.testing.assert_close(together[i : i + 1], alone)


def test_sampled_parameters_come_from_the_preset():
    spec = PRESETS["standard"]
    draws = sample_params(spec, 500, torch.Generator().manual_seed(0))
    assert draws.shape == (500, 6)
    assert set(draws[:, 0].tolist()) <= {x - 3.5 for x in range(8)}
    assert set(round(v, 4) for v in draws[:, 2].tolist()) <= {round(s, 4) for s in spec.scales}
    assert set(draws[:, 3].tolist()) <= set(spec.angles)
    assert set(draws[:, 4].tolist()) <= {x - 1.5 for x in range(4)}
    again = sample_params(spec, 500, torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)


def test_output_size_follows_lucent_upsampling():
    standard, distill = PRESETS["standard"], PRESETS["distill"]
    assert output_size(standard, 128, 224) == 224  # upsampled like Lucent
    assert output_size(standard, 128, None) == 152  # native: the padded image
    assert output_size(standard, 256, 224) == 280  # large images are not resized
    assert output_size(distill, 128, None) == 128  # Distill crops the padding


def test_distill_preset_values():
    d = PRESETS["distill"]
    assert (d.pad, d.jitter, d.jitter_after, d.crop_padding) == (16, 16, 8, True)
    assert sorted(d.scales) == [0.95, 0.975, 1.0, 1.025, 1.05]
    assert d.angles == tuple(float(a) for a in range(-5, 6))


# ----- the lucent preset against Lucent's own transform functions ------------------------------------------
def _lucent_standard():
    """Lucent 0.1.8's standard_transforms and its resize to 224 px, as render_vis chains them."""
    import inspect

    from lucent.optvis import transform as lucent_transform

    chain = lucent_transform.standard_transforms
    resize = torch.nn.Upsample(size=224, mode="bilinear", align_corners=True)
    return chain, lambda x: resize(lucent_transform.compose(chain)(x)), inspect.getclosurevars


def _replay_lucent_draws(seed: int, scales, angles) -> list[float]:
    """The values Lucent's transforms draw from numpy's global generator after ``np.random.seed(seed)``, in
    its order: jitter(8) x then y, random_scale, random_rotate, jitter(4) x then y."""
    import numpy as np

    np.random.seed(seed)
    first = [np.random.choice(8), np.random.choice(8)]
    scale, angle = np.random.choice(list(scales)), np.random.choice(list(angles))
    second = [np.random.choice(4), np.random.choice(4)]
    return [float(v) for v in (*first, scale, angle, *second)]


def test_lucent_preset_holds_lucents_values():
    chain, _, closure = _lucent_standard()
    spec = PRESETS["lucent"]
    assert closure(chain[0]).nonlocals == {"w": spec.pad, "mode": "constant", "constant_value": spec.pad_value}
    assert closure(chain[1]).nonlocals["d"] == spec.jitter and closure(chain[4]).nonlocals["d"] == spec.jitter_after
    assert tuple(closure(chain[2]).nonlocals["scales"]) == spec.scales
    assert tuple(float(a) for a in closure(chain[3]).nonlocals["angles"]) == spec.angles
    draws = sample_params(spec, 400, torch.Generator().manual_seed(0))
    assert set(draws[:, 0].tolist()) == set(range(8)) and set(draws[:, 4].tolist()) == set(range(4))  # one-sided


def test_lucent_preset_equals_lucents_transforms_on_the_same_draws():
    """Each image, with the draws Lucent's own functions make after np.random.seed(s), comes out as
    Lucent's chain makes it, within float rounding. The seeds cover shrinking, enlarging, no scale,
    rotations both ways and zero shifts."""
    import numpy as np

    _, lucent_apply, _ = _lucent_standard()
    spec = PRESETS["lucent"]
    seeds = [0, 3, 6, 8, 11, 13, 15]  # scales 1.0, 1.08, 0.96, 0.92, 0.9, 1.1, 1.0; seed 15 draws no shift
    images = torch.rand(len(seeds), 3, 128, 128, generator=torch.Generator().manual_seed(3))
    params = torch.tensor([_replay_lucent_draws(s, spec.scales, spec.angles) for s in seeds], dtype=torch.float32)
    assert {round(v, 2) for v in params[:, 2].tolist()} & {0.9, 0.92, 0.94, 0.96, 0.98}  # some shrink
    assert {round(v, 2) for v in params[:, 2].tolist()} & {1.02, 1.04, 1.06, 1.08, 1.1}  # some enlarge
    ours = apply_transforms(images, spec, params, out_size=224)  # the whole batch at once
    assert ours.shape == (len(seeds), 3, 224, 224)
    for i, seed in enumerate(seeds):
        np.random.seed(seed)
        theirs = lucent_apply(images[i : i + 1])
        # kornia inverts its matrices in float32, this code in float64: values in [0, 1] differ by ~1e-5 at
        # most (a 1/255 grey level is 4e-3); a shift or angle off by one would differ by ~0.1.
        torch.testing.assert_close(ours[i : i + 1], theirs, atol=1e-4, rtol=0)
        assert (ours[i : i + 1] - theirs).abs().mean() < 1e-5


def test_lucent_preset_follows_gradients_and_keeps_batch_order():
    spec = PRESETS["lucent"]
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(4), requires_grad=True)
    params = _params(3, jx=1.0, jy=6.0, scale=1.1, angle=-7.0, jx2=3.0, jy2=0.0)
    params[1, 2] = 0.9  # image 1 alone in its scale group: the batch is put back in order
    out = apply_transforms(images, spec, params, out_size=56)
    assert out.shape == (3, 3, 56, 56)
    for i in range(3):
        torch.testing.assert_close(out[i : i + 1], apply_transforms(images[i : i + 1], spec, params[i : i + 1], 56))
    out.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
