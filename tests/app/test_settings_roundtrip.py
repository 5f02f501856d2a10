"""Every declared setting round-trips through the CLI, a link and the Explorer's form.

The cases below give every setting of ``featviz_core.settings.SETTINGS`` a value other than its default, in a
request where that value is allowed. A setting declared later without a CLI flag, a link parameter or a form
widget makes these tests fail, unless it is listed below as drawn by the page itself or kept outside the form.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
from app_helpers import errors, press_render, set_form, submitted, widget_by_key
from PIL import Image

from featviz_core.settings import SETTINGS

EARLY = "_blocks.4"
# Settings the Explorer draws itself rather than from their declaration (featviz_ui.form): the model is the
# sidebar's, the layer and the channels depend on the model.
DRAWN_BY_THE_PAGE = ("model", "layer", "channels")
# Settings that have no widget in the Explorer's form: the photo is uploaded on the Photo page, whose links
# name it; the Explorer keeps it (a switch turns it off) when its form renders again.
# MACO's spectrum from a folder of images is read by the CLI (--maco-images) from the server's own disk; links
# name it by digest.
NOT_IN_THE_FORM = ("init", "maco_spectrum")


@pytest.fixture(scope="module")
def photo() -> tuple[Image.Image, str]:
    """A small photo, held for photo-seeded requests, and its digest."""
    from featviz_core.photos.store import add_photo

    ramp = np.linspace(0, 255, 64, dtype=np.float32)
    pixels = np.stack([np.add.outer(ramp, ramp) / 2, np.add.outer(ramp, 255 - ramp) / 2,
                       np.full((64, 64), 90.0)], axis=-1).astype(np.uint8)
    image = Image.fromarray(pixels)
    return image, add_photo(image)


@pytest.fixture(scope="module")
def spectrum_folder(tmp_path_factory) -> tuple[Path, str]:
    """A folder of two images for MACO's magnitude, and the digest of their average spectrum."""
    from featviz_core.method.maco import add_spectrum_from_folder

    folder = tmp_path_factory.mktemp("maco-images")
    ramp = np.linspace(0, 255, 40, dtype=np.float32)
    for i in range(2):
        Image.fromarray(np.stack([np.add.outer(ramp, ramp * i) / (1 + i)] * 3, axis=-1).astype(np.uint8)).save(
            folder / f"{i}.png")
    return folder, add_spectrum_from_folder(folder)


def cases(digest: str, spectrum: str = "") -> dict[str, object]:
    """Requests that together give every setting a non-default value (each value allowed where it is)."""
    from featviz_core.request import RenderRequest

    base = dict(model="efficientnet-lite0", layer=EARLY, steps=2, size=32, seed=0)
    return {
        "neuron": RenderRequest(**{**base, "channels": (2, 5), "objective": "neuron", "position": "3,4", "negate": True,
                                   "steps": 3, "size": 48, "fft": False, "decorrelate": False, "tv": 0.0003,
                                   "l2": 0.0002, "lr": 0.07, "optimizer": "nadam", "lr_schedule": "tail", "transforms": "distill", "upsample": False, "seed": 11,
                                   "precision": "bfloat16", "memory_format": "channels_last"}),
        "expression": RenderRequest(**{**base, "expression": f"{EARLY}:3 - 0.5*{EARLY}:7", "alpha": True,
                                       "alpha_weight": 0.5}),
        "inception": RenderRequest(model="inceptionv1", layer="mixed3a", channels=(1,), steps=2, size=32, seed=3,
                                   negative=True, diversity=2, diversity_weight=50.0, param="maco"),
        "interpolation": RenderRequest(**{**base, "interpolate": f"{EARLY}:1,{EARLY}:2", "frames": 3}),
        "photo": RenderRequest(**{**base, "objective": "layer", "init": digest, "init_l2": 0.01}),
        **({"maco_folder": RenderRequest(**base, param="maco", maco_spectrum=spectrum, precision="auto",
                                         memory_format="auto")} if spectrum else {}),
    }


NAMES = ("neuron", "expression", "inception", "interpolation", "photo", "maco_folder")


@pytest.fixture
def case(request, photo, spectrum_folder, with_inception):
    return cases(photo[1], spectrum_folder[1])[request.param]


