import pytest

from featviz_core.config import Limits
from featviz_core.errors import RequestError
from featviz_core.models import get_spec
from featviz_core.objectives.targets import format_channels, parse_channels
from featviz_core.request import RenderRequest, min_image_size

E = "efficientnet-lite0"


def test_defaults_equal_the_seed_notebook():
    r = RenderRequest(model="inceptionv1")
    assert (r.layer, r.steps, r.size, r.lr, r.fft, r.decorrelate, r.transforms, r.upsample) == (
        "mixed4a", 512, 128, 0.05, True, True, "standard", True)
    assert r.model_input_size == 224


@pytest.mark.parametrize("text, expected", [
    ("0-9", tuple(range(10))), ("3,7,12", (3, 7, 12)), ("0-2, 8", (0, 1, 2, 8)), ("5", (5,)), ("4,4,2", (4, 2)),
])
def test_parse_channels(text, expected):
    assert parse_channels(text) == expected
    assert parse_channels(format_channels(expected)) == expected


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="resnet9000"), r"unknown model 'resnet9000'; choose one of: inceptionv1, efficientnet-lite0"),
    (dict(layer="mixed9z"), r"unknown layer 'mixed9z' for efficientnet-lite0; main layers are _conv_stem"),
    (dict(model="inceptionv1", channels=(508,)), r"channel 508 is outside layer mixed4a, which has 508 channels \(0-507\)"),
    (dict(channels="9-3"), r"runs backwards"),
    (dict(channels="a-b"), r"cannot read 'a-b'"),
    (dict(channels=""), r"channels are empty"),
    (dict(steps=0), r"steps must be between 1 and 4096, got 0"),
    (dict(steps=5000), r"steps must be between 1 and 4096, got 5000"),
    (dict(steps=2.5), r"steps must be a whole number"),
    (dict(size=8), r"image size must be between 16 and 1024 pixels, got 8"),
    (dict(size=2048), r"image size must be between 16 and 1024 pixels, got 2048"),
    (dict(tv=-0.1), r"TV weight cannot be negative"),
    (dict(l2=-1.0), r"L2 weight cannot be negative"),
    (dict(tv=float("inf")), r"tv must be a finite number"),
    (dict(l2=float("nan")), r"l2 must be a finite number"),
    (dict(lr=0.0), r"learning rate must be above 0"),
    (dict(lr=float("nan")), r"lr must be a finite number"),
    (dict(seed=-1), r"seed must be between 0 and"),
    (dict(fft="yes"), r"fft must be true or false"),
    (dict(transforms="wild"), r"unknown transforms preset 'wild'; choose one of: standard, distill, none"),
    (dict(objective="max"), r"unknown objective 'max'"),
    (dict(expression="_blocks.10:999"), r"channel 999 is outside layer _blocks.10, which has 112 channels"),
])
def test_every_validation_error_has_a_clear_message(kwargs, message):
    kwargs = {"model": E, **kwargs}
    with pytest.raises(RequestError, match=message):
        RenderRequest(**kwargs)


def test_neuron_position_is_checked_against_the_layer():
    with pytest.raises(RequestError, match=r"neuron position 20,3 is outside layer _blocks.10, whose activations are 14x14"):
        RenderRequest(model=E, expression="neuron(_blocks.10:1@20,3)")


def test_a_neuron_position_must_exist_where_the_finished_image_is_scored_too():
    # Without upsampling the image is rendered padded (a 10x10 layer) but scored as is (8x8): 8,8 exists only
    # in the first, so it is refused before rendering instead of failing after the whole optimization.
    with pytest.raises(RequestError, match=r"neuron position 8,8 is outside layer _blocks.10, whose activations are 8x8"):
        RenderRequest(model=E, objective="neuron", channels=(1,), position="8,8", upsample=False)
    assert RenderRequest(model=E, objective="neuron", channels=(1,), position="7,7", upsample=False).channels == (1,)


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("FEATVIZ_MAX_STEPS", "64")
    monkeypatch.setenv("FEATVIZ_MAX_CHANNELS", "4")
    with pytest.raises(RequestError, match="between 1 and 64"):
        RenderRequest(model=E, steps=65)
    with pytest.raises(RequestError, match="at most 4 per render"):
        RenderRequest(model=E, channels="0-9", steps=8)


