"""The ``render`` command's options, derived from the settings' declarations (:mod:`featviz_core.settings`).

Each setting with a ``flag`` becomes one option with its type, choices, default and help; bools get
``--x/--no-x``. :func:`request_from_args` turns the parsed options back into a :class:`RenderRequest`.
``--random-weights`` (``layers``, ``render``) is :data:`RANDOM_HELP` and :func:`apply_random_weights`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from featviz_core.errors import RequestError
from featviz_core.settings import NOT_SET, SETTINGS, Setting


RANDOM_HELP = ("a torchvision:NAME or timm:NAME model with seeded random weights instead of its published ones "
               "(an untrained network, labelled so on every image; the same as NAME?weights=random)")


def apply_random_weights(args: argparse.Namespace) -> None:
    """Apply --random-weights to --model."""
    if getattr(args, "random_weights", False):
        from featviz_core.models.sources import with_random_weights

        args.model = with_random_weights(args.model)


def _default(setting: Setting) -> Any:
    return setting.default if setting.cli_default is NOT_SET else setting.cli_default


def _help(setting: Setting) -> str:
    """The option's help line; ``%`` doubled, as argparse formats help text with ``%``."""
    default = _default(setting)
    if setting.kind == "bool":
        text = f"{setting.help} (default {'on' if default else 'off'})"
    elif default in (None, ""):
        text = setting.help
    else:
        text = f"{setting.help} (default {default})"
    return text.replace("%", "%%")


def _chosen(roles: tuple[str, ...] | None) -> list[Setting]:
    return [s for s in SETTINGS if s.flag is not None and (roles is None or s.role in roles)]


def add_setting_options(parser: argparse.ArgumentParser, roles: tuple[str, ...] | None = None) -> None:
    """One option per declared setting that has a CLI flag (of these roles only, when given: the ``atlas``
    command takes the ``method`` settings)."""
    for setting in _chosen(roles):
        options: dict[str, Any] = {"dest": setting.name, "default": _default(setting), "help": _help(setting)}
        if setting.kind == "bool":
            options["action"] = argparse.BooleanOptionalAction
        elif setting.kind == "int":
            options["type"] = int
        elif setting.kind == "float":
            options["type"] = float
        elif setting.kind == "choice":  # checked by the request, so the CLI's message is the app's
            options["metavar"] = "{" + ",".join(setting.allowed()) + "}"
        if setting.cli_nargs:
            options["nargs"] = setting.cli_nargs
            options["metavar"] = tuple(f"{setting.name.upper()}_{i + 1}" for i in range(setting.cli_nargs))
        if setting.cli_file:
            options["metavar"] = "PHOTO"
        if setting.cli_folder:
            options["metavar"] = "FOLDER"
        parser.add_argument(setting.flag, **options)


def _photo(path: str) -> str:
    """A photo file -> the digest of its pixels, kept for the render (the same checks as the app's uploads)."""
    from featviz_core.photos.store import add_photo
    from featviz_core.photos.uploads import UploadLimits, load_upload

    file = Path(path)
    if not file.is_file():
        raise RequestError(f"--init {path}: no such file; give a photo (PNG, JPEG, WebP, ...)")
    try:
        image = load_upload(file.read_bytes(), UploadLimits.from_env())
    except RequestError as exc:  # the upload checks speak of "the uploaded file": say which file it was
        raise RequestError(f"--init {path}: {exc}") from None
    return add_photo(image)


def setting_values(args: argparse.Namespace, roles: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The declared settings among the parsed options, as request values (photo files read, pairs joined;
    an option left at None, such as --steps under a quality preset, is left out: the request's default)."""
    values: dict[str, Any] = {}
    for setting in _chosen(roles):
        value = getattr(args, setting.name)
        if value is None:
            continue
        if setting.cli_nargs and isinstance(value, (list, tuple)):
            value = ",".join(value)
        if setting.cli_file and value:
            value = _photo(value)
        if setting.cli_folder and value:
            from featviz_core.method.maco import add_spectrum_from_folder

            value = add_spectrum_from_folder(value)
        values[setting.name] = value
    return values


def request_from_args(args: argparse.Namespace, **overrides: Any):
    """The :class:`RenderRequest` the options describe (``overrides`` win, e.g. the quality preset's steps)."""
    from featviz_core.request import RenderRequest

    values = {**setting_values(args), **overrides}
    return RenderRequest.from_mapping(values)
