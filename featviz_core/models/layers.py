"""The layers an objective can target, and their shapes at a given model input size.

Shapes come from forward passes on the "meta" device: no weights, no memory, no arithmetic (a model that
cannot run there is traced with one real forward pass of a single image instead). The set of
targetable layers is found once per model at its native size (where the whole network runs); at any other
size the trace stops right after the last of them, so a classifier head that needs a large input (InceptionV1
ends in a fixed 7x7 average pool) never decides whether a size can be rendered. A model's smallest input is
data in its spec (``ModelSpec.min_input_size``), checked against these traces by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from featviz_core.errors import RequestError
from featviz_core.models.capture import targetable_shapes
from featviz_core.models.loading import load_model, random_model
from featviz_core.models.spec import ModelSpec
from featviz_core.models.sources import get_spec
from featviz_core.models.structure import meta_copy


@dataclass(frozen=True)
class LayerInfo:
    """A layer an objective can target, with its output shape at a given model input size."""

    name: str
    channels: int
    height: int
    width: int

    @property
    def shape_text(self) -> str:
        return f"{self.height}x{self.width}"


def _meta_model(name: str) -> torch.nn.Module:
    spec = get_spec(name)
    if spec.build is None:  # a ready module (the user's, or a loaded export): its structure on the meta device
        return meta_copy(load_model(name, "cpu"))
    with torch.device("meta"):
        model = spec.build()
    return model.eval()


def _real_model(name: str) -> torch.nn.Module:
    return random_model(name) if get_spec(name).build is not None else load_model(name, "cpu")


def trace_shapes(name: str, input_size: int, stop_after: str | None = None) -> dict[str, tuple[int, ...]]:
    """:func:`targetable_shapes` of model ``name`` for a square input of ``input_size`` px: on the meta
    device, or, where the model cannot run there (an operation without a meta kernel), with one real forward
    pass of a single image on the CPU."""
    side = input_size
    try:
        return targetable_shapes(_meta_model(name), torch.zeros(1, 3, side, side, device="meta"), stop_after)
    except Exception:  # noqa: BLE001 - any failure on meta is retried for real, where its error is meaningful
        return targetable_shapes(_real_model(name), torch.zeros(1, 3, side, side), stop_after)


def targetable_layers(name: str) -> tuple[str, ...]:
    """Names of the targetable layers of model ``name``, in the order they run (traced at its native size)."""
    return _targetable_layers(get_spec(name))


@lru_cache(maxsize=8)
def _targetable_layers(spec: ModelSpec) -> tuple[str, ...]:
    """Keyed by the spec, so a module registered again under its name is traced again."""
    return tuple(trace_shapes(spec.name, spec.native_size))


@lru_cache(maxsize=32)
def module_names(name: str) -> frozenset[str]:
    """Every submodule name of model ``name`` (targetable or not), for messages about layers that exist but
    cannot be targeted."""
    try:
        return frozenset(n for n, _ in _meta_model(name).named_modules() if n)
    except Exception:  # noqa: BLE001 - only used to word a message
        return frozenset()


def too_small_message(name: str, input_size: int) -> str | None:
    """Why ``input_size`` is below what model ``name`` accepts, or None when it is large enough."""
    spec = get_spec(name)
    if input_size >= spec.min_input_size:
        return None
    return (f"{spec.name} needs a model input of at least {spec.min_input_size} px (smaller inputs shrink to "
            f"nothing before its last layer), got {input_size} px")


def layer_table(name: str, input_size: int = 224) -> tuple[LayerInfo, ...]:
    """Every targetable layer of ``name`` (a module that runs exactly once per forward pass and outputs
    activations, see :func:`targetable_shapes`), in order, with its (channels, height, width) for a model input of ``input_size`` pixels.

    Raises:
        RequestError: ``input_size`` is below the model's ``min_input_size``.
    """
    return _layer_table(get_spec(name), input_size)


@lru_cache(maxsize=32)
def _layer_table(spec: ModelSpec, input_size: int) -> tuple[LayerInfo, ...]:
    """Keyed by the spec, so a module registered again under its name is traced again."""
    name = spec.name
    problem = too_small_message(name, input_size)
    if problem:
        raise RequestError(problem)
    names = targetable_layers(name)
    try:
        shapes = trace_shapes(name, input_size, stop_after=names[-1])
    except (RuntimeError, AssertionError, ValueError) as exc:  # a size the model refuses: one clear line
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise RequestError(f"{name} cannot run on a {input_size} px input ({first})") from None
    missing = [n for n in names if n not in shapes]
    if missing:
        raise RequestError(f"{name} cannot run on a {input_size} px input (layer {missing[0]} is not computed)")
    return tuple(LayerInfo(n, shapes[n][1], shapes[n][2], shapes[n][3]) for n in names)
