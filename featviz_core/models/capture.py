"""Activations of the layers an objective reads, running the model only as far as it must.

Every walk over a model's forward pass goes through :func:`hooked_forward`: its forward hooks live for one
call and are removed in ``finally``, and a hook that raises :class:`StopForward` ends the pass right there,
so nothing past the deepest layer of interest runs. :func:`capture_layers` uses it for activations (hooks
act only in the thread that registered them, so a model shared by several render workers is safe); the
layer tables (:mod:`featviz_core.models.layers`) and the render variant (:mod:`featviz_core.models.fast`)
use it to trace shapes (:func:`targetable_shapes`) and convolution / batch-norm pairs.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable

import torch

from featviz_core.errors import RequestError
from featviz_core.models.activations import channels_first, channels_first_shape

#: A forward hook: ``hook(module, inputs, output)``, as ``torch.nn.Module.register_forward_hook`` takes.
Hook = Callable[[torch.nn.Module, tuple, Any], Any]


class StopForward(Exception):
    """Raised by a hook of :func:`hooked_forward` to end the forward pass there (nothing after it runs)."""


def hooked_forward(model: torch.nn.Module, hooks: Iterable[tuple[torch.nn.Module, Hook]], inputs: Any) -> bool:
    """Run ``model(inputs)`` with forward ``hooks`` (module, hook) that live for this call only.

    The hooks are registered in order before the pass and removed in ``finally``, so the model is left as it
    was whatever happens. A hook may raise :class:`StopForward` to end the pass early. Gradients are recorded
    as the caller's context says (wrap the call in ``torch.no_grad()`` for a trace).

    Returns:
        True when a hook stopped the pass, False when it ran to the end.
    """
    handles = [module.register_forward_hook(hook) for module, hook in hooks]
    try:
        model(inputs)
    except StopForward:
        return True
    finally:
        for handle in handles:
            handle.remove()
    return False


def targetable_shapes(model: torch.nn.Module, example: torch.Tensor,
                      stop_after: str | None = None) -> dict[str, tuple[int, ...]]:
    """Output shape, as (B, C, H, W), of every module that runs exactly once on ``example`` and outputs
    activations an objective can read (4-D, channels first or last, or transformer tokens: see
    :mod:`featviz_core.models.activations`), in the order the modules run. The model is left without hooks.

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
    seen = {n: channels_first_shape(shape) for n, shape in shapes.items() if calls[n] == 1}
    return {n: shape for n, shape in seen.items() if shape is not None}


def capture_layers(model: torch.nn.Module, layers: Iterable[str], inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run ``model`` on ``inputs`` until every layer in ``layers`` has run; return their outputs.

    Args:
        model: any module; it is left exactly as it was (no hooks remain).
        layers: dotted module names (``"mixed4a"``, ``"_blocks.10"``).
        inputs: (B, 3, H, W) model input.

    Returns:
        layer name -> output of that module's first call as (B, C, h, w), still attached to the graph
        (channels-last outputs and transformer tokens are laid out so: ``featviz_core.models.activations``).
    """
    wanted = list(dict.fromkeys(layers))
    modules = dict(model.named_modules())
    unknown = [name for name in wanted if name not in modules or not name]
    if unknown:
        raise RequestError(f"unknown layer(s) {', '.join(map(repr, unknown))}; list valid names with `python -m featviz_core layers`")
    owner = threading.get_ident()
    captured: dict[str, torch.Tensor] = {}

    def make_hook(name: str):
        def hook(_module, _inputs, output):
            if threading.get_ident() != owner or name in captured:
                return None
            # An earlier layer's output may be modified in place by a later module (e.g. ReLU(inplace=True));
            # only the deepest layer is guaranteed untouched because the pass stops right after it.
            captured[name] = output
            if len(captured) == len(wanted):
                raise StopForward
            captured[name] = output.clone() if isinstance(output, torch.Tensor) else output
            return None

        return hook

    hooked_forward(model, [(modules[name], make_hook(name)) for name in wanted], inputs)
    missing = [name for name in wanted if name not in captured]
    if missing:
        raise RequestError(f"layer(s) {', '.join(missing)} did not run in the forward pass; they cannot be targeted")
    seen = {name: channels_first(output) for name, output in captured.items()}
    refused = [name for name, output in seen.items() if output is None]
    if refused:
        raise RequestError(
            f"layer(s) {', '.join(refused)} output {_shape_text(captured[refused[0]])}, which cannot be targeted (a "
            "layer must output (batch, channels, height, width), channels last, or (batch, tokens, width)); list "
            "the layers that can with `python -m featviz_core layers`")
    return seen  # type: ignore[return-value]


def _shape_text(output: object) -> str:
    if isinstance(output, torch.Tensor):
        return "a tensor of shape " + "x".join(map(str, output.shape))
    return f"a {type(output).__name__}, not a tensor"