def test_every_setting_is_on_the_command_line_in_links_and_in_the_form():
    from featviz_ui.form import FORM_SETTINGS

    for setting in SETTINGS:
        assert setting.flag, f"{setting.name} has no CLI flag"
        assert setting.link in ("always", "changed"), f"{setting.name} is not in links"
        in_form = setting.name in FORM_SETTINGS
        assert in_form != (setting.name in DRAWN_BY_THE_PAGE + NOT_IN_THE_FORM), \
            f"{setting.name}: give it a widget, or say why the form does not draw it"


def test_the_cases_give_every_setting_a_value_other_than_its_default(photo, spectrum_folder, with_inception):
    requests = cases(photo[1], spectrum_folder[1]).values()
    assert set(NAMES) == set(cases(photo[1], spectrum_folder[1]))
    for setting in SETTINGS:
        assert setting.required or any(getattr(r, setting.name) != setting.default for r in requests), \
            f"no case sets {setting.name}: add a value to one of the cases"


def cli_argv(request, photo_file, folder=None) -> list[str]:
    """``render`` arguments asking for ``request``, one per declared setting (bools as --x / --no-x)."""
    argv = ["render", "--out", "unused"]
    for setting in SETTINGS:
        value = getattr(request, setting.name)
        if setting.kind == "bool":
            argv.append(setting.flag if value else "--no-" + setting.flag[2:])
        elif value in ("", ()):
            continue  # left to the request: no channels for a layer, an expression or an interpolation
        elif setting.cli_file:
            argv += [setting.flag, str(photo_file)]
        elif setting.cli_folder:
            argv += [setting.flag, str(folder)]
        elif setting.cli_nargs:
            argv += [setting.flag, *setting.text(value).split(",")]
        else:
            argv += [setting.flag, setting.text(value)]
    return argv


@pytest.mark.parametrize("case", NAMES, indirect=True)
def test_every_setting_round_trips_through_the_command_line(case, photo, spectrum_folder, tmp_path):
    from featviz_core.cli.dispatch import _parser
    from featviz_core.cli.options import request_from_args

    photo_file = tmp_path / "photo.png"
    photo[0].save(photo_file)
    args = _parser().parse_args(cli_argv(case, photo_file, spectrum_folder[0]))
    assert request_from_args(args) == case


@pytest.mark.parametrize("case", NAMES, indirect=True)
def test_every_setting_round_trips_through_a_link(case):
    from featviz_core.links import link_values, request_from_values, request_params

    params = request_params(case)
    assert request_from_values(params) == case
    assert request_from_values(link_values("?" + urlencode(params))) == case  # as the address bar holds it


@pytest.mark.parametrize("case", [n for n in NAMES if n not in ("photo", "maco_folder")], indirect=True)
def test_every_form_setting_round_trips_through_the_explorer_form(case, new_app):
    from featviz_ui.form import FORM_SETTINGS

    at = new_app().run()
    at.sidebar.selectbox(key="model").set_value(case.model).run()
    at.selectbox(key=f"ex_layer_{case.model}").set_value(case.layer)
    channels = ",".join(str(c) for c in case.channels) or "0"
    set_form(at, list=channels, **{name: getattr(case, name) for name in FORM_SETTINGS})
    press_render(at)
    assert not errors(at)
    assert submitted(at) == case


def test_a_photo_link_fills_the_form_and_the_form_keeps_the_photo(photo, new_app):
    from featviz_core.links import request_params
    from featviz_ui.form import FORM_SETTINGS

    case = cases(photo[1])["photo"]
    at = new_app(request_params(case)).run()
    assert submitted(at) == case  # the link itself renders
    for name in FORM_SETTINGS:
        value = getattr(case, name)
        shown = widget_by_key(at, f"ex_{name}").value  # the widget is drawn and shows the link's value
        assert shown == value, (name, shown, value)
    assert at.toggle(key="ex_use_photo").value is True
    set_form(at, seed=12)  # a change made in the form: the photo stays
    press_render(at)
    assert not errors(at)
    assert submitted(at) == dataclasses.replace(case, seed=12)
    at.toggle(key="ex_use_photo").set_value(False)
    set_form(at, init_l2=0.0)
    press_render(at)
    assert submitted(at) == dataclasses.replace(case, seed=12, init="", init_l2=0.0)
