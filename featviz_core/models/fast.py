"""Render variants of a model: the same function, computed with less work.

``render_variant(model)`` returns a copy of ``model`` (the original is never touched) in which
    * every batch norm that directly follows a convolution is folded into that convolution's weights
      (eval-mode batch norm is an affine map per channel), and replaced by an identity (or, for a batch norm
      with its activation built in, by that activation);
    * Lucent's redirected ReLU, whose backward pass uses boolean-mask indexing (``nonzero``, gather and
      scatter on every call), is replaced by the same function with a mask multiply in its backward;
    * a convolution that pads its input with an explicit zero-padding module (EfficientNet's TensorFlow-style
      "same" padding) pads it itself where the padding is symmetric, which drops a padded copy of the
      input and its backward from every step;
    * batch-first multi-head attention (torchvision's vision transformers) computes on a contiguous
      sequence-first copy of its input. Torch transposes a batch-first input to sequence-first without a
      copy; on a batch of more than one image the projections' backward then runs as a batched matmul
      against the weight repeated per token (about half of a ViT step's time on a CPU);
    * on a CPU, a convolution whose output goes straight into a ReLU or ReLU6 module (once its batch norm is
      folded) applies that activation itself, in oneDNN's convolution kernel (``mkldnn::_convolution_pointwise``,
      the op torch's inductor uses for the same fusion): one pass over the activations less in every forward.
      Its backward is the activation's mask and the convolution's input gradient, the very kernels the
      unfused graph runs, so the values and gradients are the same. The activation module then passes such an
      input through (it is already applied); on any other input, device or dtype both run as before.
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
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

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


class SeqFirstAttention(torch.nn.MultiheadAttention):
    """A batch-first :class:`torch.nn.MultiheadAttention` (same parameters, same names) that hands its
    parent a contiguous sequence-first copy of a batched input, so the projections and their backward run as
    plain matrix products. Attention weights, when asked for, are returned as the parent returns them."""

    def forward(self, query, key, value, *args, **kwargs):  # noqa: D102 - nn.MultiheadAttention's
        if query.dim() != 3:
            return super().forward(query, key, value, *args, **kwargs)
        q = query.transpose(0, 1).contiguous()
        k = q if key is query else key.transpose(0, 1).contiguous()
        v = k if value is key else q if value is query else value.transpose(0, 1).contiguous()
        out, weights = super().forward(q, k, v, *args, **kwargs)
        return out.transpose(0, 1), weights


class _ZeroPad2dFunction(torch.autograd.Function):
    """Zero padding that writes zeros into the border only (``F.pad`` fills the whole output first, then
    copies the input over it), in the input's memory layout; its backward is the inner window of the
    gradient. The same values as ``torch.nn.ZeroPad2d`` with non-negative padding."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, left: int, right: int, top: int, bottom: int) -> torch.Tensor:
        n, c, h, w = x.shape
        layout = _layout(x)
        out = torch.empty((n, c, h + top + bottom, w + left + right), dtype=x.dtype, device=x.device,
                          memory_format=layout)
        out[:, :, top:top + h, left:left + w].copy_(x)
        out[:, :, :top].zero_()
        out[:, :, top + h:].zero_()
        out[:, :, top:top + h, :left].zero_()
        out[:, :, top:top + h, left + w:].zero_()
        ctx.window = (top, h, left, w)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        top, h, left, w = ctx.window
        # The inner window as a view: the elementwise backward that usually comes next (an activation's mask)
        # reads it in place of a copy; anything needing a dense gradient makes it so itself.
        return grad[:, :, top:top + h, left:left + w], None, None, None, None


def _layout(tensor: torch.Tensor) -> torch.memory_format:
    """channels-last when ``tensor`` is laid out so (and not also plainly contiguous), else contiguous."""
    if tensor.is_contiguous(memory_format=torch.channels_last) and not tensor.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


