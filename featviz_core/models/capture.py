"""Activations of the layers an objective reads, running the model only as far as it must.

Forward hooks live for one call and are removed in ``finally``; once every requested layer has produced
its output, a private exception stops the forward pass, so nothing past the deepest target layer runs.
Hooks only act in the thread that registered them, so a model shared by several render workers is safe.
"""

from __future__ import annotations

import threading
from typing import Iterable

import torch

from featviz_core.errors import RequestError


class _StopForward(Exception):
    """Raised inside a hook once all requested layers are captured."""


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
                raise _StopForward
            captured[name] = output.clone()
            return None

        return hook

    handles = [modules[name].register_forward_hook(make_hook(name)) for name in wanted]
    try:
        model(inputs)
    except _StopForward:
        pass
    finally:
        for handle in handles:
            handle.remove()
    missing = [name for name in wanted if name not in captured]
    if missing:
        raise RequestError(f"layer(s) {', '.join(missing)} did not run in the forward pass; they cannot be targeted")
    return captured
