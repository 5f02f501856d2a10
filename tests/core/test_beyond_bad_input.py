"""Bad input to the renders beyond one image per channel: on the command line each gets one clear line and exit
status 2, before anything is rendered or written."""

import dataclasses

import numpy as np
import pytest
from PIL import Image

from featviz_core import models
from featviz_core.cli.dispatch import main
from featviz_core.errors import RequestError
from featviz_core.request import RenderRequest

E = "efficientnet-lite0"


def run_render(tmp_path, capsys, *options: str) -> tuple[int, str]:
    """Run ``render`` with small settings plus ``options``; (exit status, stderr)."""
    out = tmp_path / "out"
    code = main(["render", "--model", E, "--layer", "_blocks.4", "--channels", "3", "--size", "32", "--steps", "2",
                 "--no-upsample", "--quiet", "--out", str(out), *options])
    err = capsys.readouterr().err
    assert not out.exists()  # refused before rendering: nothing written
    return code, err


@pytest.fixture
def photo_file(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.full((40, 48, 3), 90, np.uint8)).save(path)
    return path


@pytest.fixture
def grey_model(monkeypatch):
    """A registered model that takes one-channel (grey) images: EfficientNet's spec with ``input_channels=1``."""
    spec = dataclasses.replace(models.REGISTRY[E], name="grey-net", input_channels=1)
    monkeypatch.setitem(models.REGISTRY, "grey-net", spec)
    return "grey-net"


@pytest.mark.parametrize("options,message", [
    (["--diversity", "9"], "diversity (images per objective) must be between 1 and 8, got 9"),
    (["--interpolate", "_blocks.4:3", "_blocks.4:7", "--frames", "1"], "frames must be between 2 and 16, got 1"),
    (["--interpolate", "_blocks.4:3", "_blocks.4:7", "--frames", "17"], "frames must be between 2 and 16, got 17"),
    (["--interpolate", "_blocks.4:3", "_blocks.4:99"], "channel 99 is outside layer _blocks.4, which has 40 channels"),
    (["--negate", "--negative"], "negatives beside positives already show both signs"),
    (["--interpolate", "_blocks.4:3", "_blocks.4:7", "--expression", "_blocks.4:3"],
     "an interpolation and a free objective cannot be combined"),
    (["--interpolate", "_blocks.4:3", "_blocks.4:7", "--diversity", "2"],
     "an interpolation cannot also have diverse images"),
    (["--init-l2", "0.5"], "the pull toward the photo needs a starting photo"),
    (["--alpha-weight", "1.5"], "transparency pressure must be between 0 and 1, got 1.5"),
    (["--diversity-weight", "-1"], "diversity weight cannot be negative"),
])
def test_bad_settings_get_one_line_and_exit_2(tmp_path, capsys, options, message):
    code, err = run_render(tmp_path, capsys, *options)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert "Traceback" not in err


def test_too_many_images_in_all_names_the_limit(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FEATVIZ_MAX_CHANNELS", "12")
    code, err = run_render(tmp_path, capsys, "--channels", "0-3", "--diversity", "4")
    assert code == 2 and err.count("\n") == 1
    assert "16 images asked for (4 objective(s), 4 diverse images each); at most 12 per render" in err, err


def test_a_photo_that_is_not_an_image_or_missing_is_named(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    code, err = run_render(tmp_path, capsys, "--init", str(text))
    assert code == 2 and err.count("\n") == 1
    assert f"--init {text}: the uploaded file is not an image featviz accepts; send a PNG, JPEG or WEBP" in err, err
    missing = tmp_path / "gone.jpg"
    code, err = run_render(tmp_path, capsys, "--init", str(missing))
    assert code == 2 and err == f"error: --init {missing}: no such file; give a photo (PNG, JPEG, WebP, ...)\n"


def test_alpha_with_a_photo_is_refused(tmp_path, capsys, photo_file):
    code, err = run_render(tmp_path, capsys, "--alpha", "--init", str(photo_file))
    assert code == 2 and err.count("\n") == 1
    assert "a photo has no alpha channel: start from a photo or render with alpha, not both" in err


def test_alpha_needs_a_model_that_takes_rgb(tmp_path, capsys, grey_model):
    out = tmp_path / "out"
    code = main(["render", "--model", grey_model, "--layer", "_blocks.4", "--channels", "3", "--size", "32",
                 "--steps", "2", "--no-upsample", "--alpha", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert err == ("error: transparency needs a model that takes RGB images; grey-net takes 1 channel(s); turn "
                   "alpha off\n")
    # The same model renders without alpha as far as the request goes: only the combination is refused.
    assert RenderRequest(model=grey_model, layer="_blocks.4", channels=(3,), size=32, upsample=False).alpha is False


def test_a_photo_no_longer_held_is_a_request_error():
    """A link or a saved request naming a photo this process does not hold says so (no traceback)."""
    with pytest.raises(RequestError, match="upload it again on the Photo page"):
        RenderRequest(model=E, layer="_blocks.4", channels=(3,), init="0" * 64)