class BorderZeroPad2d(torch.nn.Module):
    """:class:`torch.nn.ZeroPad2d` (same ``padding``) by :class:`_ZeroPad2dFunction`."""

    def __init__(self, padding: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.padding = tuple(padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            return torch.nn.functional.pad(x, self.padding)
        return _ZeroPad2dFunction.apply(x, *self.padding)


def _activation_spec(module: torch.nn.Module) -> tuple[str, tuple[float, ...]] | None:
    """The oneDNN post-op (name, scalars) that computes ``module``, an activation a convolution can apply
    itself; None for any other module."""
    if type(module) is torch.nn.ReLU:
        return "relu", ()
    if type(module) in (torch.nn.ReLU6, torch.nn.Hardtanh):
        return "hardtanh", (float(module.min_val), float(module.max_val))
    return None


_APPLIED = "_featviz_activation_applied"  # on a fused convolution's output: (activation spec, tensor version)


def _can_fuse(x: object, weight: torch.Tensor) -> bool:
    """Whether oneDNN's fused kernel may run: a plain float32 CPU tensor outside autocast and compiling, and
    weights that need no gradient (its backward gives the input's gradient only)."""
    return (type(x) is torch.Tensor and x.dim() == 4 and x.device.type == "cpu" and x.dtype == torch.float32
            and weight.dtype == torch.float32 and not weight.requires_grad and torch.backends.mkldnn.is_available()
            and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling())


class _ConvActivationFunction(torch.autograd.Function):
    """``activation(conv2d(x, weight, bias))`` in one oneDNN kernel; the gradient is the input's only."""

    @staticmethod
    def forward(ctx, x, weight, bias, padding, stride, dilation, groups, spec):
        name, scalars = spec
        # Lay the input out as aten's convolution would (channels-last if the input or the weight is): oneDNN's
        # kernel keeps the input's layout, and a contiguous input would make every layer after it contiguous.
        x = x.contiguous(memory_format=torch.channels_last if torch.channels_last in (_layout(x), _layout(weight))
                         else torch.contiguous_format)
        y = torch.ops.mkldnn._convolution_pointwise(x, weight, bias, padding, stride, dilation, groups, name,
                                                    list(scalars), "")
        ctx.save_for_backward(x, weight, y)
        ctx.conv = (padding, stride, dilation, groups)
        ctx.spec = spec
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight, y = ctx.saved_tensors
        padding, stride, dilation, groups = ctx.conv
        name, scalars = ctx.spec
        # The mask from the output: y is inside (low, high) exactly where the convolution's output was.
        if name == "relu":
            grad = torch.ops.aten.threshold_backward(grad, y, 0)
        else:
            grad = torch.ops.aten.hardtanh_backward(grad, y, *scalars)
        grad = grad.contiguous(memory_format=_layout(y))
        grad_x = torch.ops.aten.convolution_backward(grad, x, weight, None, stride, padding, dilation, False,
                                                     [0, 0], groups, [True, False, False])[0]
        return grad_x, None, None, None, None, None, None, None


class _FusedConv2d:
    """Mixed into a copy's convolution (its own class kept as the base, so its children and names stay): applies
    the activation module that follows it, where :func:`_can_fuse` allows, and marks its output so."""

    _featviz_spec: tuple[str, tuple[float, ...]]

    def forward(self, x):
        pad = getattr(self, "static_padding", None)  # efficientnet_lite_pytorch's same padding
        if pad is not None:
            x = pad(x)
        if not _can_fuse(x, self.weight):
            return torch.nn.functional.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                                              self.groups)
        y = _ConvActivationFunction.apply(x, self.weight, self.bias, list(self.padding), list(self.stride),
                                          list(self.dilation), self.groups, self._featviz_spec)
        setattr(y, _APPLIED, (self._featviz_spec, y._version))
        return y


class _AppliedActivation:
    """Mixed into a copy's activation module: an input marked as already activated by the same activation (and
    not changed in place since) is returned as it is; anything else is activated as before."""

    _featviz_spec: tuple[str, tuple[float, ...]]

    def forward(self, x):
        if type(x) is torch.Tensor and getattr(x, _APPLIED, None) == (self._featviz_spec, x._version):
            return x
        return super().forward(x)


_mixed: dict[tuple[type, type], type] = {}


def _mix(module: torch.nn.Module, mixin: type, spec: tuple[str, tuple[float, ...]]) -> None:
    """Give ``module`` (a module of the copy) ``mixin``'s forward for activation ``spec``, keeping its class as
    the base."""
    key = (mixin, type(module))
    if key not in _mixed:
        _mixed[key] = type(f"{mixin.__name__.lstrip('_')}{type(module).__name__}", key, {})
    module.__class__ = _mixed[key]
    module._featviz_spec = spec


def _fuse_activations(fast: torch.nn.Module, example: torch.Tensor) -> set[str]:
    """Let every convolution of ``fast`` that feeds an activation module apply it (see the module docstring);
    returns the layers whose outputs are activated now (the convolutions fused, and what passes their output on)."""
    pairs, carriers = _conv_activation_pairs(fast, example)
    specs = set(pairs.values())
    for name, module in list(fast.named_modules()):
        if name in pairs:
            _mix(module, _FusedConv2d, pairs[name])
        elif (spec := _activation_spec(module)) in specs:
            _mix(module, _AppliedActivation, spec)
    return set(pairs) | carriers


def _fusable_conv(module: torch.nn.Module) -> bool:
    """A 2-D convolution whose forward is ``conv2d`` after an optional zero ``static_padding`` module: plain
    ``torch.nn.Conv2d`` or ``efficientnet_lite_pytorch``'s ``Conv2dStaticSamePadding``."""
    if not isinstance(module, torch.nn.Conv2d) or module.padding_mode != "zeros" or isinstance(module.padding, str):
        return False
    if type(module) is torch.nn.Conv2d:
        return True
    return type(module).__name__ == "Conv2dStaticSamePadding" and isinstance(
        getattr(module, "static_padding", None), torch.nn.Module)


class _TensorUses(TorchFunctionMode):
    """Counts, during a traced forward pass, the torch calls that read a watched tensor outside an activation."""

    def __init__(self) -> None:
        super().__init__()
        self.watched: dict[int, tuple[str, torch.Tensor, int]] = {}  # by id: (convolution, output, version)
        self.used: set[str] = set()
        self.in_activation = 0  # > 0 while an activation module (or the trace's own bookkeeping) runs

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not self.in_activation:
            for value in tree_flatten((args, kwargs))[0]:
                source = self.watched.get(id(value))
                if source is not None and source[1] is value:
                    self.used.add(source[0])
        return func(*args, **kwargs)


def _conv_activation_pairs(model: torch.nn.Module, example: torch.Tensor) -> tuple[dict[str, tuple], set[str]]:
    """{convolution: activation spec} for every convolution each of whose calls hands its output to an activation
    module :func:`_activation_spec` knows and to nothing else (the same tensor, passed on by modules that return
    it as it is, read by no other torch call before the activation, not changed in place); and those modules
    that pass it on (a folded batch norm's identity, a container ending in the convolution), whose outputs are
    activated too once the convolution is fused."""
    uses = _TensorUses()
    calls: dict[str, int] = {}
    fed: dict[str, list] = {}
    carriers: dict[str, set[str]] = {}
    hooks, handles = [], []
    for name, module in model.named_modules():
        if _fusable_conv(module):
            def conv_hook(_m, _i, out, name=name):
                uses.in_activation += 1  # reading the version below is a torch call of the trace's own
                calls[name] = calls.get(name, 0) + 1
                uses.watched[id(out)] = (name, out, out._version)  # kept, so its id stays its own
                uses.in_activation -= 1
            hooks.append((module, conv_hook))
        elif (spec := _activation_spec(module)) is not None:
            def act_enter(module, inputs, spec=spec):  # before the call: an in-place activation changes its input
                uses.in_activation += 1
                x = inputs[0]
                source = uses.watched.get(id(x))
                if source is not None and source[1] is x:
                    if source[2] == x._version:
                        fed.setdefault(source[0], []).append(spec)
                    if getattr(module, "inplace", False):  # activated in place: later reads see the same values
                        del uses.watched[id(x)]

            def act_leave(_m, _i, _out):
                uses.in_activation -= 1
            handles.append(module.register_forward_pre_hook(act_enter))
            hooks.append((module, act_leave))
        else:
            def carrier_hook(_m, _i, out, name=name):
                source = uses.watched.get(id(out))
                if source is not None and source[1] is out:
                    carriers.setdefault(source[0], set()).add(name)
            hooks.append((module, carrier_hook))
    try:
        with torch.no_grad(), uses:
            hooked_forward(model, hooks, example)
    finally:
        for handle in handles:
            handle.remove()
    pairs = {name: specs[0] for name, specs in fed.items()
             if name not in uses.used and len(specs) == calls[name] and len(set(specs)) == 1}
    return pairs, {carrier for name in pairs for carrier in carriers.get(name, ())}


def _symmetric_static_padding(module: torch.nn.Module) -> tuple[int, int] | None:
    """(top, left) of a convolution's own zero-padding module (``static_padding``, as
    ``efficientnet_lite_pytorch``'s ``Conv2dStaticSamePadding`` has) when it pads both sides alike and the
    convolution pads nothing itself; else None."""
    pad = getattr(module, "static_padding", None)
    if not isinstance(module, torch.nn.Conv2d) or not isinstance(pad, torch.nn.ZeroPad2d):
        return None
    left, right, top, bottom = pad.padding
    if left != right or top != bottom or tuple(module.padding) != (0, 0) or module.padding_mode != "zeros":
        return None
    return top, left


def _batch_first_attention(module: torch.nn.Module) -> bool:
    return type(module) is torch.nn.MultiheadAttention and module.batch_first


def _seq_first(module: torch.nn.MultiheadAttention) -> None:
    module.__class__ = SeqFirstAttention  # the copy's own module: the caller's model is never changed
    module.batch_first = False


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


def _copy_without_hooks(model: torch.nn.Module) -> torch.nn.Module:
    """An eval-mode deep copy of ``model`` without its hooks: another render thread may have capture hooks on
    the shared model at this moment (they would fire, stale, inside the copy), and a user's hooks belong to
    their model."""
    fast = copy.deepcopy(model).eval()
    for module in fast.modules():
        for attribute in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                          "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
                          "_forward_pre_hooks_with_kwargs"):
            getattr(module, attribute, {}).clear()
    return fast


