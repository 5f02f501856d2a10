"""Activations of the layers an objective reads, running the model only as far as it must.

Every walk over a model's forward pass goes through :func:`hooked_forward`: its forward hooks live for one
call and are removed in ``finally``, and a hook that raises :class:`StopForward` ends the pass right there,
so nothing past the deepest layer of interest runs. :func:`capture_layers` uses it for activations (hooks
act only in the thread that registered them, so a model shared by several render workers is safe); the
layer tables (:mod:`featviz_core.models.layers`) and the render variant (:mod:`featviz_core.models.fast`)
use it to trace shapes and convolution / batch-norm pairs.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable

import torch

from featviz_core.errors import RequestError

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


def capture_layers(model: torch.nn.Module, layers: Iterable[str], inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run ``model`` on ``inputs`` until every layer in ``layers`` has run; return their outputs.

    Args:
        model: any module; it is left exactly as it was (no hooks remain).
        layers: dotted module names (``"mixed4a"``, ``"_blocks.10"``).
        inputs: (B, 3, H, W) model input.

    Returns:
        layer name -> output tensor of that module's first call (B, C, h, w), still attached to the graph.
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
            captured[name] = output.clone()
            return None

        return hook

    hooked_forward(model, [(modules[name], make_hook(name)) for name in wanted], inputs)
    missing = [name for name in wanted if name not in captured]
    if missing:
        raise RequestError(f"layer(s) {', '.join(missing)} did not run in the forward pass; they cannot be targeted")
    return captured
