"""Render variants of a model: the same function, computed with less work.

``render_variant(model)`` returns a copy of ``model`` (the original is never touched) in which
    * every batch norm that directly follows a convolution is folded into that convolution's weights
      (eval-mode batch norm is an affine map per channel), and replaced by an identity (or, for a batch norm
      with its activation built in, by that activation);
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

from featviz_core.models.capture import capture_layers, hooked_forward, targetable_shapes


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
    # Why the variant is the original model (empty when it is faster): shown in the render's notes.
    reason: str = ""


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


class _AfterNorm(torch.nn.Module):
    """What a batch norm with its activation built in (timm's ``BatchNormAct2d``: normalize, then its ``drop``
    child, then its ``act`` child) still does once the normalization is folded into the convolution before it.
    The children keep their names, so their outputs stay targetable and are checked like every layer."""

    def __init__(self, drop: torch.nn.Module, act: torch.nn.Module) -> None:
        super().__init__()
        self.drop = drop
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.drop(x))


def _after_norm(bn: torch.nn.Module) -> torch.nn.Module | None:
    """The module that replaces a folded batch norm: an identity for a plain one, its ``drop`` and ``act``
    children for a batch norm with an activation built in, None (do not fold) for any other kind."""
    children = dict(bn.named_children())
    if not children:
        return torch.nn.Identity()
    if list(children) == ["drop", "act"]:
        return _AfterNorm(children["drop"], children["act"])
    return None


def render_variant(model: torch.nn.Module, layers: tuple[str, ...] | None = None, input_size: int = 224,
                   tolerance: float = 1e-3) -> RenderVariant:
    """A faster copy of ``model`` that computes the same outputs at ``layers`` (checked), or ``model``."""
    from lucent.modelzoo.inceptionv1.helper_layers import RedirectedReluLayer

    if not any(isinstance(m, (torch.nn.BatchNorm2d, RedirectedReluLayer)) for m in model.modules()):
        return RenderVariant(model, frozenset(), "plain eager: no batch norm to fold and no redirected ReLU to "
                                                 "replace, so the fast variant would compute the same work")
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
    device = next(iter((*model.parameters(), *model.buffers())), torch.zeros(())).device
    example = example.to(device)
    changed: set[str] = set()
    for conv_name, bn_name in _conv_bn_pairs(fast, example):
        rest = _after_norm(fast.get_submodule(bn_name))
        if rest is None:  # a batch norm that does more than normalize, in a way not known here: kept
            continue
        _fold(fast.get_submodule(conv_name), fast.get_submodule(bn_name))
        _set_module(fast, bn_name, rest)
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
            difference = float((want[name] - got[name]).abs().max() / scale)
            if difference > tolerance:
                return RenderVariant(model, frozenset(), f"plain eager: the fast variant differs at {name} (relative "
                                                         f"difference {difference:.2g} > {tolerance:g})")
    if not changed and fast is not model and not any(isinstance(m, RedirectedReLU) for m in fast.modules()):
        return RenderVariant(model, frozenset(), "plain eager: no batch norm follows a convolution, so the fast "
                                                 "variant would compute the same work")
    return RenderVariant(fast, frozenset(changed))


_variants: "weakref.WeakKeyDictionary[torch.nn.Module, tuple[tuple, RenderVariant]]" = weakref.WeakKeyDictionary()
_variants_lock = threading.Lock()


def _fingerprint(model: torch.nn.Module) -> tuple:
    # Storage and in-place version of every tensor: loading new weights or editing them in place changes it.
    tensors = list(model.parameters()) + list(model.buffers())
    return tuple((t.data_ptr(), t._version, t.device.type) for t in tensors)


def model_for_render(model: torch.nn.Module, layers: tuple[str, ...], input_size: int = 224) -> torch.nn.Module:
    """The cached render variant of ``model`` if it computes ``layers`` unchanged, else ``model`` itself.

    The variant is built once per model (and rebuilt if the model's weights change) and checked against
    the original on every targetable layer.
    """
    return render_model(model, layers, input_size)[0]


def render_model(model: torch.nn.Module, layers: tuple[str, ...], input_size: int = 224) -> tuple[torch.nn.Module, str]:
    """:func:`model_for_render`, and why the plain model is used ("" when the fast variant is)."""
    with _variants_lock:
        stamp = _fingerprint(model)
        cached = _variants.get(model)
        if cached is None or cached[0] != stamp:
            try:
                cached = (stamp, render_variant(model, input_size=input_size))
            except Exception as exc:  # noqa: BLE001 - e.g. out of memory, or a model the check cannot run
                first = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
                return model, f"plain eager: the fast variant could not be checked ({first})"
            _variants[model] = cached
        variant = cached[1]
    folded = sorted(variant.changed_layers & set(layers))
    if folded:
        return model, f"plain eager: {', '.join(folded)} has its batch norm folded in the fast variant"
    return variant.model, variant.reason
