"""The layers an objective can target, and their shapes at a given model input size.

Shapes come from forward passes on the "meta" device: no weights, no memory, no arithmetic. The set of
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
from featviz_core.models.capture import StopForward, hooked_forward
from featviz_core.models.zoo import get_spec


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


def targetable_shapes(model: torch.nn.Module, example: torch.Tensor,
                      stop_after: str | None = None) -> dict[str, tuple[int, ...]]:
    """Output shape of every module that runs exactly once on ``example`` and outputs a 4-D tensor,
    in the order the modules run. The model is left without hooks.

    Args:
        model: any module in eval mode.
        example: (1, 3, H, W) input, usually on the "meta" device.
        stop_after: end the forward pass right after this module has run (modules past it are not
            traced, so they neither appear nor can fail on a small input).
    """
    calls: dict[str, int] = {}
    shapes: dict[str, tuple[int, ...]] = {}

    def hook_for(module_name: str):
        def hook(_module, _inputs, output):
            calls[module_name] = calls.get(module_name, 0) + 1
            if module_name not in shapes:
                shapes[module_name] = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
            if module_name == stop_after:
                raise StopForward

        return hook

    hooks = [(module, hook_for(module_name)) for module_name, module in model.named_modules() if module_name]
    with torch.no_grad():
        hooked_forward(model, hooks, example)
    return {n: shape for n, shape in shapes.items() if calls[n] == 1 and len(shape) == 4}


def _meta_model(name: str) -> torch.nn.Module:
    with torch.device("meta"):
        model = get_spec(name).build()
    return model.eval()


@lru_cache(maxsize=8)
def targetable_layers(name: str) -> tuple[str, ...]:
    """Names of the targetable layers of model ``name``, in the order they run (traced at its native size)."""
    side = get_spec(name).native_size
    return tuple(targetable_shapes(_meta_model(name), torch.zeros(1, 3, side, side, device="meta")))


def too_small_message(name: str, input_size: int) -> str | None:
    """Why ``input_size`` is below what model ``name`` accepts, or None when it is large enough."""
    spec = get_spec(name)
    if input_size >= spec.min_input_size:
        return None
    return (f"{spec.name} needs a model input of at least {spec.min_input_size} px (smaller inputs shrink to "
            f"nothing before its last layer), got {input_size} px")


@lru_cache(maxsize=32)
def layer_table(name: str, input_size: int = 224) -> tuple[LayerInfo, ...]:
    """Every targetable layer of ``name`` (a module that runs exactly once per forward pass and outputs a
    4-D tensor), in order, with its shape for a model input of ``input_size`` pixels.

    Raises:
        RequestError: ``input_size`` is below the model's ``min_input_size``.
    """
    problem = too_small_message(name, input_size)
    if problem:
        raise RequestError(problem)
    names = targetable_layers(name)
    try:
        shapes = targetable_shapes(_meta_model(name), torch.zeros(1, 3, input_size, input_size, device="meta"),
                                   stop_after=names[-1])
    except RuntimeError as exc:  # a spec whose min_input_size is wrong: still one clear line, never a traceback
        raise RequestError(f"{name} cannot run on a {input_size} px input ({str(exc).splitlines()[0]})") from None
    missing = [n for n in names if n not in shapes]
    if missing:
        raise RequestError(f"{name} cannot run on a {input_size} px input (layer {missing[0]} is not computed)")
    return tuple(LayerInfo(n, shapes[n][1], shapes[n][2], shapes[n][3]) for n in names)
