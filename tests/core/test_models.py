import pytest
import torch

from featviz_core.errors import RequestError
from featviz_core.models import (
    REGISTRY, default_model_name, get_spec, layer_table, load_model, model_status, targetable_layers,
)
from featviz_core.models.layers import _meta_model, targetable_shapes

SEED_LAYERS = ["conv2d0", "conv2d1", "conv2d2", "mixed3a", "mixed3b", "mixed4a", "mixed4b", "mixed4c",
               "mixed4d", "mixed4e", "mixed5a", "mixed5b"]


def test_inceptionv1_layers_and_channel_counts():
    table = {info.name: info for info in layer_table("inceptionv1", 224)}
    assert all(name in table for name in SEED_LAYERS)
    counts = {name: table[name].channels for name in SEED_LAYERS}
    assert counts == {"conv2d0": 64, "conv2d1": 64, "conv2d2": 192, "mixed3a": 256, "mixed3b": 480,
                      "mixed4a": 508, "mixed4b": 512, "mixed4c": 512, "mixed4d": 528, "mixed4e": 832,
                      "mixed5a": 832, "mixed5b": 1024}
    assert (table["mixed4a"].height, table["mixed4a"].width) == (14, 14)
    assert (table["mixed5b"].height, table["mixed5b"].width) == (7, 7)
    assert "mixed4a_3x3_pre_relu_conv" in table  # branches are targetable too
    order = [info.name for info in layer_table("inceptionv1", 224)]
    assert order.index("mixed3a") < order.index("mixed4a") < order.index("mixed5b")


def test_inceptionv1_random_weights_forward(inception_random):
    with torch.no_grad():
        out = inception_random(torch.zeros(1, 3, 224, 224))
    assert out.shape == (1, 1008)  # inception5h has 1008 classes


def test_spatial_size_follows_the_input_size():
    small = {i.name: i for i in layer_table("efficientnet-lite0", 128)}
    assert (small["_blocks.10"].channels, small["_blocks.10"].height) == (112, 8)
    big = {i.name: i for i in layer_table("efficientnet-lite0", 224)}
    assert big["_blocks.10"].height == 14


def test_modules_called_more_than_once_are_not_targets():
    names = {i.name for i in layer_table("efficientnet-lite0", 224)}
    assert "_swish" not in names and "_blocks.10._swish" not in names  # ReLU6 modules run several times
    assert "_blocks.10._project_conv" in names


def test_preprocessing_is_data():
    inc, eff = get_spec("inceptionv1").preprocess, get_spec("efficientnet-lite0").preprocess
    x = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1)
    assert inc.apply(x).flatten().tolist() == [-117.0, 10.5, 138.0]
    assert eff.apply(x).flatten().tolist() == [-1.0, 0.0, 1.0]


def test_efficientnet_real_weights_are_available_offline_and_the_default(monkeypatch):
    monkeypatch.delenv("FEATVIZ_INCEPTIONV1_WEIGHTS", raising=False)  # this test's own cache folder is empty
    status = model_status("efficientnet-lite0")
    assert status.available and "efficientnet-lite0-57934424.pth" in status.message
    assert not model_status("inceptionv1").available  # no file named, nothing in the test's cache folder
    assert default_model_name() == "efficientnet-lite0"
    model = load_model("efficientnet-lite0", "cpu")
    assert model is load_model("efficientnet-lite0", "cpu")  # loaded once per process
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    # Real ImageNet weights: batch-norm statistics are learned, not the initial 0 / 1.
    assert model._bn0.running_var.mean().item() != 1.0


def test_registry_specs_are_complete():
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.default_layer in spec.featured_layers
        table = {i.name for i in layer_table(name, spec.native_size)}
        assert set(spec.featured_layers) <= table


@pytest.mark.parametrize("name", list(REGISTRY))
def test_min_input_size_is_the_exact_smallest_input(name):
    """The spec's minimum is data; a trace to the last targetable layer proves it exact: at the minimum and
    at sizes above it every layer is computed, one pixel less and the network shrinks to nothing."""
    spec = get_spec(name)
    smallest = spec.min_input_size
    last = targetable_layers(name)[-1]
    below = torch.zeros(1, 3, smallest - 1, smallest - 1, device="meta")
    with pytest.raises(RuntimeError):
        targetable_shapes(_meta_model(name), below, stop_after=last)
    for size in list(range(smallest, smallest + 9)) + [56, 64, 88, 100, 128, 152, 200, 224, 248, 280]:
        table = layer_table(name, size)
        assert [info.name for info in table] == list(targetable_layers(name)), size
        assert min(min(info.height, info.width) for info in table) >= 1, size
    with pytest.raises(RequestError, match=rf"{name} needs a model input of at least {smallest} px .*got {smallest - 1} px"):
        layer_table(name, smallest - 1)


def test_inceptionv1_layers_at_inputs_too_small_for_its_classifier_head():
    """InceptionV1 ends in a fixed 7x7 average pool that needs a 224 px input; listing layers stops
    before it, so the layer table exists for the small inputs that render fine."""
    for size in (88, 128, 152):
        table = {info.name: info for info in layer_table("inceptionv1", size)}
        assert set(SEED_LAYERS) <= set(table)
    assert layer_table("inceptionv1", 128)[-1].name == "mixed5b"
    assert layer_table("inceptionv1", 128)[-1].shape_text == "4x4"
    assert {i.name: i.shape_text for i in layer_table("inceptionv1", 88)}["mixed4a"] == "5x5"  # 88 -> 44 -> 22 -> 11 -> 5


def test_a_replaced_weight_file_is_loaded_again_and_is_loaded_says_so(inception_weights_file, tmp_path, monkeypatch):
    """The app's pages use the core's one model per process; replacing the file must not leave them the old weights."""
    import os
    import shutil

    import torch

    from featviz_core.models import is_loaded, load_model

    path = tmp_path / "inception5h.pth"
    shutil.copy(inception_weights_file(0), path)
    monkeypatch.setenv("FEATVIZ_INCEPTIONV1_WEIGHTS", str(path))
    first = load_model("inceptionv1")
    assert is_loaded("inceptionv1")
    shutil.copy(inception_weights_file(1), path)
    os.utime(path, (1, 1))  # another modification time, whatever the file system's clock resolution
    assert not is_loaded("inceptionv1")
    second = load_model("inceptionv1")
    assert is_loaded("inceptionv1") and second is not first
    name, weight = next(iter(first.state_dict().items()))
    assert not torch.equal(weight, second.state_dict()[name]), name