def _rewrite_modules(fast: torch.nn.Module, redirected_relu: type) -> set[str]:
    """Swap in the cheaper modules (redirected ReLU, attention layout, a convolution's own padding) in place;
    returns the layers whose output no longer means what it did."""
    changed: set[str] = set()
    for name, module in list(fast.named_modules()):
        if isinstance(module, redirected_relu):
            _set_module(fast, name, RedirectedReLU())
        elif _batch_first_attention(module):
            _seq_first(module)
        elif (own := _symmetric_static_padding(module)) is not None:
            module.padding = own
            module.static_padding = torch.nn.Identity()
            changed.add(f"{name}.static_padding")  # its output is no longer the padded input
        elif type(module) is torch.nn.ZeroPad2d and min(module.padding) >= 0 and fast.get_submodule(name) is module:
            # (a convolution above may have just dropped it for its own padding)
            _set_module(fast, name, BorderZeroPad2d(module.padding))  # same values, no fill of the whole output
    return changed


def render_variant(model: torch.nn.Module, layers: tuple[str, ...] | None = None, input_size: int = 224,
                   tolerance: float = 1e-3, fuse: bool = True) -> RenderVariant:
    """A faster copy of ``model`` that computes the same outputs at ``layers`` (checked), or ``model``. With
    ``fuse``, convolutions apply the activation that follows them; a copy that fails the check so is checked
    again without."""
    from lucent.modelzoo.inceptionv1.helper_layers import RedirectedReluLayer

    if not any(isinstance(m, (torch.nn.BatchNorm2d, RedirectedReluLayer)) or _batch_first_attention(m)
               for m in model.modules()):
        return RenderVariant(model, frozenset(), "plain eager: no batch norm to fold, no redirected ReLU to "
                                                 "replace and no batch-first attention to lay out, so the fast "
                                                 "variant would compute the same work")
    fast = _copy_without_hooks(model)
    changed = _rewrite_modules(fast, RedirectedReluLayer)
    example = torch.randn(2, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    device = next(iter((*model.parameters(), *model.buffers())), torch.zeros(())).device
    example = example.to(device)
    for conv_name, bn_name in _conv_bn_pairs(fast, example):
        rest = _after_norm(fast.get_submodule(bn_name))
        if rest is None:  # a batch norm that does more than normalize, in a way not known here: kept
            continue
        _fold(fast.get_submodule(conv_name), fast.get_submodule(bn_name))
        _set_module(fast, bn_name, rest)
        changed.add(conv_name)
    fast.requires_grad_(False)
    fused = _fuse_activations(fast, example) if fuse else set()
    changed |= fused
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
                if fused:
                    return render_variant(model, layers, input_size, tolerance, fuse=False)
                return RenderVariant(model, frozenset(), f"plain eager: the fast variant differs at {name} (relative "
                                                         f"difference {difference:.2g} > {tolerance:g})")
    if not changed and not any(isinstance(m, (RedirectedReLU, SeqFirstAttention)) for m in fast.modules()):
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
