"""What featviz knows about a model, as data: its preprocessing, where its weights come from, its layers of note.

Code never branches on a model's class name: the input transform, native size and weight source all live in
a :class:`ModelSpec`. The specs themselves, each beside its builder, are in :mod:`featviz_core.models.zoo`;
specs of any other network are made on demand by :mod:`featviz_core.models.sources`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from featviz_core.config import cache_dir
from featviz_core.errors import WeightsUnavailable


@dataclass(frozen=True)
class Preprocess:
    """Maps an RGB image in [0, 1] to the model's input: ``(x * value_scale - mean) / std`` per channel."""

    value_scale: float = 1.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B, 3, H, W) in [0, 1] -> model input of the same shape."""
        mean = torch.tensor(self.mean, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
        return (images * self.value_scale - mean) / std


@dataclass(frozen=True)
class WeightSource:
    """Where a model's weights come from.

    Resolution order: the file the user named (``path``), or named by ``env_var``; a file shipped by an
    installed package (``package_file``); the cache folder; a download from ``url``.

    ``kind`` is ``"file"`` (all of the above), ``"random"`` (seeded random weights, only ever when asked for
    explicitly: nothing is loaded) or ``"memory"`` (a module given in code: its weights are already there).
    For the last two, ``identity`` stands in for the file's SHA-256 in cache keys.
    """

    filename: str
    approx_bytes: int
    url: str | None = None
    sha256: str | None = None
    env_var: str | None = None
    sha256_env_var: str | None = None
    package_file: Callable[[], str | None] | None = None
    url_env_var: str | None = None
    # The first hex digits of the file's SHA-256 (torchvision puts them in each file name, as torch.hub's
    # check_hash reads them).
    sha256_prefix: str | None = None
    # Reads the SHA-256 the publisher lists for the file (given a timeout in seconds; raises DownloadError):
    # asked once, before a download, when no digest is pinned (timm's weights on the Hugging Face Hub).
    published_sha256: Callable[[float], str] | None = None
    path: str | None = None
    kind: str = "file"
    identity: str = ""
    hint: str = ""  # appended to the "weights are not available" message: another way to get them

    @property
    def random(self) -> bool:
        return self.kind == "random"

    def expected_sha256(self) -> str | None:
        if self.sha256_env_var and os.environ.get(self.sha256_env_var, "").strip():
            return os.environ[self.sha256_env_var].strip().lower()
        return self.sha256

    def download_sha256(self, timeout_s: float) -> str | None:
        """The digest a download must have: the pinned or configured one, else the one its publisher lists
        (read now, over the network), else None (any content; the caller records what arrived)."""
        expected = self.expected_sha256()
        if expected is None and self.published_sha256 is not None:
            return self.published_sha256(timeout_s)
        return expected

    def download_url(self) -> str | None:
        """``url``, or a mirror named by ``url_env_var`` (http or https only)."""
        if self.url_env_var and os.environ.get(self.url_env_var, "").strip():
            url = os.environ[self.url_env_var].strip()
            if not url.startswith(("http://", "https://")):
                raise WeightsUnavailable(f"{self.url_env_var} must be an http:// or https:// address, got {url!r}")
            return url
        return self.url

    def cache_path(self) -> Path:
        return cache_dir() / "weights" / self.filename


@dataclass(frozen=True)
class ModelSpec:
    """Everything featviz needs to know about one model."""

    name: str
    title: str
    description: str
    # The architecture with random weights (None: the model only exists loaded, see ``load``).
    build: Callable[[], torch.nn.Module] | None
    preprocess: Preprocess
    native_size: int
    weights: WeightSource
    featured_layers: tuple[str, ...]
    default_layer: str
    # Smallest model input side (px) for which every targetable layer is computed (at least 1x1). Below it
    # a pooling or strided convolution has nothing left to work on. Tests check it against a trace.
    min_input_size: int = 1
    # Color channels of the model's input (3: RGB). Transparent renders composite RGB over backgrounds, so
    # they need an RGB model.
    input_channels: int = 3
    stage_notes: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # The model with the weights of a file (default: ``build`` and a strict ``load_state_dict``); for a module
    # given in code (weights kind "memory"), called with no file.
    load: Callable[[Path | None], torch.nn.Module] | None = None

