"""Limits and settings read from environment variables, with documented defaults.

| variable | default | meaning |
| --- | --- | --- |
| FEATVIZ_CACHE_DIR | ~/.cache/featviz | weights and finished renders live under this folder |
| FEATVIZ_MAX_STEPS | 4096 | most optimization steps one render may ask for |
| FEATVIZ_MIN_SIZE / FEATVIZ_MAX_SIZE | 16 / 1024 | allowed image side in pixels |
| FEATVIZ_MAX_CHANNELS | 512 | most images (channels) one render may ask for |
| FEATVIZ_WORKERS | 1 on CPU, 2 on CUDA | renders that run at the same time |
| FEATVIZ_QUEUE_LENGTH | 16 | renders that may wait; more get a "busy" answer |
| FEATVIZ_DEADLINE_S | 600 | a render running longer stops and keeps its partial result |
| FEATVIZ_IDLE_TIMEOUT_S | 20 | a render nobody has polled for this long is cancelled, unless a watching tab is still connected |
| FEATVIZ_CACHE_ENTRIES / FEATVIZ_CACHE_MB | 200 / 500 | bounds of the on-disk render cache |
| FEATVIZ_DEVICE | auto | "cpu", "cuda", "cuda:1", ... (auto: CUDA when available) |
| FEATVIZ_MAX_UPLOAD_MB / FEATVIZ_MAX_UPLOAD_SIDE | 10 / 4096 | largest photo upload: file size and width or height |
| FEATVIZ_STATS_FILE | unset | when set, the render service keeps its counters in this JSON file (monitoring, load tests) |
| FEATVIZ_INCEPTIONV1_WEIGHTS / FEATVIZ_EFFICIENTNET_LITE0_WEIGHTS | unset | use this local weight file instead |
| FEATVIZ_INCEPTIONV1_SHA256 | unset | SHA-256 the InceptionV1 weight file must have (no digest is published upstream) |
| FEATVIZ_INCEPTIONV1_URL | upstream | a mirror to download inception5h.pth from |
| FEATVIZ_ATLAS_DIR | CACHE/atlas | atlases the app reads (featviz_core.atlas.lookup) |
| FEATVIZ_EXAMPLES_DIR | CACHE/examples | dataset examples stores the app reads (featviz_core.examples.lookup) |
| FEATVIZ_UPLOAD_EXAMPLES_DIR | CACHE/examples-uploads | stores of visitors' zips (each shown only to its session) |
| FEATVIZ_UPLOAD_EXAMPLES_MAX | 20 | stores of visitors' zips kept; the ones used longest ago go first |
| FEATVIZ_ZIP_MAX_MB / FEATVIZ_ZIP_MAX_IMAGES / FEATVIZ_ZIP_MAX_ENTRIES | 50 / 500 / 2000 | a visitor's zip of images: size, images, entries |
| FEATVIZ_ZIP_MAX_UNPACKED_MB / FEATVIZ_ZIP_MAX_RATIO | 200 / 100 | the zip unpacked in all; highest compression ratio |
| FEATVIZ_TORCHVISION_MIRROR | unset | an http(s) folder to download torchvision's weight files from instead |
| FEATVIZ_MEMORY_MB | unset | cap on the memory featviz counts as available (models and renders estimated above it are refused) |
| FEATVIZ_ATLAS_FILL | 1 | the app's render service fills an atlas of the current model while no visitor renders (0: off) |
| FEATVIZ_KEEP_CPU_MEMORY | 1 | on glibc, renders keep freed memory for the next step instead of handing it back to the system (0: glibc's defaults; see ``featviz_core.device.keep_cpu_memory``) |

Layer (checked by tests/test_layout.py): may import device; torch at module level: no.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from featviz_core.device import env_flag as _env_bool


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be a whole number, got {raw!r}") from None


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be a number, got {raw!r}") from None


def cache_dir() -> Path:
    """Root folder for downloaded weights and cached renders."""
    raw = os.environ.get("FEATVIZ_CACHE_DIR")
    if raw:
        return Path(raw).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "featviz"


def store_roots(variable: str, default: str) -> list[Path]:
    """The folders the app reads stores from: the ``os.pathsep``-separated folders of the environment
    ``variable`` (FEATVIZ_ATLAS_DIR, FEATVIZ_EXAMPLES_DIR), else ``cache_dir() / default``."""
    raw = os.environ.get(variable, "").strip()
    if raw:
        return [Path(part).expanduser() for part in raw.split(os.pathsep) if part.strip()]
    return [cache_dir() / default]


def store_folders(roots: list[Path], marker: str) -> list[Path]:
    """The store folders under ``roots``: a root holding ``marker`` (a store's manifest) is itself a store,
    any other root offers its visible subfolders, sorted; a root that cannot be listed offers none."""
    folders: list[Path] = []
    for root in roots:
        if (root / marker).is_file():
            folders.append(root)
            continue
        try:
            folders.extend(sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")))
        except OSError:
            continue
    return folders


@dataclass(frozen=True)
class Limits:
    """Bounds a render request is validated against."""

    max_steps: int = 4096
    min_size: int = 16
    max_size: int = 1024
    max_channels: int = 512

    @classmethod
    def from_env(cls) -> "Limits":
        return cls(
            max_steps=_env_int("FEATVIZ_MAX_STEPS", cls.max_steps),
            min_size=_env_int("FEATVIZ_MIN_SIZE", cls.min_size),
            max_size=_env_int("FEATVIZ_MAX_SIZE", cls.max_size),
            max_channels=_env_int("FEATVIZ_MAX_CHANNELS", cls.max_channels),
        )


@dataclass(frozen=True)
class ServiceSettings:
    """Settings of the shared render service (job queue and cache)."""

    workers: int
    queue_length: int
    deadline_s: float
    cache_entries: int
    cache_bytes: int
    cache_path: Path
    idle_timeout_s: float = 20.0
    # Fill an atlas in the background while no visitor renders (featviz_core.service.filler). Off unless
    # read from the environment, where it defaults to on: a service made in code (tests, the CLI, warm-up)
    # never renders on its own.
    atlas_fill: bool = False

    @classmethod
    def from_env(cls) -> "ServiceSettings":
        from featviz_core.device import default_device

        default_workers = 2 if default_device().type == "cuda" else 1
        deadline_s = _env_float("FEATVIZ_DEADLINE_S", 600.0)
        if not deadline_s > 0:
            raise ValueError(f"environment variable FEATVIZ_DEADLINE_S must be above 0 seconds, got {deadline_s:g}")
        idle_timeout_s = _env_float("FEATVIZ_IDLE_TIMEOUT_S", 20.0)
        if not idle_timeout_s > 0:
            raise ValueError(f"environment variable FEATVIZ_IDLE_TIMEOUT_S must be above 0 seconds, got {idle_timeout_s:g}")
        _env_bool("FEATVIZ_KEEP_CPU_MEMORY", True)  # checked here, at start; read by the first CPU render
        return cls(
            workers=max(1, _env_int("FEATVIZ_WORKERS", default_workers)),
            queue_length=max(0, _env_int("FEATVIZ_QUEUE_LENGTH", 16)),
            deadline_s=deadline_s,
            cache_entries=max(1, _env_int("FEATVIZ_CACHE_ENTRIES", 200)),
            cache_bytes=int(max(1.0, _env_float("FEATVIZ_CACHE_MB", 500.0)) * 1024 * 1024),
            cache_path=cache_dir() / "renders",
            idle_timeout_s=idle_timeout_s,
            atlas_fill=_env_bool("FEATVIZ_ATLAS_FILL", True),
        )