def test_from_mapping_parses_strings_and_reports_bad_ones():
    r = RenderRequest.from_mapping({"model": E, "channels": "3,7", "steps": "12", "fft": "off", "tv": "0.5", "junk": "x"})
    assert (r.channels, r.steps, r.fft, r.tv) == ((3, 7), 12, False, 0.5)
    with pytest.raises(RequestError, match="steps must be a whole number, got 'many'"):
        RenderRequest.from_mapping({"model": E, "steps": "many"})
    with pytest.raises(RequestError, match="fft must be true or false"):
        RenderRequest.from_mapping({"model": E, "fft": "maybe"})


def test_key_depends_on_everything_that_changes_pixels():
    base = RenderRequest(model=E, channels=(1, 2), steps=8)
    assert base.key() == RenderRequest(model=E, channels="1-2", steps=8).key()
    for change in [dict(steps=9), dict(seed=1), dict(fft=False), dict(channels=(2, 1)), dict(tv=0.1), dict(size=64)]:
        assert base.replace(**change).key() != base.key()


def test_image_seeds_depend_only_on_seed_and_objective():
    a = RenderRequest(model=E, channels=(3, 5), seed=7)
    b = RenderRequest(model=E, channels=(5,), seed=7)
    assert a.image_seeds()[1] == b.image_seeds()[0]
    assert a.image_seeds()[0] != a.image_seeds()[1]
    assert RenderRequest(model=E, channels=(5,), seed=8).image_seeds() != b.image_seeds()


def test_labels():
    assert RenderRequest(model=E, channels=(0, 3)).labels() == ["_blocks.10:0", "_blocks.10:3"]
    assert RenderRequest(model=E, channels=(3,), negate=True).labels() == ["-_blocks.10:3"]
    assert RenderRequest(model=E, objective="layer").labels() == ["dream(_blocks.10)"]
    assert RenderRequest(model=E, objective="neuron", channels=(1,)).labels() == ["_blocks.10:1 neuron"]


@pytest.mark.parametrize("model", ["inceptionv1", E])
def test_too_small_for_the_model_is_one_clear_message(model):
    smallest = get_spec(model).min_input_size
    with pytest.raises(RequestError) as info:
        RenderRequest(model=model, size=16, upsample=False, steps=4)
    message = str(info.value)
    assert "\n" not in message
    assert message == (f"image size 16 px is too small for {model} without upsampling: the model would get a "
                       f"16 px input and needs at least {smallest} px; turn upsampling on or choose an image "
                       f"size of at least {smallest} px")
    for transforms in ("standard", "distill", "none", "lucent"):  # upsampled, any preset reaches 224 px
        assert RenderRequest(model=model, size=16, transforms=transforms, steps=4).model_input_size == 224


@pytest.mark.parametrize("model", ["inceptionv1", E])
def test_min_image_size_is_the_smallest_size_a_request_accepts(model):
    assert min_image_size(model) == Limits().min_size  # upsampled to the native size: any allowed size
    for transforms in ("standard", "distill", "none", "lucent"):
        smallest = min_image_size(model, upsample=False, transforms=transforms)
        assert smallest == get_spec(model).min_input_size  # the unpadded image is scored as it is
        RenderRequest(model=model, size=smallest, upsample=False, transforms=transforms, steps=4)
        with pytest.raises(RequestError, match=f"at least {smallest} px"):
            RenderRequest(model=model, size=smallest - 1, upsample=False, transforms=transforms, steps=4)


def test_inceptionv1_renders_at_sizes_its_classifier_head_could_not_take():
    """The Method page's examples: 64 px without upsampling is an 88 px input, far below the 224 px
    InceptionV1's 7x7 average pool needs, but every layer up to mixed5b is computed."""
    request = RenderRequest(model="inceptionv1", layer="mixed5b", channels="0-3", size=64, upsample=False, steps=4)
    assert request.model_input_size == 88 and request.scoring_input_size == 64


def test_min_image_size_reports_limits_that_leave_no_size(monkeypatch):
    monkeypatch.setenv("FEATVIZ_MAX_SIZE", "24")
    with pytest.raises(RequestError, match="no image size up to 24 px is large enough for inceptionv1"):
        min_image_size("inceptionv1", upsample=False)
    with pytest.raises(RequestError, match=r"needs at least 32 px; turn upsampling on$"):  # the only way left
        RenderRequest(model="inceptionv1", size=20, upsample=False, steps=4)
