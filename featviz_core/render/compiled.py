"""Compiled forward passes (``torch.compile``, inductor) that stop at the target layers.

Eager rendering stops the forward pass with a hook that raises once every target layer has run
(``featviz_core.models.capture``); a compiled graph cannot raise out of the middle of itself, so for compiling the
model is first cut at the target layers with ``torchvision``'s FX feature extractor (the same modules, the
same weights, nothing after the deepest target), then compiled. The shared model is never modified: the
extractor is a new ``GraphModule`` that refers to the model's modules. Modules defined outside ``torch.nn``
that have no children (e.g. a ReLU with a custom backward, an ``autograd.Function``) are kept whole as
leaves: FX would trace through their forward and lose their backward; dynamo compiles them correctly.

Compilation costs tens of seconds to minutes on a CPU and is paid once per process for each (model, target
layers, input shape); the compiled function is kept for later renders, and the seconds spent compiling are
recorded in :data:`compile_seconds`. Whether it pays for itself is measured by ``bench/compile_cpu.py`` (see
BENCHMARKS.md); it is a setting (``--compile`` on the command line, ``FEATVIZ_COMPILE=1`` for the app), off
by default.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Callable

import torch

Forward = Callable[[torch.Tensor], dict[str, torch.Tensor]]

_compiled: "weakref.WeakKeyDictionary[torch.nn.Module, dict[tuple[str, ...], Forward]]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()
#: Seconds spent compiling in this process, per (id(model), layers, input shape): the first call of a
#: compiled forward for a new input shape compiles.
compile_seconds: dict[tuple[int, tuple[str, ...], tuple[int, ...]], float] = {}


class CompileUnavailable(RuntimeError):
    """The model cannot be cut at these layers for compiling (its forward pass is not FX-traceable)."""


def compile_from_env() -> bool:
    """True when ``FEATVIZ_COMPILE`` asks for compiled renders ("1", "true", "yes", "on")."""
    return os.environ.get("FEATVIZ_COMPILE", "").strip().lower() in {"1", "true", "yes", "on"}


def _custom_leaves(model: torch.nn.Module) -> list[type]:
    """Types of childless modules defined outside torch.nn: kept whole when tracing (see module docstring)."""
    return list({type(m) for m in model.modules()
                 if not list(m.children()) and not type(m).__module__.startswith("torch.nn")})


def truncated_extractor(model: torch.nn.Module, layers: tuple[str, ...]) -> torch.nn.Module:
    """A module computing only ``layers`` of ``model``: input (B, 3, H, W) -> {layer: (B, C, h, w)}."""
    from torchvision.models.feature_extraction import create_feature_extractor

    try:
        return create_feature_extractor(model, return_nodes={name: name for name in layers},
                                        tracer_kwargs={"leaf_modules": _custom_leaves(model)}).eval()
    except Exception as exc:  # noqa: BLE001 - FX tracing fails in many ways; all mean "cannot compile this"
        first_line = str(exc).splitlines()[0][:160] if str(exc) else ""
        raise CompileUnavailable(f"cannot cut the model at {', '.join(layers)} for compiling: "
                                 f"{type(exc).__name__}: {first_line}") from None


def compiled_forward(model: torch.nn.Module, layers: tuple[str, ...]) -> Forward:
    """The compiled, truncated forward pass of ``model`` for ``layers`` (built once per model and layers).

    The returned function maps a (B, 3, H, W) model input to {layer: (B, C, h, w)} activations, attached
    to the autograd graph. Its first call for each new input shape compiles (timed into
    :data:`compile_seconds`); later calls run the compiled code.

    Raises:
        CompileUnavailable: the model cannot be cut at ``layers``.
    """
    layers = tuple(dict.fromkeys(layers))
    with _lock:
        per_model = _compiled.setdefault(model, {})
        forward = per_model.get(layers)
        if forward is None:
            compiled = torch.compile(truncated_extractor(model, layers), dynamic=False)
            model_id = id(model)

            def forward(x: torch.Tensor) -> dict[str, torch.Tensor]:
                key = (model_id, layers, tuple(x.shape))
                if key in compile_seconds:
                    return compiled(x)
                # Inductor compiles the backward lazily, at its first call: a warm-up forward and backward
                # on a detached copy pays both compilations here, so they are timed together.
                started = time.perf_counter()
                probe = x.detach().requires_grad_(x.requires_grad)
                warm = compiled(probe)
                if probe.requires_grad:
                    sum(act.sum() for act in warm.values()).backward(inputs=[probe])
                compile_seconds[key] = time.perf_counter() - started
                return compiled(x)

            per_model[layers] = forward
        return forward


def compile_seconds_for(model: torch.nn.Module) -> float:
    """Total seconds this process has spent compiling forward passes of ``model``."""
    return sum(seconds for (model_id, _, _), seconds in compile_seconds.items() if model_id == id(model))
