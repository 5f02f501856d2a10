"""Render variants of a model: the same function, computed with less work.

``render_variant(model)`` returns a copy of ``model`` (the original is never touched) in which
    * every batch norm that directly follows a convolution is folded into that convolution's weights
      (eval-mode batch norm is an affine map per channel), and replaced by an identity;
    * Lucent's redirected ReLU, whose backward pass uses boolean-mask indexing (``nonzero``, gather and
      scatter on every call), is replaced by the same function with a mask multiply in its backward.
The copy is checked against the original on a random input; if any targetable layer differs, the
original is used. Layers whose output changes meaning (a convolution whose batch norm was folded into it)
are reported so callers render those layers with the original model.
"""

from __future__ import annotations

import copy
import threading
import weakref
from dataclasses import dataclass

import torch

from featviz_core.models.capture import capture_layers, hooked_forward
from featviz_core.models.layers import targetable_shapes


class _RedirectedReLUFunction(torch.autograd.Function):
    """``clamp(x, min=0)`` whose gradient is passed on, scaled by 0.1, where the ReLU is off.

    The same function as Lucent's ``RedirectedReLU`` (its backward multiplies the gradient by 0.1 where
    ``x < 0``), written as one multiply instead of two boolean-mask gathers and a scatter.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        negative = x < 0
        ctx.save_for_backward(negative)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (negative,) = ctx.saved_tensors
        return torch.where(negative, grad * 0.1, grad)


class RedirectedReLU(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _RedirectedReLUFunction.apply(x)


@dataclass(frozen=True)
class RenderVariant:
    model: torch.nn.Module
    changed_layers: frozenset[str]


def _set_module(root: torch.nn.Module, name: str, module: torch.nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)


def _conv_bn_pairs(model: torch.nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """(conv, batch norm) pairs where the batch norm's input is exactly that convolution's output."""
    outputs: dict[int, str] = {}
    pairs: list[tuple[str, str]] = []
    uses: dict[str, int] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            hooks.append((module, lambda _m, _i, out, name=name: outputs.__setitem__(id(out), name)))
        elif isinstance(module, torch.nn.BatchNorm2d):
            def hook(_m, inputs, _out, name=name):
                conv = outputs.get(id(inputs[0]))
                uses[name] = uses.get(name, 0) + 1
                if conv is not None:
                    pairs.append((conv, name))
            hooks.append((module, hook))
    with torch.no_grad():
        hooked_forward(model, hooks, example)
    convs = [c for c, _ in pairs]
    return [(c, b) for c, b in pairs if uses[b] == 1 and convs.count(c) == 1]


def _fold(conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d) -> None:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    with torch.no_grad():
        conv.weight.mul_(scale.view(-1, 1, 1, 1))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        new_bias = (bias - bn.running_mean) * scale + bn.bias
    conv.bias = torch.nn.Parameter(new_bias, requires_grad=False)


def render_variant(model: torch.nn.Module, layers: tuple[str, ...] | None = None, input_size: int = 224,
                   tolerance: float = 1e-3) -> RenderVariant:
    """A faster copy of ``model`` that computes the same outputs at ``layers`` (checked), or ``model``."""
    from lucent.modelzoo.inceptionv1.helper_layers import RedirectedReluLayer

    fast = copy.deepcopy(model).eval()
    # The copy must not inherit hooks: another render thread may have capture hooks on the shared model
    # at this moment (they would fire, stale, inside the copy), and a user's hooks belong to their model.
    for module in fast.modules():
        for attribute in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                          "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
                          "_forward_pre_hooks_with_kwargs"):
            getattr(module, attribute, {}).clear()
    for name, module in list(fast.named_modules()):
        if isinstance(module, RedirectedReluLayer):
            _set_module(fast, name, RedirectedReLU())
    example = torch.randn(2, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    device = next(model.parameters()).device
    example = example.to(device)
    changed: set[str] = set()
    for conv_name, bn_name in _conv_bn_pairs(fast, example):
        _fold(fast.get_submodule(conv_name), fast.get_submodule(bn_name))
        _set_module(fast, bn_name, torch.nn.Identity())
        changed.add(conv_name)
    fast.requires_grad_(False)
    # Check: every requested layer (that did not change meaning) agrees with the original.
    if layers is None:  # every module that runs once and outputs a 4-D tensor
        layers = tuple(targetable_shapes(model, example[:1]))
    check = [name for name in layers if name not in changed]
    if check:
        with torch.no_grad():
            want = capture_layers(model, check, example)
            got = capture_layers(fast, check, example)
        for name in check:
            scale = want[name].abs().max().clamp(min=1e-6)
            if ((want[name] - got[name]).abs().max() / scale) > tolerance:
                return RenderVariant(model, frozenset())
    return RenderVariant(fast, frozenset(changed))


_variants: "weakref.WeakKeyDictionary[torch.nn.Module, tuple[tuple, RenderVariant]]" = weakref.WeakKeyDictionary()
_variants_lock = threading.Lock()


def _fingerprint(model: torch.nn.Module) -> tuple:
    # Storage and in-place version of every tensor: loading new weights or editing them in place changes it.
    tensors = list(model.parameters()) + list(model.buffers())
    return tuple((t.data_ptr(), t._version, t.device.type) for t in tensors)


def model_for_render(model: torch.nn.Module, layers: tuple[str, ...]) -> torch.nn.Module:
    """The cached render variant of ``model`` if it computes ``layers`` unchanged, else ``model`` itself.

    The variant is built once per model (and rebuilt if the model's weights change) and checked against
    the original on every targetable layer.
    """
    with _variants_lock:
        stamp = _fingerprint(model)
        cached = _variants.get(model)
        if cached is None or cached[0] != stamp:
            try:
                cached = (stamp, render_variant(model))
            except RuntimeError:  # e.g. out of GPU memory for the check: render with the original this time
                return model
            _variants[model] = cached
        variant = cached[1]
    if variant.changed_layers & set(layers):
        return model
    return variant.model
