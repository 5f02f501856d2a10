"""Loading a model: finding and verifying its weight file (downloading it on request), building the network with
those weights once per process, and saying whether a model is available. Weights are a file (verified), seeded
random weights (asked for explicitly: ``?weights=random``) or a module given in code; a model estimated above
the memory available is refused before it is built (:mod:`featviz_core.models.memory`).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from featviz_core.errors import RequestError, WeightsUnavailable
from featviz_core.models.checkpoint import load_state_dict_safely
from featviz_core.models.memory import check_fits
from featviz_core.models.sources import get_spec
from featviz_core.models.spec import ModelSpec, WeightSource
from featviz_core.models.user import on_device
from featviz_core.models.weights import (
    ChecksumMismatch, DownloadError, NegativeCache, download, file_digest, file_stamp, sha256_of,
)
from featviz_core.models.zoo import DEFAULT_FALLBACK

_negative = NegativeCache()
# (model name, device) -> (the spec, stamp of the weight file it was built from, model); a module registered
# again under its name has a new spec, so its old copy is not served.
_model_cache: dict[tuple[str, str], tuple[ModelSpec, tuple | None, torch.nn.Module]] = {}
_model_lock = threading.Lock()


def _verify(path: Path, source: WeightSource) -> None:
    """Check a local file against the expected digest, or against the digest recorded at download."""
    expected = source.expected_sha256()
    if expected is None and source.sha256_prefix:
        actual = sha256_of(path)
        if not actual.startswith(source.sha256_prefix):
            raise ChecksumMismatch(
                f"refusing to load {path}: its SHA-256 is {actual}, which does not start with "
                f"{source.sha256_prefix} as its file name says. Delete the file and fetch it again."
            )
        return
    sidecar = path.with_name(path.name + ".sha256")
    if expected is None and sidecar.exists():
        expected = sidecar.read_text().split()[0].strip().lower()
    if expected is None:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumMismatch(
            f"refusing to load {path}: its SHA-256 is {actual}, expected {expected}. "
            f"Delete the file and fetch it again."
        )


def local_weights(spec: ModelSpec) -> Path | None:
    """The weight file already on this machine, without any network access, or None."""
    source = spec.weights
    if source.kind != "file":
        return None
    if source.path:
        return Path(source.path).expanduser()
    if source.env_var and os.environ.get(source.env_var):
        return Path(os.environ[source.env_var]).expanduser()
    if source.package_file is not None:
        found = source.package_file()
        if found and Path(found).exists():
            return Path(found)
    cached = source.cache_path()
    return cached if cached.exists() else None


def offline_help(spec: ModelSpec, reason: str) -> str:
    source = spec.weights
    size_mb = source.approx_bytes / 1e6
    where = source.cache_path()
    lines = [f"{spec.title}: weights are not available ({reason})."]
    if source.url:
        lines.append(f"Download {source.filename} (about {size_mb:.0f} MB) from {source.download_url()}")
    else:
        lines.append(f"Install the package that ships {source.filename} (about {size_mb:.0f} MB)")
    lines.append(f"and place it at {where}")
    if source.env_var:
        lines[-1] += f", or set {source.env_var}=/path/to/{source.filename}"
    if source.hint:
        lines[-1] += f", {source.hint}"
    return " ".join(lines) + "."


def resolve_weights(spec: ModelSpec, *, allow_download: bool = True, timeout_s: float = 20.0) -> Path:
    """Path of a verified weight file for ``spec``, downloading it into the cache if needed.

    Raises:
        WeightsUnavailable: with a message naming the file, its size and where to put it.
    """
    source = spec.weights
    if source.kind != "file":
        raise WeightsUnavailable(f"{spec.title} has no weight file ({source.kind} weights)")
    path = local_weights(spec)
    if path is not None:
        if not path.exists():
            who = f"{source.env_var} points to" if not source.path else "the weights named are at"
            raise WeightsUnavailable(offline_help(spec, f"{who} {path}, which does not exist"))
        _verify(path, source)
        return path
    url = source.download_url()
    if not url or not allow_download:
        raise WeightsUnavailable(offline_help(spec, "no local file and downloads are off"))
    failure = _negative.get(spec.name)
    if failure:
        raise WeightsUnavailable(failure)
    dest = source.cache_path()
    try:
        download(url, dest, sha256=source.download_sha256(timeout_s), timeout_s=timeout_s,
                 sha256_prefix=source.sha256_prefix)
    except ChecksumMismatch:
        raise
    except DownloadError as exc:
        message = offline_help(spec, str(exc))
        _negative.put(spec.name, message)
        raise WeightsUnavailable(message) from None
    if source.expected_sha256() is None and not source.sha256_prefix:  # record what we got, so later loads
        dest.with_name(dest.name + ".sha256").write_text(sha256_of(dest) + "\n")
    return dest


def build_with_weights(spec: ModelSpec, path: Path) -> torch.nn.Module:
    if spec.load is not None:
        return spec.load(path)
    model = spec.build()
    state = load_state_dict_safely(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise WeightsUnavailable(f"{path} does not match the {spec.title} architecture: {first}") from None
    return model


def load_model(name: str, device: torch.device | str = "cpu", *, allow_download: bool = True) -> torch.nn.Module:
    """The shared, frozen, eval-mode model ``name`` on ``device``.

    Loaded once per process, and again when its weight file is replaced (another size or modification
    time), so renders always use the weights whose digest :func:`weights_identity` reports.
    """
    spec = get_spec(name)
    device = torch.device(device)
    key = (name, str(device))
    with _model_lock:
        cached = _current(key, spec)
        if cached is not None:
            return cached
        if spec.weights.kind == "random":
            model, stamp = random_model(name).to(device), None
        elif spec.weights.kind == "memory":
            model, stamp = on_device(spec.load(None), device), None  # type: ignore[misc]
        else:
            path = resolve_weights(spec, allow_download=allow_download)
            check_fits(spec, device)
            model, stamp = build_with_weights(spec, path).to(device), file_stamp(path)
        model = model.eval()
        model.requires_grad_(False)
        _model_cache[key] = (spec, stamp, model)
        return model


def _current(key: tuple[str, str], spec: ModelSpec) -> torch.nn.Module | None:
    """The cached model for ``key`` if it was loaded from the weight file present now (or the file is gone
    since: the weights in memory are still those), else None. Caller holds ``_model_lock``."""
    cached = _model_cache.get(key)
    if cached is None or cached[0] is not spec:
        return None
    present = local_weights(spec)
    try:
        unchanged = present is None or cached[1] == file_stamp(present)
    except OSError:  # deleted since it was loaded
        unchanged = True
    return cached[2] if unchanged else None


def is_loaded(name: str, device: torch.device | str = "cpu") -> bool:
    """Whether :func:`load_model` holds ``name`` on ``device`` for its present weight file (a call is instant)."""
    with _model_lock:
        return _current((name, str(torch.device(device))), get_spec(name)) is not None


def weights_identity(name: str) -> str:
    """SHA-256 of the weight file model ``name`` loads on this machine now, or "" when there is none yet.

    Part of every render's cache key, so a render is only served for the weights it was made with. Random
    weights and modules given in code have no file: their ``WeightSource.identity`` stands in.
    """
    spec = get_spec(name)
    if spec.weights.kind != "file":
        return spec.weights.identity
    path = local_weights(spec)
    if path is None:
        return ""
    try:
        return file_digest(path)
    except OSError:  # missing or unreadable: loading would fail too
        return ""


def random_model(name: str, seed: int = 0) -> torch.nn.Module:
    """The architecture of ``name`` with seeded random weights (tests and speed benchmarks)."""
    spec = get_spec(name)
    if spec.build is None:
        raise RequestError(f"{name} exists only with its own weights; random weights need an architecture "
                           "(torchvision:NAME or timm:NAME)")
    check_fits(spec, torch.device("cpu"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = spec.build()
    return model.eval().requires_grad_(False)


@dataclass(frozen=True)
class ModelStatus:
    name: str
    available: bool
    message: str


def model_status(name: str) -> ModelStatus:
    """Whether ``name`` can be loaded right now, without touching the network."""
    spec = get_spec(name)
    if spec.weights.kind == "random":
        return ModelStatus(name, True, "random weights, as asked: an untrained network (every image says so)")
    if spec.weights.kind == "memory":
        return ModelStatus(name, True, "a module given in code")
    try:
        path = local_weights(spec)
    except Exception as exc:  # pragma: no cover - defensive
        return ModelStatus(name, False, str(exc))
    if path is not None and path.exists():
        return ModelStatus(name, True, f"weights: {path}")
    failure = _negative.get(name)
    if failure:
        return ModelStatus(name, False, failure)
    if spec.weights.url:
        return ModelStatus(name, False, offline_help(spec, "not downloaded yet; featviz tries to download it on first use"))
    return ModelStatus(name, False, offline_help(spec, "file not found"))


def weights_label(name: str) -> str:
    """``"random weights"`` for a network asked for with random weights (every image and render.json say
    so), else ""."""
    return "random weights" if get_spec(name).weights.random else ""


def default_model_name() -> str:
    """InceptionV1 when its weights are on this machine, else the offline default."""
    return "inceptionv1" if model_status("inceptionv1").available else DEFAULT_FALLBACK
