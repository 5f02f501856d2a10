"""Reading a weight file without running code: ``torch.load(weights_only=True)`` or safetensors, one line on a
refusal.

Below every source of weights (:mod:`.loading`, :mod:`.torchvision_zoo`, :mod:`.timm_zoo`), so they share it
without importing each other.
"""

from __future__ import annotations

from pathlib import Path

import torch

from featviz_core.errors import WeightsUnavailable


def load_state_dict_safely(path: Path) -> dict[str, torch.Tensor]:
    """Load a checkpoint with ``weights_only=True`` (a ``.safetensors`` file with safetensors, which holds
    tensors only); anything that needs arbitrary code is refused."""
    if Path(path).suffix == ".safetensors":
        return _load_safetensors(Path(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, zip errors, truncated files
        raise WeightsUnavailable(
            f"refusing to load {path}: it is not a plain tensor checkpoint ({_load_failure(exc)})"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsUnavailable(f"refusing to load {path}: it does not hold a dictionary of tensors")
    return state


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise WeightsUnavailable(f"cannot read {path}: reading .safetensors files needs the safetensors package "
                                 "(pip install safetensors; timm installs it)") from None
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: safetensors' own error types vary
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise WeightsUnavailable(f"refusing to load {path}: it is not a readable safetensors file ({first})") from None


def _load_failure(exc: Exception) -> str:
    """One line on why torch refused a file. torch's own text spans many lines and suggests loading with
    weights_only=False, which is exactly what must never be done with a file from a stranger."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = next((line for line in lines if "Unsupported global" in line), lines[0] if lines else "")
    reason = reason.removeprefix("WeightsUnpickler error: ").split(". ")[0].rstrip(".")
    if "Unsupported global" in reason:
        reason += ": the file asks to run code when loaded"
    return f"{type(exc).__name__}: {reason[:200]}"
