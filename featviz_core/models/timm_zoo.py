"""``timm:NAME``: timm's models, when timm is installed (it is optional: ``pip install -r requirements-timm.txt``).

Preprocessing comes from each model's pretrained config (mean, std, input size). Published weights are the
file timm names on the Hugging Face Hub (``hf_hub_id``, ``model.safetensors`` unless the config names another
file), downloaded by featviz itself from ``HUB/ID/resolve/main/FILE`` and verified against the SHA-256 the Hub
lists for that file (its Git LFS object id, read from ``HUB/api/models/ID/revision/main?blobs=true``) before
it is kept. ``HUB`` is ``https://huggingface.co`` or ``FEATVIZ_TIMM_HUB`` (a mirror with the Hub's layout).
``?weights=PATH`` loads a state dict you name; ``?weights=random`` an untrained network.
"""

from __future__ import annotations

import functools
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import torch

from featviz_core.errors import RequestError, WeightsUnavailable
from featviz_core.models.zoo_common import (
    UnknownArchitecture, key_mismatch, random_identity, trace_native, weights_choice,
)

HUB = "https://huggingface.co"
INSTALL = "pip install -r requirements-timm.txt (or pip install timm)"


def installed() -> bool:
    try:
        import timm  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def names() -> tuple[str, ...]:
    if not installed():
        return ()
    import timm

    return tuple(timm.list_models())


def hub() -> str:
    """The Hub's address: ``FEATVIZ_TIMM_HUB`` (http or https) or huggingface.co."""
    address = os.environ.get("FEATVIZ_TIMM_HUB", "").strip()
    if not address:
        return HUB
    if not address.startswith(("http://", "https://")):
        raise WeightsUnavailable(f"FEATVIZ_TIMM_HUB must be an http:// or https:// address, got {address!r}")
    return address.rstrip("/")


def hub_sha256(base: str, repo: str, filename: str, timeout_s: float) -> str:
    """The SHA-256 the Hub at ``base`` lists for ``filename`` of model repository ``repo`` (its LFS object id).

    Raises:
        DownloadError: the listing could not be read, or does not give the file's SHA-256.
    """
    from featviz_core.models.weights import DownloadError

    url = f"{base}/api/models/{repo}/revision/main?blobs=true"
    request = urllib.request.Request(url, headers={"User-Agent": "featviz"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            listing = json.loads(response.read(8 << 20))
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"could not read the SHA-256 of {filename} from {url}: server answered HTTP "
                            f"{exc.code} {exc.reason}") from None
    except (OSError, ValueError) as exc:  # URLError, timeouts, a body that is not JSON
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"could not read the SHA-256 of {filename} from {url}: {reason}") from None
    siblings = listing.get("siblings") if isinstance(listing, dict) else None
    for sibling in siblings if isinstance(siblings, list) else []:
        if isinstance(sibling, dict) and sibling.get("rfilename") == filename:
            digest = str((sibling.get("lfs") or {}).get("sha256", "")).lower()
            if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
                return digest
    raise DownloadError(f"{url} lists no SHA-256 for {filename}, so it cannot be verified")


def _build(arch: str) -> torch.nn.Module:
    import timm

    return timm.create_model(arch, pretrained=False)


def _load(arch: str, path: Path | None, title: str) -> torch.nn.Module:
    from featviz_core.models.checkpoint import load_state_dict_safely

    model = _build(arch)
    try:
        model.load_state_dict(load_state_dict_safely(Path(path)), strict=True)  # type: ignore[arg-type]
    except RuntimeError as exc:
        raise key_mismatch(exc, path, f"timm's {arch}") from None
    return model


def _published(arch: str, cfg: dict, name: str, approx: int):
    """The weight source of timm's published file for ``arch``: on the Hub, verified against its listing."""
    from featviz_core.models.spec import WeightSource

    repo = cfg.get("hf_hub_id")
    others = (f"name a state dict (timm:{arch}?weights=/path/to/file.safetensors) or ask for an untrained network "
              f"(timm:{arch}?weights=random)")
    if not repo:
        raise WeightsUnavailable(f"{name}: timm publishes no weights for {arch} on the Hugging Face Hub; {others}")
    filename = cfg.get("hf_hub_filename") or "model.safetensors"
    base = hub()
    return WeightSource(
        filename=f"{repo.replace('/', '--')}--{filename}", approx_bytes=approx,
        url=f"{base}/{repo}/resolve/main/{filename}",
        published_sha256=functools.partial(hub_sha256, base, repo, filename),
        hint=f"or {others}")


def spec(arch: str, options: dict[str, str], name: str):
    from featviz_core.models.spec import ModelSpec, Preprocess, WeightSource
    from featviz_core.models.structure import default_layer, featured_layers

    if not installed():
        raise RequestError(f"model {name} needs timm, which is not installed here: {INSTALL}; "
                           "or choose a torchvision:NAME model")
    if arch not in names():
        raise UnknownArchitecture(name)
    extra = set(options) - {"weights"}
    if extra:
        raise RequestError(f"model {name}: option(s) {', '.join(sorted(extra))} apply to file: models only; "
                           "timm models bring their own preprocessing")
    from timm.models import get_pretrained_cfg

    found = get_pretrained_cfg(arch)
    cfg = found.to_dict() if found is not None else {}
    build = functools.partial(_build, arch)
    side = int(cfg.get("input_size", (3, 224, 224))[-1])
    model, native, shapes = trace_native(build, tuple(dict.fromkeys((side, 224))))
    featured = featured_layers(model, list(shapes))
    approx = 4 * sum(p.numel() for p in model.parameters())
    choice = weights_choice(options, name)
    if choice == "random":
        source = WeightSource(filename="", approx_bytes=approx, kind="random", identity=random_identity(name))
        what = "random weights (untrained)"
    elif choice == "default":
        source = _published(arch, cfg, name, approx)
        what = f"weights {cfg.get('hf_hub_id')}"
    else:
        source = WeightSource(filename=Path(choice).name, approx_bytes=Path(choice).stat().st_size, path=choice)
        what = f"weights from {choice}"
    title = f"{arch} (timm, {what})"
    return ModelSpec(
        name=name, title=title,
        description=f"timm's {arch}, {len(shapes)} targetable layers; preprocessing from its pretrained config.",
        build=build,
        preprocess=Preprocess(1.0, tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
                              tuple(cfg.get("std", (0.229, 0.224, 0.225)))),
        native_size=native, weights=source, featured_layers=featured, default_layer=default_layer(featured),
        # A model made for one input size only (a ViT's fixed patch grid) runs on nothing smaller.
        min_input_size=native if cfg.get("fixed_input_size") else 1,
        load=None if choice == "random" else functools.partial(_load, arch, title=title),
    )
