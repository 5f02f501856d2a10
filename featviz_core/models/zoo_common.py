"""What the torchvision and timm sources share: weight choices, state-dict checks, tracing an architecture."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import torch

from featviz_core.errors import RequestError, WeightsUnavailable

RANDOM_SEED = 0


class UnknownArchitecture(RequestError):
    """A source has no architecture of that name; :mod:`featviz_core.models.sources` words the message (with the
    closest known names)."""


def weights_choice(options: dict[str, str], name: str) -> str:
    """``"default"``, ``"random"`` or a path the user named (checked to exist)."""
    choice = options.get("weights", "default")
    if choice in ("default", "random"):
        return choice
    path = Path(choice).expanduser()
    if not path.is_file():
        raise RequestError(f"model {name}: weights={choice} is not a file; give the path of a state dict, "
                           "weights=random (an untrained network) or leave weights out (the published weights)")
    return str(path)


def random_identity(name: str) -> str:
    """What stands in for a weight file's SHA-256 in the cache keys of a random-weights model."""
    return "random-seed%d-%s" % (RANDOM_SEED, hashlib.sha256(name.encode()).hexdigest()[:12])


def key_mismatch(exc: Exception, path: Path | str, what: str) -> WeightsUnavailable:
    """One line from torch's many-line ``load_state_dict`` error: which keys are missing, unexpected or of
    the wrong size."""
    parts = []
    for line in str(exc).splitlines():
        line = line.strip()
        for label in ("Missing key(s) in state_dict:", "Unexpected key(s) in state_dict:"):
            if line.startswith(label):
                keys = [k.strip().strip('."') for k in line[len(label):].split(",") if k.strip()]
                more = f" and {len(keys) - 4} more" if len(keys) > 4 else ""
                parts.append(f"{label.split(' in ')[0].lower()} {', '.join(keys[:4])}{more}")
        if line.startswith("size mismatch for") and sum("size mismatch" in p for p in parts) < 2:
            parts.append(line.rstrip("."))
    detail = "; ".join(parts) or (str(exc).splitlines() or [type(exc).__name__])[0][:200]
    return WeightsUnavailable(f"the state dict in {path} does not fit {what}: {detail}")


def trace_native(build: Callable[[], torch.nn.Module], sizes: tuple[int, ...]) -> tuple[torch.nn.Module, int, dict]:
    """The architecture (on the meta device where it can run there), the first of ``sizes`` it runs on, and
    its targetable shapes there. An architecture that cannot be built or run on the meta device is built for
    real (seeded random weights) and traced with one forward pass of a single image."""
    try:
        with torch.device("meta"):
            model = build().eval()
        return _first_size(model, "meta", sizes)
    except Exception:  # noqa: BLE001 - e.g. a builder that reads a tensor's value (regnet's widths)
        pass
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        model = build().eval()
    return _first_size(model, "cpu", sizes)


def _first_size(model: torch.nn.Module, device: str, sizes: tuple[int, ...]) -> tuple[torch.nn.Module, int, dict]:
    from featviz_core.models.capture import targetable_shapes

    problem: Exception | None = None
    for side in sizes:
        try:
            with torch.no_grad():
                shapes = targetable_shapes(model, torch.zeros(1, 3, side, side, device=device))
            if shapes:
                return model, side, shapes
        except Exception as exc:  # noqa: BLE001 - this size does not run; try the next
            problem = exc
    first = (str(problem).splitlines() or [""])[0][:160] if problem else "no layer outputs activations"
    raise RequestError(f"the architecture does not run on a {sizes[0]} px image ({first})")
