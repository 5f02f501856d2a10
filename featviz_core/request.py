"""RenderRequest: everything that decides a render's pixels, validated on construction.

The CLI, the app's form and its URL query parameters all build one of these, so they share one set of
rules and one set of messages. Runtime choices that do not change the result (device, batch size, snapshot
interval) are not part of the request.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from featviz_core.config import Limits
from featviz_core.errors import RequestError
from featviz_core.objectives import Objective, channel, deepdream, neuron, parse_objective
from featviz_core.transforms import PRESETS, get_preset, output_size

OBJECTIVE_KINDS = ("channel", "neuron", "layer")
MAX_SEED = 2**31 - 1


def _shown(value: Any) -> str:
    """A value quoted in a message, shortened: a hostile URL must not make a page-long error."""
    text = repr(value)
    return text if len(text) <= 44 else text[:40] + "..."


def parse_channels(text: str | int | list | tuple, limit: int | None = None) -> tuple[int, ...]:
    """``"0-9"``, ``"3,7,12"``, ``"0-4, 8"`` or a list of ints -> tuple of unique ints in the given order."""
    if isinstance(text, bool):
        raise RequestError("channels must be numbers like 0-9 or 3,7,12")
    if isinstance(text, int):
        items: list[int] = [text]
    elif isinstance(text, (list, tuple)):
        items = []
        for item in text:
            if isinstance(item, bool) or not isinstance(item, int):
                raise RequestError(f"channels must be whole numbers, got {item!r}")
            items.append(item)
    else:
        if limit is None:  # never expand a range past what a render may ask for ("0-999999999999")
            limit = Limits.from_env().max_channels
        raw = str(text).strip()
        if len(raw) > 2000:
            raise RequestError(f"channels: the list is too long ({len(raw)} characters); at most {limit} channels per render")
        if not raw:
            raise RequestError("channels are empty; write a range like 0-9 or a list like 3,7,12")
        items = []
        for part in raw.split(","):
            part = part.strip()
            match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
            if match:
                first, last = int(match.group(1)), int(match.group(2))
                if last < first:
                    raise RequestError(f"channels: {part!r} runs backwards; write first-last with first <= last")
                if limit is not None and last - first + 1 > limit:
                    raise RequestError(f"channels: {part!r} asks for {last - first + 1} channels; at most {limit} per render")
                items.extend(range(first, last + 1))
            elif re.fullmatch(r"\d+", part):
                items.append(int(part))
            else:
                raise RequestError(
                    f"channels: cannot read {_shown(part)}; write a range like 0-9, a list like 3,7,12, or both (0-4,8)"
                )
    if any(i < 0 for i in items):
        raise RequestError("channels cannot be negative")
    unique = tuple(dict.fromkeys(items))
    if not unique:
        raise RequestError("channels are empty; write a range like 0-9 or a list like 3,7,12")
    return unique


def format_channels(channels: tuple[int, ...]) -> str:
    """Inverse of :func:`parse_channels` for display and URLs: (0,1,2,3,7) -> "0-3,7"."""
    parts: list[str] = []
    run: list[int] = []
    for c in channels:
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [c]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def _check_number(name: str, value: Any, *, integer: bool) -> None:
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise RequestError(f"{name} must be {kind}, got {_shown(value)}")
    if not math.isfinite(value):
        raise RequestError(f"{name} must be a finite number, got {value!r}")


@dataclass(frozen=True)
class RenderRequest:
    """What to render. Construction validates every field and raises :class:`RequestError`.

    Defaults equal Lucent's ``render_vis`` as the seed notebook calls it: Adam at lr 0.05, 512 steps,
    128 px, Fourier parameterization, color decorrelation, Lucid's standard transforms, upsampled to 224 px.
    """

    model: str
    layer: str = ""
    channels: tuple[int, ...] = (0,)
    objective: str = "channel"
    negate: bool = False
    expression: str = ""
    steps: int = 512
    size: int = 128
    fft: bool = True
    decorrelate: bool = True
    tv: float = 0.0
    l2: float = 0.0
    lr: float = 0.05
    transforms: str = "standard"
    upsample: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        from featviz_core.models import get_spec, layer_table

        limits = Limits.from_env()
        spec = get_spec(self.model)
        if not isinstance(self.layer, str):
            raise RequestError(f"layer must be a name like {spec.default_layer}, got {_shown(self.layer)}")
        if not self.layer:
            object.__setattr__(self, "layer", spec.default_layer)
        for name in ("steps", "size", "seed"):
            _check_number(name, getattr(self, name), integer=True)
        for name in ("tv", "l2", "lr"):
            _check_number(name, getattr(self, name), integer=False)
        for name in ("fft", "decorrelate", "upsample", "negate"):
            if not isinstance(getattr(self, name), bool):
                raise RequestError(f"{name} must be true or false, got {_shown(getattr(self, name))}")
        if not 1 <= self.steps <= limits.max_steps:
            raise RequestError(f"steps must be between 1 and {limits.max_steps}, got {self.steps}")
        if not limits.min_size <= self.size <= limits.max_size:
            raise RequestError(f"image size must be between {limits.min_size} and {limits.max_size} pixels, got {self.size}")
        if not 0 <= self.seed <= MAX_SEED:
            raise RequestError(f"seed must be between 0 and {MAX_SEED}, got {self.seed}")
        if self.tv < 0:
            raise RequestError(f"TV weight cannot be negative (0 turns it off), got {self.tv:g}")
        if self.l2 < 0:
            raise RequestError(f"L2 weight cannot be negative (0 turns it off), got {self.l2:g}")
        if not 0 < self.lr <= 10:
            raise RequestError(f"learning rate must be above 0 and at most 10 (Lucid uses 0.05), got {self.lr:g}")
        if self.transforms not in PRESETS:
            raise RequestError(f"unknown transforms preset {_shown(self.transforms)}; choose one of: {', '.join(PRESETS)}")
        if self.objective not in OBJECTIVE_KINDS:
            raise RequestError(f"unknown objective {_shown(self.objective)}; choose one of: {', '.join(OBJECTIVE_KINDS)}")
        if not isinstance(self.expression, str):
            raise RequestError("expression must be text like 'mixed4a:3 - 0.5*mixed4a:7'")

        self._check_model_input(spec, limits)
        table = {info.name: info for info in layer_table(self.model, self.model_input_size)}
        if self.expression:
            parsed = parse_objective(self.expression)
            object.__setattr__(self, "channels", ())
            for term in parsed.terms:
                self._check_target(table, term.layer, term.channel, term.y, term.x, spec, limits)
            return
        self._check_layer(table, self.layer, spec)
        if self.objective == "layer":
            object.__setattr__(self, "channels", ())
            return
        channels = parse_channels(self.channels, limits.max_channels)
        object.__setattr__(self, "channels", channels)
        if len(channels) > limits.max_channels:
            raise RequestError(f"{len(channels)} channels asked for; at most {limits.max_channels} per render")
        for c in channels:
            self._check_target(table, self.layer, c, None, None, spec, limits)

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
            raise RequestError(
                f"unknown layer {_shown(layer)} for {spec.name}; main layers are {featured} "
                f"(all {len(table)} are listed by `python -m featviz_core layers --model {spec.name}`)"
            )

    def _check_target(self, table, layer, channel_index, y, x, spec, limits) -> None:
        self._check_layer(table, layer, spec)
        info = table[layer]
        if channel_index is not None and not 0 <= channel_index < info.channels:
            raise RequestError(
                f"channel {channel_index} is outside layer {layer}, which has {info.channels} channels "
                f"(0-{info.channels - 1})"
            )
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

    def objectives(self) -> list[Objective]:
        """One objective per image, in display order."""
        sign = -1.0 if self.negate else 1.0
        if self.expression:
            return [parse_objective(self.expression) * sign]
        if self.objective == "layer":
            return [deepdream(self.layer) * sign]
        if self.objective == "neuron":
            return [neuron(self.layer, c) * sign for c in self.channels]
        return [channel(self.layer, c) * sign for c in self.channels]

    def labels(self) -> list[str]:
        """Captions, e.g. ``mixed4a:3``; neurons and negated objectives say so."""
        prefix = "-" if self.negate else ""
        if self.expression:
            return [("-(" + self.expression + ")") if self.negate else self.expression]
        if self.objective == "layer":
            return [f"{prefix}dream({self.layer})"]
        suffix = " neuron" if self.objective == "neuron" else ""
        return [f"{prefix}{self.layer}:{c}{suffix}" for c in self.channels]

    def image_seeds(self) -> list[int]:
        """Seed of each image's random stream, derived from the seed and the image's objective only, so an
        image starts from the same noise and sees the same transforms whether it is rendered alone or in
        a batch (its pixels may still differ in rounding between batch shapes; see ``featviz_core.render``)."""
        seeds = []
        for objective in self.objectives():
            digest = hashlib.sha256(f"{self.seed}|{objective.describe()}".encode()).hexdigest()
            seeds.append(int(digest[:15], 16))
        return seeds

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
        payload = json.dumps({"v": __version__, "weights": weights, **self.to_dict()}, sort_keys=True)
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

        base = defaults.to_dict() if defaults is not None else {}
        kwargs: dict[str, Any] = {}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for name, field in fields.items():
            if name in values and values[name] is not None:
                kwargs[name] = _convert(name, values[name], field.type)
            elif name in base:
                kwargs[name] = tuple(base[name]) if name == "channels" else base[name]
        model = kwargs.get("model") or "auto"
        kwargs["model"] = default_model_name() if model == "auto" else model
        return cls(**kwargs)


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
    Pages use it to pick example sizes that work for the model in use.

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


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(name: str, value: Any, annotation: Any) -> Any:
    text_type = str(annotation)
    if not isinstance(value, str):
        return tuple(value) if name == "channels" and isinstance(value, list) else value
    raw = value.strip()
    if name == "channels":
        return parse_channels(raw, Limits.from_env().max_channels)
    if len(raw) > 500:
        raise RequestError(f"{name} is too long ({len(raw)} characters; at most 500)")
    if "bool" in text_type:
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise RequestError(f"{name} must be true or false, got {_shown(value)}")
    if text_type in ("int", "float") and len(raw) > 40:
        raise RequestError(f"{name} must be a {'whole ' if text_type == 'int' else ''}number, got {_shown(value)}")
    if text_type == "int":
        try:
            return int(raw)
        except ValueError:
            raise RequestError(f"{name} must be a whole number, got {_shown(value)}") from None
    if text_type == "float":
        try:
            return float(raw)
        except ValueError:
            raise RequestError(f"{name} must be a number, got {_shown(value)}") from None
    return raw
