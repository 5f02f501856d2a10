"""Will a model fit? An estimate of the memory a model and one image's render need, checked before loading.

Any network can be asked for, including ones far larger than the machine (``torchvision:vit_h_14`` on a
small CPU box). Instead of a crash deep inside torch, the request is refused with one line: the estimate,
what is available, and what to lower. The estimate is deliberately simple: the weights' bytes (from the
architecture on the meta device, or the weight file's size), plus, for a render, the activations of every
targetable layer up to the deepest target for one image, times a factor for the forward pass's other
tensors and the backward pass.

``FEATVIZ_MEMORY_MB`` caps the memory featviz counts as available (a shared machine, or tests). The render's
estimate, which needs the layer tables, is in :mod:`featviz_core.models.budget`.
"""

from __future__ import annotations

import os
from functools import lru_cache

import torch

from featviz_core.errors import RenderError

#: Activations saved for the backward pass, gradients and the non-targetable tensors in between.
ACTIVATION_FACTOR = 4
BYTES_PER_VALUE = 4  # float32


class TooLarge(RenderError):
    """The estimate of a model's or a render's memory is above what the device has available."""


def available_bytes(device: torch.device) -> int:
    """Memory free for featviz on ``device`` now (capped by ``FEATVIZ_MEMORY_MB`` when set)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
    else:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # not POSIX: do not refuse on a guess
            free = 1 << 62
    raw = os.environ.get("FEATVIZ_MEMORY_MB", "").strip()
    if raw:
        try:
            free = min(free, int(float(raw) * 1024 * 1024))
        except ValueError:
            raise RenderError(f"environment variable FEATVIZ_MEMORY_MB must be a number of megabytes, got {raw!r}") from None
    return int(free)


def weight_bytes(name: str) -> int:
    """Bytes of model ``name``'s parameters and buffers (the meta-device architecture, or its weight file)."""
    from featviz_core.models.sources import get_spec

    return spec_weight_bytes(get_spec(name))


@lru_cache(maxsize=64)
def spec_weight_bytes(spec) -> int:
    """:func:`weight_bytes` of a :class:`~featviz_core.models.spec.ModelSpec` (cached by the spec)."""
    if spec.build is not None:
        try:
            with torch.device("meta"):
                model = spec.build()
            return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
        except Exception:  # noqa: BLE001 - a builder that cannot run on meta: fall back to the file's size
            pass
    return int(spec.weights.approx_bytes)


def megabytes(count: int) -> str:
    return f"{count / 1e6:,.0f} MB"


def check_fits(spec, device: torch.device) -> None:
    """Refuse to load ``spec``'s model when its weights alone exceed the memory available on ``device``.

    Raises:
        TooLarge: one line with the estimate, what is available, and what to do.
    """
    need = spec_weight_bytes(spec)
    have = available_bytes(torch.device(device))
    if need > have:
        raise TooLarge(f"{spec.name} needs about {megabytes(need)} for its weights alone, and {torch.device(device).type} "
                       f"has {megabytes(have)} available; choose a smaller model (e.g. a resnet18 or efficientnet-lite0) "
                       "or a machine with more memory")
