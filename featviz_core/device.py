"""Device choice: CUDA when present, overridable with FEATVIZ_DEVICE.

Layer (checked by tests/test_layout.py): may import errors; torch at module level: yes.
"""

from __future__ import annotations

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
    return device


def default_device() -> torch.device:
    return resolve_device(None)
