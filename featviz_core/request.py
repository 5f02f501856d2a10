"""RenderRequest: everything that decides a render's pixels, validated on construction.

The CLI, the app's form and its URL query parameters all build one of these, so they share one set of
rules and one set of messages. Its fields are the settings declared in :mod:`featviz_core.settings` (name,
type, bounds, default, help), so a setting is declared once; the rules that relate several settings (a
layer of this model, channels inside it, options that conflict) are here. Runtime choices that do not
change the result (device, batch size, snapshot interval) are not part of the request.

Layer (checked by tests/test_layout.py): may import errors, config, device, settings, objectives, models, method,
photos, image_plan, words; torch at module level: no.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from typing import Any, Mapping

from featviz_core.config import Limits
from featviz_core.errors import RequestError, shown
from featviz_core.image_plan import PlannedImage, plan_images
from featviz_core.objectives import Objective, get_kind, parse_objective, registered_kinds
from featviz_core.objectives.targets import parse_channels, parse_interpolation, parse_position
from featviz_core.settings import SETTINGS, beyond_active, check_all, parse_all
from featviz_core.settings.transform_presets import get_preset, output_size
from featviz_core.words import images_asked_for

__all__ = ["RenderRequest", "min_image_size"]

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class _Request:
    """Methods of :class:`RenderRequest` (its fields come from the settings' declarations)."""

    def __post_init__(self) -> None:
        from featviz_core.models import get_spec, layer_table

        limits = Limits.from_env()
        spec = get_spec(self.model)
        if not isinstance(self.layer, str):
            raise RequestError(f"layer must be a name like {spec.default_layer}, got {shown(self.layer)}")
        values = dataclasses.asdict(self)
        check_all(values, limits, skip=("model", "channels"))
        if not self.layer:
            object.__setattr__(self, "layer", spec.default_layer)
        self._check_combinations(spec)
        self._check_model_input(spec, limits)
        table = {info.name: info for info in layer_table(self.model, self.model_input_size)}
        # A neuron must exist both while rendering and when the finished image is scored (without upsampling
        # that is a smaller input, so a smaller layer): positions are checked against the smaller one.
        scored = self.scoring_input_size
        positions = table if scored >= self.model_input_size else {
            info.name: info for info in layer_table(self.model, scored)}
        if self.expression:  # it names its own targets: channels and a position do not apply
            object.__setattr__(self, "channels", ())
            object.__setattr__(self, "position", "")
            for term in parse_objective(self.expression).terms:
                self._check_target(table, term.layer, term.channel, term.y, term.x, spec, positions)
        elif self.interpolate:
            ends = parse_interpolation(self.interpolate)
            object.__setattr__(self, "interpolate", ",".join(f"{layer}:{c}" for layer, c in ends))
            object.__setattr__(self, "channels", ())
            for layer, c in ends:
                self._check_target(table, layer, c, None, None, spec, positions)
        else:
            self._check_layer(table, self.layer, spec)
            if not get_kind(self.objective).reads_channel:  # one image for the whole layer
                object.__setattr__(self, "channels", ())
            else:
                channels = parse_channels(self.channels, limits.max_channels)
                object.__setattr__(self, "channels", channels)
                if len(channels) > limits.max_channels:
                    raise RequestError(f"{len(channels)} channels asked for; at most {limits.max_channels} per render")
                y, x = parse_position(self.position) or (None, None)
                for c in channels:
                    self._check_target(table, self.layer, c, y, x, spec, positions)
        count = len(self.images())
        if count > limits.max_channels:
            raise RequestError(
                f"{count} images asked for ({images_asked_for(self)}); at most {limits.max_channels} per render: ask "
                "for fewer channels, diverse images or frames"
            )

    def _check_combinations(self, spec) -> None:
        """Settings that cannot go together, each with the reason and the way out."""
        if self.position and not get_kind(self.objective).reads_position and not self.expression:
            takes = ", ".join(k.name for k in registered_kinds() if k.reads_position)
            raise RequestError(f"a position needs an objective that reads one ({takes}); choose it or clear the "
                               "position")
        if self.interpolate and self.expression:
            raise RequestError("an interpolation and a free objective cannot be combined; clear one of them")
        if self.interpolate and self.objective != "channel":
            raise RequestError("an interpolation runs between two channels; choose objective 'channel' for it")
        if self.interpolate and self.diversity > 1:
            raise RequestError("an interpolation cannot also have diverse images; set diversity to 1 or clear the "
                               "interpolation")
        if self.negative and self.negate:
            raise RequestError("negatives beside positives already show both signs; turn off 'negate' or 'negative'")
        if self.alpha and spec.input_channels != 3:
            raise RequestError(f"transparency needs a model that takes RGB images; {spec.name} takes "
                               f"{spec.input_channels} channel(s); turn alpha off")
        if self.alpha and self.init:
            raise RequestError("a photo has no alpha channel: start from a photo or render with alpha, not both")
        if self.init_l2 and not self.init:
            raise RequestError("the pull toward the photo needs a starting photo; give one (init) or set the pull "
                               "weight to 0")
        self._check_maco()
        if self.init:
            from featviz_core.photos.store import get_photo

            if not _DIGEST.match(self.init):
                raise RequestError(f"photo: {shown(self.init)} is not a photo's SHA-256 (64 hexadecimal digits); "
                                   "upload the photo on the Photo page or give --init a file")
            if get_photo(self.init) is None:
                raise RequestError("the photo this render starts from is not on this server (photos are kept in "
                                   "memory only while the server runs); upload it again on the Photo page")

    def _check_maco(self) -> None:
        """MACO optimizes three colors' Fourier phases of independent images; its spectrum must be here."""
        if self.maco_spectrum and self.param != "maco":
            raise RequestError("a MACO spectrum is used by the MACO parameterization only; choose param maco or "
                               "clear the spectrum")
        if self.param != "maco":
            return
        clashes = [(not self.fft, "the Fourier parameterization off (MACO optimizes the Fourier phase)"),
                   (self.alpha, "transparency (alpha)"), (self.interpolate, "an interpolation"),
                   (self.init, "a start photo")]
        for clash, what in clashes:
            if clash:
                raise RequestError(f"MACO cannot be combined with {what}; choose param fourier or turn that off")
        if self.maco_spectrum:
            from featviz_core.method.maco import get_spectrum

            if not _DIGEST.match(self.maco_spectrum):
                raise RequestError(f"MACO spectrum: {shown(self.maco_spectrum)} is not a spectrum's SHA-256 (64 "
                                   "hexadecimal digits); give a folder of images with --maco-images, or leave it "
                                   "blank for the 1/f power law")
            if get_spectrum(self.maco_spectrum) is None:
                raise RequestError("the MACO spectrum this render uses is not on this server (spectra from image "
                                   "folders are kept in memory only); give the folder again with --maco-images")

    def _check_model_input(self, spec, limits: Limits) -> None:
        """The model must see at least ``spec.min_input_size`` px, while rendering and when scoring."""
        seen = min(self.model_input_size, self.scoring_input_size)
        if seen >= spec.min_input_size:
            return
        how = "" if self.upsample else " without upsampling"
        fixes = []
        if not self.upsample and _smallest_size(spec, self.transforms, True, limits) is not None:
            fixes.append("turn upsampling on")
        smallest = _smallest_size(spec, self.transforms, self.upsample, limits)
        if smallest is not None:
            fixes.append(f"choose an image size of at least {smallest} px")
        raise RequestError(
            f"image size {self.size} px is too small for {spec.name}{how}: the model would get a {seen} px input and "
            f"needs at least {spec.min_input_size} px; " + (" or ".join(fixes) or "no allowed size is large enough")
        )

    @staticmethod
    def _check_layer(table: dict, layer: str, spec) -> None:
        if layer not in table:
            featured = ", ".join(spec.featured_layers)
            from featviz_core.models.layers import module_names

            if layer in module_names(spec.name):
                raise RequestError(
                    f"layer {shown(layer)} of {spec.name} cannot be targeted: its output is not activations "
                    "((batch, channels, height, width), channels last, or (batch, tokens, width)), or it runs more "
                    f"than once per forward pass; main layers that can: {featured} (all {len(table)} are listed by "
                    f"`python -m featviz_core layers --model {spec.name}`)")
            raise RequestError(
                f"unknown layer {shown(layer)} for {spec.name}; main layers are {featured} "
                f"(all {len(table)} are listed by `python -m featviz_core layers --model {spec.name}`)"
            )

    def _check_target(self, table, layer, channel_index, y, x, spec, positions) -> None:
        self._check_layer(table, layer, spec)
        info = table[layer]
        if channel_index is not None and not 0 <= channel_index < info.channels:
            raise RequestError(
                f"channel {channel_index} is outside layer {layer}, which has {info.channels} channels "
                f"(0-{info.channels - 1})"
            )
        info = positions[layer]
        if y is not None and not (0 <= y < info.height and 0 <= x < info.width):
            raise RequestError(
                f"neuron position {y},{x} is outside layer {layer}, whose activations are "
                f"{info.height}x{info.width} at this image size"
            )

    # ----- derived values -------------------------------------------------------------------------------
    @property
    def model_input_size(self) -> int:
        """Side of the image the model sees."""
        from featviz_core.models import get_spec

        spec = get_spec(self.model)
        return output_size(get_preset(self.transforms), self.size, spec.native_size if self.upsample else None)

    @property
    def scoring_input_size(self) -> int:
        """Side of the image the model sees when a finished image is scored without random transforms:
        the model input size when upsampling, else the image itself (no padding)."""
        return self.model_input_size if self.upsample else self.size

    @functools.cached_property
    def _plan(self) -> tuple[PlannedImage, ...]:
        # Planned once per request (validation counts the images; pages read labels every poll). A cached
        # property writes the instance's __dict__ directly, which a frozen dataclass allows.
        return tuple(plan_images(self))

    def images(self) -> list[PlannedImage]:
        """Every image: objective, caption, seed and group, in display order (:mod:`featviz_core.image_plan`)."""
        return list(self._plan)

    def objectives(self) -> list[Objective]:
        """One objective per image, in display order."""
        return [image.objective for image in self.images()]

    def labels(self) -> list[str]:
        """Captions, e.g. ``mixed4a:3``; neurons, negated objectives, diverse images and frames say so, and so
        does every image of a network with random weights."""
        from featviz_core.models import weights_label

        mark = weights_label(self.model)
        return [f"{image.label} ({mark})" if mark else image.label for image in self.images()]

    def weights_text(self) -> str:
        """What the model's weights are, for render.json: "random weights (asked for explicitly; not a trained
        network)" or the model's title."""
        from featviz_core.models import get_spec, weights_label

        if weights_label(self.model):
            return "random weights (asked for explicitly; not a trained network)"
        return get_spec(self.model).title

    def image_seeds(self) -> list[int]:
        """Seed of each image's random stream, derived from the seed and the image's objective (and its
        index among diverse images) only, so an image starts from the same noise and sees the same
        transforms whether it is rendered alone or in a batch (its pixels may still differ in rounding
        between batch shapes; see ``featviz_core.render``)."""
        return [image.seed for image in self.images()]

    @property
    def beyond(self) -> tuple[str, ...]:
        """The settings beyond one image per channel that this request uses (empty for a plain render)."""
        return beyond_active(dataclasses.asdict(self))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["channels"] = list(self.channels)
        return data

    def key(self, weights: str | None = None) -> str:
        """Content hash of everything that decides the pixels: the settings, the featviz version and the
        weights (their SHA-256, so a render is only ever served for the weights it was made with).

        Args:
            weights: the weights' identity; default: :func:`featviz_core.models.weights_identity` of the
                model now ("" when its file is not on this machine yet).
        """
        from featviz_core import __version__
        from featviz_core.models import weights_identity

        if weights is None:
            weights = weights_identity(self.model)
        data = self.to_dict()
        if self.param != "maco" and self.optimizer in ("auto", "adam"):
            del data["optimizer"]  # Adam, as before the setting existed: Lucid's renders keep their keys
        if self.lr_schedule == "constant":
            del data["lr_schedule"]  # as before the setting existed
        if (self.precision, self.memory_format) != ("float32", "contiguous"):
            # what decides the compute path this machine runs (featviz_core.render.compute_path.resolve_path)
            from featviz_core.device import bfloat16_native, default_device

            device = default_device()
            native, evidence = bfloat16_native(device) if self.precision != "float32" else (False, "")
            data["compute_path"] = f"{device.type}{f', bfloat16 native ({evidence})' if native else ''}"
        payload = json.dumps({"v": __version__, "weights": weights, **data}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def replace(self, **changes: Any) -> "RenderRequest":
        return dataclasses.replace(self, **changes)

    # ----- building from text (forms, URLs, CLI) -------------------------------------------------------
    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, defaults: "RenderRequest | None" = None) -> "RenderRequest":
        """Build from strings (query parameters, form fields). Unknown keys are ignored.

        ``model`` may be ``"auto"`` (the default model of this machine).
        """
        from featviz_core.models import default_model_name

        kwargs: dict[str, Any] = {}
        if defaults is not None:
            kwargs.update(dataclasses.asdict(defaults))
        kwargs.update(parse_all(values))
        model = kwargs.get("model") or "auto"
        kwargs["model"] = default_model_name() if model == "auto" else model
        return cls(**kwargs)


def _field(setting) -> tuple:
    if setting.required:
        return (setting.name, Any)
    default = setting.default
    return (setting.name, Any, dataclasses.field(default=default))


#: What to render. Construction validates every field and raises :class:`RequestError`. Its fields are
#: :data:`featviz_core.settings.SETTINGS`; defaults equal Lucent's ``render_vis`` as the seed notebook calls it
#: (Adam at lr 0.05, 512 steps, 128 px, Fourier parameterization, color decorrelation, Lucid's standard
#: transforms, upsampled to 224 px) and render one image per channel.
RenderRequest = dataclasses.make_dataclass(
    "RenderRequest", [_field(s) for s in SETTINGS], bases=(_Request,), frozen=True,
    namespace={"__module__": __name__, "__doc__": "What to render: the settings of featviz_core.settings, validated."},
)


def _smallest_size(spec, transforms: str, upsample: bool, limits: Limits) -> int | None:
    """Smallest allowed image size whose model inputs (rendering and scoring) reach ``spec.min_input_size``."""
    preset = get_preset(transforms)
    native = spec.native_size if upsample else None
    for size in range(limits.min_size, limits.max_size + 1):
        rendered = output_size(preset, size, native)
        scored = rendered if upsample else size
        if min(rendered, scored) >= spec.min_input_size:
            return size
    return None


def min_image_size(model: str, upsample: bool = True, transforms: str = "standard") -> int:
    """The smallest image side (px) a :class:`RenderRequest` accepts for ``model`` with these settings.

    Upsampled images always reach the model's native size, so with ``upsample`` this is the general lower
    bound (``FEATVIZ_MIN_SIZE``); without it the image itself must reach the model's ``min_input_size``.
    A caller (a page, a script, a test) uses it to pick sizes that work for the model in use.

    Raises:
        RequestError: unknown model or preset, or no allowed size is large enough (limits set too low).
    """
    from featviz_core.models import get_spec

    spec = get_spec(model)
    limits = Limits.from_env()
    smallest = _smallest_size(spec, transforms, upsample, limits)
    if smallest is None:
        raise RequestError(
            f"no image size up to {limits.max_size} px is large enough for {spec.name} "
            f"(it needs a model input of at least {spec.min_input_size} px)"
        )
    return smallest
