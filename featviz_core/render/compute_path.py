"""How the model's part of a step is computed: number format (float32 or bfloat16) and memory layout.

Two request settings (:mod:`featviz_core.settings`, values ``PRECISIONS`` and ``MEMORY_FORMATS``) choose it:
``precision`` (``float32``, ``bfloat16`` or ``auto``) and ``memory_format`` (``contiguous``, ``channels_last``
or ``auto``). :func:`resolve_path` turns them
into a :class:`ComputePath` for a device, with a sentence saying which path runs and why; the render loop runs
the model through it, and the render's note (and ``render.json``) carries that sentence.

Only the model runs in bfloat16, under ``torch.autocast`` (convolutions and matrix products in bfloat16, the
operations autocast keeps in float32, or that have no bfloat16 kernel, in float32; weights stay float32): the
image parameterization, the transforms, the objective's scores, the penalties and Adam stay in float32 (the
activations are cast back to float32).
bfloat16 runs only where the device computes it natively (:func:`featviz_core.device.bfloat16_native`: on a
CPU, AVX-512 BF16 or AMX, Intel Sapphire Rapids and later; AMD Zen 4 and later have AVX-512 BF16); it is never
emulated. Elsewhere an explicit ``bfloat16`` falls back to float32 and says so.

With both settings at their defaults (``float32``, ``contiguous``) the model runs exactly as it always has:
no copy, no cast, no layout change, so no pixel changes. Same request and seed on the same machine and path
give identical pixels; pixels differ between paths (rounding), and their quality is checked with
:func:`featviz_core.render.neutral_score.neutral_score` (tests and ``bench/speed_round3.py``).
"""

from __future__ import annotations

import copy
import threading
import weakref
from dataclasses import dataclass

import torch

from featviz_core.device import bfloat16_native

_HOOK_TABLES = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks_with_kwargs")


@dataclass(frozen=True)
class ComputePath:
    """The resolved path: ``dtype`` of the model's computation, ``channels_last`` layout, and ``why``."""

    dtype: torch.dtype = torch.float32
    channels_last: bool = False
    why: str = ""

    @property
    def is_default(self) -> bool:
        """float32 in the default layout: the model runs as is."""
        return self.dtype == torch.float32 and not self.channels_last

    @property
    def name(self) -> str:
        """``float32/contiguous``, ``bfloat16/channels_last``, ...: part of a render's cache key."""
        return f"{str(self.dtype).removeprefix('torch.')}/{'channels_last' if self.channels_last else 'contiguous'}"

    def model_input(self, x: torch.Tensor) -> torch.Tensor:
        """The preprocessed (B, 3, S, S) float32 input, laid out for this path."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def autocast(self, device: torch.device) -> torch.autocast:
        """The autocast context of this path on ``device`` (disabled for float32)."""
        return torch.autocast(device.type, dtype=self.dtype, enabled=self.dtype != torch.float32)

    @staticmethod
    def activations(acts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Activations back in float32 (scores and penalties are always computed in float32)."""
        return {name: value.float() for name, value in acts.items()}


#: Models whose renders were measured faster in bfloat16 on a CPU with native support (``auto`` uses it for
#: these only), with the measurement. EfficientNet-Lite0 is not here: its depthwise convolutions gain nothing
#: (Intel Xeon with AMX, 1 thread, 4 channels x 6 steps, 128 px, best of 3: float32 2.64 s, float32
#: channels-last 2.30 s, bfloat16 4.03 s, bfloat16 channels-last 2.63 s).
AUTO_BFLOAT16: dict[str, str] = {
    # Intel Xeon with AMX, 1 thread, random weights, mixed4a, 4 channels x 4 steps, 128 px, best of 3:
    # float32 1.84 s, float32 channels-last 1.62 s, bfloat16 1.49 s, bfloat16 channels-last 1.27 s.
    "inceptionv1": "measured 1.45x faster for InceptionV1",
}


