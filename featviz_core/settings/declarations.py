"""Every render setting declared once: name, type, bounds, default, help, URL name, CLI flag and widget.

:class:`featviz_core.request.RenderRequest` takes its fields from :data:`SETTINGS`, validates each value with
:meth:`Setting.check`, and reads strings (forms, links) with :meth:`Setting.parse`; the CLI derives its
``render`` options (``featviz_core.cli.options``), links their parameters (``featviz_core.links``) and the
app its form widgets (``featviz_ui.form``) from the same declarations. A new setting is one entry here plus
its effect on the render.

Nothing here imports torch: the app imports this module at start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from featviz_core.errors import RequestError, shown
from featviz_core.settings.transform_presets import PRESETS

MAX_SEED = 2**31 - 1
MAX_TEXT = 500  # characters a text value (form field, link parameter) may have
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
NOT_SET = object()  # a declaration without a default (required) or without its own CLI default


@dataclass(frozen=True)
class Setting:
    """One render setting.

    Attributes:
        name: the :class:`RenderRequest` field, also its URL parameter name.
        kind: ``int``, ``float``, ``bool``, ``text``, ``choice``, or ``channels`` (a list such as ``0-9,12``).
        default: the request's default (``NOT_SET``: required).
        label: the form's label.
        help: one sentence for the form's tooltip and the CLI's ``--help``.
        noun: how messages name it ("image size"; default: ``name``).
        low, high: allowed range, inclusive (``low_open``: above ``low``); a number or a function of
            :class:`featviz_core.config.Limits`.
        unit: written after the range in messages (" pixels").
        note: written after the range in messages (" (Lucid uses 0.05)").
        choices: allowed values of a ``choice`` (or a function returning them).
        link: ``always`` (every link carries it), ``changed`` (only when not the default) or ``None``
            (never in links).
        flag: the CLI option (``None``: not on the command line); bools get ``--x/--no-x``.
        cli_default: the CLI's default when it differs from the request's.
        cli_nargs: the option takes this many words (joined with "," into the value).
        cli_file: the option takes a photo file, kept by :mod:`featviz_core.photos.store`; the value is its digest.
        cli_folder: the option takes a folder of images, read by :mod:`featviz_core.method.maco` into an average
            spectrum kept for the render; the value is its digest.
        widget: how the app's form draws it: ``number``, ``toggle``, ``select``, ``text`` or ``None`` (the
            page draws it itself: the model, the layer, the channels).
        step, format: the number widget's step and display format.
        role: ``target`` (which image: layer, channels, objective), ``method`` (how it is optimized: an
            atlas is keyed by these) or ``beyond`` (renders beyond one image per channel; off by default).
    """

    name: str
    kind: str
    default: Any = NOT_SET
    label: str = ""
    help: str = ""
    noun: str = ""
    low: Any = None
    high: Any = None
    low_open: bool = False
    unit: str = ""
    note: str = ""
    choices: Any = None
    link: str | None = "changed"
    flag: str | None = None
    cli_default: Any = NOT_SET
    cli_nargs: int | None = None
    cli_file: bool = False
    cli_folder: bool = False
    widget: str | None = None
    step: float | None = None
    format: str | None = None
    role: str = "method"

    @property
    def required(self) -> bool:
        return self.default is NOT_SET

    @property
    def said(self) -> str:
        return self.noun or self.name

    def allowed(self) -> tuple[str, ...]:
        return tuple(self.choices() if callable(self.choices) else self.choices or ())

    def bounds(self, limits: Any) -> tuple[Any, Any]:
        low = self.low(limits) if callable(self.low) else self.low
        high = self.high(limits) if callable(self.high) else self.high
        return low, high

    # ----- validation of a typed value ---------------------------------------------------------------------
    def check(self, value: Any, limits: Any) -> None:
        """Raise :class:`RequestError` saying what is wrong with ``value`` and what is allowed."""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise RequestError(f"{self.name} must be true or false, got {shown(value)}")
            return
        if self.kind in ("int", "float"):
            self._check_number(value, limits)
            return
        if self.kind in ("text", "choice") and not isinstance(value, str):
            raise RequestError(f"{self.said} must be text{self._example()}, got {shown(value)}")
        if self.kind == "choice" and value not in self.allowed():
            raise RequestError(f"unknown {self.said} {shown(value)}; choose one of: {', '.join(self.allowed())}")

    def _example(self) -> str:
        return f" like {self.note.strip()}" if self.note and self.kind == "text" else ""

    def _check_number(self, value: Any, limits: Any) -> None:
        integer = self.kind == "int"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            raise RequestError(f"{self.name} must be {'a whole number' if integer else 'a number'}, got {shown(value)}")
        if not math.isfinite(value):
            raise RequestError(f"{self.name} must be a finite number, got {value!r}")
        low, high = self.bounds(limits)
        number = f"{value}" if integer else f"{value:g}"
        if high is None and low == 0 and not self.low_open:
            if value < 0:
                raise RequestError(f"{self.said} cannot be negative (0 turns it off), got {number}")
            return
        too_low = low is not None and (value <= low if self.low_open else value < low)
        too_high = high is not None and value > high
        if too_low or too_high:
            if self.low_open:
                most = "" if high is None else f" and at most {high:g}"
                raise RequestError(f"{self.said} must be above {low:g}{most}{self.note}, got {number}")
            raise RequestError(f"{self.said} must be between {low} and {high}{self.unit}{self.note}, got {number}")

    # ----- reading text (form fields, URL parameters) ------------------------------------------------------
    def parse(self, value: Any) -> Any:
        """A form's or a link's string -> the typed value (other values pass through to :meth:`check`)."""
        if not isinstance(value, str):
            return tuple(value) if self.kind == "channels" and isinstance(value, list) else value
        raw = value.strip()
        if self.kind == "channels":
            from featviz_core.objectives.targets import parse_channels

            return parse_channels(raw)
        if len(raw) > MAX_TEXT:
            raise RequestError(f"{self.name} is too long ({len(raw)} characters; at most {MAX_TEXT})")
        if self.kind == "bool":
            low = raw.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise RequestError(f"{self.name} must be true or false, got {shown(value)}")
        if self.kind in ("int", "float") and len(raw) > 40:
            raise RequestError(f"{self.name} must be a {'whole ' if self.kind == 'int' else ''}number, got {shown(value)}")
        if self.kind == "int":
            try:
                return int(raw)
            except ValueError:
                raise RequestError(f"{self.name} must be a whole number, got {shown(value)}") from None
        if self.kind == "float":
            try:
                return float(raw)
            except ValueError:
                raise RequestError(f"{self.name} must be a number, got {shown(value)}") from None
        return raw

    def text(self, value: Any) -> str:
        """The typed value as a link writes it (``parse(text(v)) == v``; floats in their shortest exact form)."""
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "channels":
            from featviz_core.objectives.targets import format_channels

            return format_channels(tuple(value))
        return str(value)


def _objective_kinds() -> tuple[str, ...]:
    from featviz_core.objectives import KINDS

    return tuple(KINDS)


def _transform_presets() -> tuple[str, ...]:
    return tuple(PRESETS)


#: Values of the compute-path settings (their effect: :mod:`featviz_core.render.compute_path`) and parameterizations.
PARAMS: tuple[str, ...] = ("fourier", "maco")
#: Optimizers (their effect: :func:`featviz_core.method.maco.optimizer_choice`): auto is the parameterization's own.
OPTIMIZERS: tuple[str, ...] = ("auto", "adam", "nadam")
#: Learning-rate schedules (their effect: :func:`featviz_core.method.schedule.learning_rate`).
LR_SCHEDULES: tuple[str, ...] = ("constant", "tail")
# The tail schedule's shape (computed by featviz_core.method.schedule; declared here, where its help and the
# words describing a render can say it).
TAIL_START = 0.7  # fraction of the steps at the full rate
TAIL_END = 0.1  # the last step's rate, as a fraction of the full rate


def tail_words() -> str:
    """The tail schedule in words: "lowered over the last 30% of the steps"."""
    return f"lowered over the last {round((1 - TAIL_START) * 100)}% of the steps"
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16", "auto")
MEMORY_FORMATS: tuple[str, ...] = ("contiguous", "channels_last", "auto")


#: Every setting of a render, in the request's field order.
SETTINGS: tuple[Setting, ...] = (
    # ----- which images -------------------------------------------------------------------------------------
    Setting("model", "text", label="Model", help="model name; auto: InceptionV1 if its weights are here, else "
            "efficientnet-lite0", link="always", flag="--model", cli_default="auto", role="target"),
    Setting("layer", "text", "", label="Layer", help="layer name, e.g. mixed4a or _blocks.10 (default: the model's)",
            link="always", flag="--layer", role="target"),
    Setting("channels", "channels", (0,), label="Channels", help="ranges and lists: 0-9, 3,7,12, 0-4,8",
            link="always", flag="--channels", cli_default="0-9", role="target"),
    Setting("objective", "choice", "channel", label="Objective", choices=_objective_kinds,
            help="what each image maximizes: a channel's mean, one neuron, or the whole layer (DeepDream)",
            flag="--objective", widget="select", role="target"),
    Setting("position", "text", "", label="Neuron position (y,x)", noun="neuron position", note="7,7",
            help="for the neuron objective: the neuron's row and column in the layer's activations, e.g. 7,7 "
            "(blank: the centre)", flag="--position", widget="text", role="target"),
    Setting("negate", "bool", False, label="Negate (minimize)", help="minimize instead of maximize",
            flag="--negate", widget="toggle", role="target"),
    Setting("expression", "text", "", label="Free objective", noun="expression", note="'mixed4a:3 - 0.5*mixed4a:7'",
            help="a custom objective, e.g. 'mixed4a:3 - 0.5*mixed4b:7' or 'neuron(mixed4a:9@7,7) + dream(mixed3a)'; "
            "one image, used instead of the layer and channels", flag="--expression", widget="text", role="target"),
    # ----- how they are optimized ---------------------------------------------------------------------------
    Setting("steps", "int", 512, label="Steps", help="optimization steps (Lucid uses 512)",
            low=1, high=lambda limits: limits.max_steps, link="always", flag="--steps", cli_default=None,
            widget="number", step=64),
    Setting("size", "int", 128, label="Image size (px)", noun="image size", unit=" pixels",
            help="side of each square image in pixels", low=lambda limits: limits.min_size,
            high=lambda limits: limits.max_size, link="always", flag="--size", widget="number", step=16),
    Setting("fft", "bool", True, label="Fourier parameterization", flag="--fft", widget="toggle",
            help="optimize the image's spectrum, scaled like natural images, instead of its pixels"),
    Setting("decorrelate", "bool", True, label="Color decorrelation", flag="--decorrelate", widget="toggle",
            help="optimize in a color space whose channels are uncorrelated in natural images"),
    Setting("tv", "float", 0.0, label="TV weight", noun="TV weight", low=0, flag="--tv", widget="number",
            step=0.0001, format="%.5f",
            help="total-variation penalty: discourages pixel-to-pixel noise (0 turns it off)"),
    Setting("l2", "float", 0.0, label="L2 weight", noun="L2 weight", low=0, flag="--l2", widget="number",
            step=0.0001, format="%.5f", help="penalty on the image's squared norm (0 turns it off)"),
    Setting("lr", "float", 0.05, label="Learning rate", noun="learning rate", low=0, low_open=True, high=10,
            note=" (Lucid uses 0.05)", flag="--lr", cli_default=None, widget="number", step=0.01, format="%.3f",
            help="the optimizer's step size (Lucid uses 0.05 with Adam; MACO's auto optimizer uses 1.0 when this is "
            "left at 0.05)"),
    Setting("optimizer", "choice", "auto", label="Optimizer", noun="optimizer", choices=OPTIMIZERS,
            flag="--optimizer", cli_default=None, widget="select",
            help="auto: Adam for fourier; for maco, NAdam at learning rate 1.0 as Fel et al. 2023 (a learning rate "
            "other than 0.05 is kept); adam or nadam: that optimizer at the learning rate given"),
    Setting("lr_schedule", "choice", "constant", label="Learning-rate schedule", noun="learning-rate schedule",
            choices=LR_SCHEDULES, flag="--lr-schedule", cli_default=None, widget="select",
            help=f"constant: the same rate at every step (Lucid); tail: the rate held for the first "
            f"{round(TAIL_START * 100)}% of the steps, then lowered linearly to {TAIL_END:g} of it at the last step "
            "(the fast preset's)"),
    Setting("transforms", "choice", "standard", label="Transforms", noun="transforms preset",
            choices=_transform_presets, flag="--transforms", widget="select",
            help="random jitter, scale and rotation at every step: standard (Lucid's values), lucent (Lucent "
            "0.1.8's chain), distill (the Distill article's gentler set) or none"),
    Setting("upsample", "bool", True, label="Upsample to the model's size", flag="--upsample", widget="toggle",
            help="upsample to the model's native size as Lucent does; off feeds the image as is (at least the "
            "model's smallest input)"),
    Setting("param", "choice", "fourier", label="Parameterization", noun="parameterization", choices=PARAMS,
            flag="--param", widget="select",
            help="fourier: Lucid's (the Fourier toggle chooses spectrum or pixels); maco: Fel et al. 2023, only the "
            "Fourier phase is optimized, the magnitude stays a natural-image spectrum (suits deep layers)"),
    Setting("maco_spectrum", "text", "", label="MACO magnitude from images", noun="MACO spectrum", cli_folder=True,
            flag="--maco-images",
            help="MACO's fixed magnitude: blank for a 1/f power law; the CLI takes a folder of images and uses their "
            "average spectrum (links name it by its SHA-256)"),
    Setting("precision", "choice", "float32", label="Model precision", noun="precision", choices=PRECISIONS,
            flag="--precision", cli_default=None, widget="select",
            help="number format of the model's computation: float32; bfloat16 where the device computes it "
            "natively (else float32, with a note); auto: bfloat16 on a CPU with AVX-512 BF16 or AMX for models measured "
            "faster with it"),
    Setting("memory_format", "choice", "contiguous", label="Memory layout", noun="memory format",
            choices=MEMORY_FORMATS, flag="--memory-format", cli_default=None, widget="select",
            help="layout of the model's tensors: contiguous, channels_last (often faster on CPUs), or auto "
            "(channels_last on a CPU)"),
    Setting("seed", "int", 0, label="Seed", help="the same settings and seed give the same images",
            low=0, high=MAX_SEED, link="always", flag="--seed", widget="number", step=1),
    # ----- beyond one image per channel ---------------------------------------------------------------------
    Setting("negative", "bool", False, label="Negatives beside positives", flag="--negative", widget="toggle",
            help="also render each objective negated (what suppresses it), beside the positive one, as the "
            "Distill article's pairs", role="beyond"),
    Setting("diversity", "int", 1, label="Diverse images per objective", noun="diversity (images per objective)",
            low=1, high=8, flag="--diversity", widget="number", step=1, role="beyond",
            help="render this many images of each objective, pushed apart by Lucid's diversity term (1: off)"),
    Setting("diversity_weight", "float", 100.0, label="Diversity weight", noun="diversity weight", low=0,
            flag="--diversity-weight", widget="number", step=10.0, format="%.1f", role="beyond",
            help="weight of the diversity term, as in Lucid's and Lucent's notebooks (they use 100); lower it when the "
            "images stop exciting their objective, 0 turns the push apart off"),
    Setting("interpolate", "text", "", label="Interpolate between", noun="interpolation", note="'mixed4a:3,mixed4a:7'",
            help="two channels LAYER:A,LAYER:B: frames that move from A to B, sharing a component so "
            "neighbouring frames stay aligned (used instead of the channels)", flag="--interpolate", cli_nargs=2,
            widget="text", role="beyond"),
    Setting("frames", "int", 6, label="Interpolation frames", noun="frames", low=2, high=16, flag="--frames",
            widget="number", step=1, role="beyond", help="how many frames an interpolation has, A and B included"),
    Setting("alpha", "bool", False, label="Transparent (alpha)", flag="--alpha", widget="toggle", role="beyond",
            help="optimize an alpha channel too, over random backgrounds, as Lucid's transparency notebook; the "
            "PNGs keep their alpha"),
    Setting("alpha_weight", "float", 1.0, label="Transparency pressure", noun="transparency pressure", low=0, high=1,
            flag="--alpha-weight", widget="number", step=0.1, format="%.2f", role="beyond",
            help="how strongly the objective is scaled by the image's transparency, as Lucid's transparency "
            "notebook (1: as the notebook; 0: no push toward transparency)"),
    Setting("init", "text", "", label="Start from photo", noun="photo", flag="--init", cli_file=True, role="beyond",
            help="start from a photo instead of noise (the CLI takes a file; links name the photo's SHA-256)"),
    Setting("init_l2", "float", 0.0, label="Pull toward the photo", noun="photo pull weight", low=0,
            flag="--init-l2", widget="number", step=0.001, format="%.4f", role="beyond",
            help="L2 pull toward the starting photo, so the result keeps looking like it (0 turns it off)"),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def setting(name: str) -> Setting:
    return BY_NAME[name]


def names(role: str | None = None) -> tuple[str, ...]:
    """Setting names in declaration order (of one role when given)."""
    return tuple(s.name for s in SETTINGS if role is None or s.role == role)


def parse_all(values: Mapping[str, Any]) -> dict[str, Any]:
    """Typed values of the known settings among ``values`` (strings from forms or links); unknown keys and
    None values are left out."""
    return {s.name: s.parse(values[s.name]) for s in SETTINGS if values.get(s.name) is not None}


def check_all(values: Mapping[str, Any], limits: Any, skip: tuple[str, ...] = ()) -> None:
    """:meth:`Setting.check` for every setting (in declaration order, so the first problem is reported)."""
    for s in SETTINGS:
        if s.name not in skip and s.name in values:
            s.check(values[s.name], limits)


def beyond_active(values: Mapping[str, Any]) -> tuple[str, ...]:
    """Names of the ``beyond`` settings that differ from their defaults."""
    return tuple(s.name for s in SETTINGS if s.role == "beyond" and values.get(s.name, s.default) != s.default)

