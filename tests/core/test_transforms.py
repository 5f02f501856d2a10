import torch
import torch.nn.functional as F

from featviz_core.transforms import PRESETS, TransformSpec, apply_transforms, output_size, sample_params


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