#: Model families (name prefixes, before any ``?``) measured faster in bfloat16 on a CPU with AMX, whose tile
#: units multiply bfloat16 matrices many times faster than float32; ``auto`` uses bfloat16 for them on AMX only
#: (a CPU with AVX-512 BF16 but no AMX was not measured, so it keeps float32). Measured with
#: ``bench/any_network.py --channels 0-9 --steps 32`` (random weights, 128 px upsampled to 224, channels-last),
#: Intel Xeon with AMX, 2 cores, quiet, 2026-12-06: float32 against bfloat16 seconds, and the bare-view
#: activation of the final images in bfloat16 against float32.
AUTO_BFLOAT16_AMX: dict[str, str] = {
    "torchvision:googlenet": "measured 1.9x faster for GoogLeNet with AMX",  # 8.6 s -> 4.6 s
    "torchvision:resnet": "measured 2.4x faster for ResNet-50 with AMX",  # 15.5 s -> 6.4 s, activation 1.000x
    "torchvision:vit_": "measured 2.0x faster for ViT-B/16 with AMX",  # 63.9 s -> 31.9 s, activation 0.998x
}


def auto_bfloat16(model: str, evidence: str) -> str:
    """Why ``auto`` computes ``model`` in bfloat16 on a CPU whose native support is ``evidence`` ("AMX",
    "AVX-512 BF16"), or "" when it keeps float32 there."""
    if model in AUTO_BFLOAT16:
        return AUTO_BFLOAT16[model]
    base = model.split("?", 1)[0]
    if evidence == "AMX":
        return next((why for prefix, why in AUTO_BFLOAT16_AMX.items() if base.startswith(prefix)), "")
    return ""


def resolve_path(precision: str, memory_format: str, device: torch.device, model: str = "") -> ComputePath:
    """The path a render of ``model`` with these settings takes on ``device``.

    ``auto``: on a CPU, the channels-last layout (oneDNN's convolutions prefer it: measured faster for every
    registered model), and bfloat16 where it is native and measured faster for the model
    (:data:`AUTO_BFLOAT16`, and :data:`AUTO_BFLOAT16_AMX` on a CPU with AMX); on a GPU, float32 in the default
    layout (measured faster there for these small convolutions).
    """
    reasons = []
    measured = ""
    if precision == "auto" and device.type == "cpu":
        evidence = bfloat16_native(device)[1]  # "AMX", "AVX-512 BF16", or why not
        measured = auto_bfloat16(model, evidence)
    bf16 = precision == "bfloat16" or bool(measured)
    if precision == "auto" and device.type == "cpu" and not bf16:
        reasons.append(f"float32 (auto: bfloat16 not measured faster for {model or 'this model'})")
    if bf16:
        native, evidence = bfloat16_native(device)
        if native:
            measured = f"; {measured}" if precision == "auto" else ""
            reasons.append(f"bfloat16 ({'asked for' if precision == 'bfloat16' else 'auto'}: {evidence} computes it "
                           f"natively{measured})")
        else:
            bf16 = False
            reasons.append(f"float32 ({'bfloat16 asked for' if precision == 'bfloat16' else 'auto'}, but {evidence})")
    elif precision == "auto" and device.type != "cpu":
        reasons.append(f"float32 (auto on {device.type})")
    channels_last = memory_format == "channels_last" or (memory_format == "auto" and device.type == "cpu")
    if memory_format != "contiguous":
        reasons.append(f"{'channels-last' if channels_last else 'contiguous'} layout"
                       f"{' (auto on ' + device.type + ')' if memory_format == 'auto' else ''}")
    path = ComputePath(torch.bfloat16 if bf16 else torch.float32, channels_last)
    why = "model computed in " + ", ".join(reasons) if reasons else ""
    return ComputePath(path.dtype, path.channels_last, why)


def request_path(request, device: torch.device) -> ComputePath:
    """:func:`resolve_path` of a :class:`~featviz_core.request.RenderRequest`'s settings."""
    return resolve_path(request.precision, request.memory_format, device, request.model)


_copies: "weakref.WeakKeyDictionary[torch.nn.Module, dict]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def model_for_path(model: torch.nn.Module, path: ComputePath) -> torch.nn.Module:
    """``model`` itself unless ``path`` is channels-last; then a cached channels-last copy (the shared model is
    never modified; the copy carries no hooks). Its weights stay float32: bfloat16 is autocast's work."""
    if not path.channels_last:
        return model
    from featviz_core.models.fast import _fingerprint

    with _lock:
        stamp = _fingerprint(model)
        table = _copies.setdefault(model, {})
        cached = table.get("channels_last")
        if cached is None or cached[0] != stamp:
            made = copy.deepcopy(model).eval()
            for module in made.modules():
                for attribute in _HOOK_TABLES:  # another thread's capture hooks must not come along
                    getattr(module, attribute, {}).clear()
            made = made.to(memory_format=torch.channels_last)
            made.requires_grad_(False)
            cached = (stamp, made)
            table["channels_last"] = cached
        return cached[1]
