"""Device choice: CUDA when present, overridable with FEATVIZ_DEVICE; and whether a device computes bfloat16
natively (AVX-512 BF16 or AMX on a CPU, detected from torch's CPU capability checks or ``/proc/cpuinfo``).

Layer (checked by tests/test_layout.py): may import errors; torch at module level: yes.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

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


def env_flag(name: str, default: bool) -> bool:
    """Environment variable ``name`` as a yes/no setting (1/0, true/false, yes/no, on/off; unset: ``default``)."""
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"environment variable {name} must be 1 or 0, got {raw!r}")


#: glibc's malloc settings :func:`keep_cpu_memory` makes: blocks up to 32 MiB (glibc's largest mmap threshold on
#: 64-bit) come from its heaps, up to 64 MiB free at a heap's top stay there, and a thread's heap (64 MiB each) is
#: kept when it empties (the top pad: without it, a render thread's heaps were unmapped every step).
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024
TOP_PAD_BYTES = 64 * 1024 * 1024
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3  # mallopt's parameter numbers (malloc.h)


@functools.lru_cache(maxsize=1)
def keep_cpu_memory() -> str:
    """Stop glibc handing a render's freed tensors back to the system between steps; returns what was done.

    By default glibc's malloc serves large blocks with fresh ``mmap`` pages (its threshold starts at 128 KiB and
    follows the freed sizes) and returns freed heap tops over its trim threshold: the activations of every step
    of a render (tens of MiB on a CPU) were then new pages each time, about a million page faults in 32 steps of
    EfficientNet-Lite0, a fifth of the render's time. With :data:`MMAP_THRESHOLD_BYTES` and the two below set
    (once per process: they are the process's, for threads' arenas as for the main one), those blocks are reused.
    Freed memory stays with the process, about one step's worth. Off with FEATVIZ_KEEP_CPU_MEMORY=0 (another
    value is said in the returned line and leaves glibc's defaults); without glibc (macOS, Windows, musl)
    nothing is done.
    """
    try:
        keep = env_flag("FEATVIZ_KEEP_CPU_MEMORY", True)
    except ValueError as exc:  # never fail a render for it (the render service checks it when it starts)
        return f"{exc}; glibc's defaults kept"
    if not keep:
        return "glibc's defaults kept (FEATVIZ_KEEP_CPU_MEMORY=0)"
    if not sys.platform.startswith("linux"):
        return f"nothing to set on {sys.platform} (not glibc)"
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
    except (OSError, AttributeError):
        return "nothing to set: the C library is not glibc"
    settings = ((_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
                (_M_TOP_PAD, TOP_PAD_BYTES))
    done = all([libc.mallopt(parameter, value) == 1 for parameter, value in settings])
    return "glibc keeps freed memory for reuse" if done else "glibc refused the thresholds; its defaults are kept"
