"""Device choice: CUDA when present, overridable with FEATVIZ_DEVICE; and whether a device computes bfloat16
natively (AVX-512 BF16 or AMX on a CPU, detected from torch's CPU capability checks or ``/proc/cpuinfo``).

Layer (checked by tests/test_layout.py): may import errors; torch at module level: yes.
"""

from __future__ import annotations

import functools
import os

import torch

from featviz_core.errors import RequestError


def resolve_device(name: str | None = None) -> torch.device:
    """Turn "auto", "cpu", "cuda", "cuda:1", ... (or None: FEATVIZ_DEVICE, else auto) into a device."""
    name = (name or os.environ.get("FEATVIZ_DEVICE") or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise RequestError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RequestError(f"device {name!r} was asked for, but this machine has no CUDA GPU; use cpu or auto")
    if device.type not in ("cpu", "cuda"):
        raise RequestError(f"device {name!r} is not supported; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            which = "cuda:0" if count == 1 else f"cuda:0 .. cuda:{count - 1}"
            raise RequestError(f"device {name!r} does not exist: this machine has {count} CUDA device"
                               f"{'' if count == 1 else 's'} ({which}); use one of them, cuda or auto")
    return device


def default_device() -> torch.device:
    return resolve_device(None)


@functools.lru_cache(maxsize=1)
def cpu_bf16_support() -> tuple[bool, str]:
    """Whether this CPU computes bfloat16 natively, and the evidence: (True, "AMX") / (True, "AVX-512 BF16") /
    (False, why not)."""
    if not torch.backends.mkldnn.is_available():
        return False, "this torch build has no oneDNN"
    checks = (("AMX", "_is_amx_tile_supported", "amx_bf16"), ("AVX-512 BF16", "_is_avx512_bf16_supported", "avx512_bf16"))
    flags = _cpuinfo_flags()
    for label, function, flag in checks:
        check = getattr(torch.cpu, function, None)
        try:
            if (check() if check is not None else False) or flag in flags:
                return True, label
        except RuntimeError:  # a check torch cannot run here: the flags decide
            if flag in flags:
                return True, label
    return False, "this CPU has neither AVX-512 BF16 nor AMX (bfloat16 would be emulated, slower)"


@functools.lru_cache(maxsize=1)
def _cpuinfo_flags() -> frozenset[str]:
    """The CPU's feature flags, read once per process (a render's key asks for them on every request)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def bfloat16_native(device: torch.device) -> tuple[bool, str]:
    """Whether ``device`` computes bfloat16 natively, and the evidence (or why not): it decides the compute path
    (:mod:`featviz_core.render.compute_path`) and is part of a render's key when the request may use bfloat16."""
    if device.type == "cuda":
        return (torch.cuda.is_bf16_supported(), "this GPU") if torch.cuda.is_available() else (False, "no GPU")
    if device.type == "cpu":
        return cpu_bf16_support()
    return False, f"device {device.type}"
