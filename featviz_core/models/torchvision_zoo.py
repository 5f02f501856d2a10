"""``torchvision:NAME``: every torchvision classification model, its preprocessing and weights read from
torchvision's own ``Weights`` records (url, transforms, meta), never from the model's class.

Published weights are downloaded from the URL torchvision gives (``Weights.url``) into featviz's cache and
checked against the SHA-256 prefix in the file name, as ``torch.hub``'s ``check_hash`` does; then the
model is built by torchvision's own builder (which sets what the weights need, e.g. GoogLeNet's
``transform_input``) with the state dict read from that file (``weights_only=True``).
"""

from __future__ import annotations

import functools
import os
import re
import threading
from pathlib import Path

import torch

from featviz_core.errors import RequestError, WeightsUnavailable
from featviz_core.models.zoo_common import (
    UnknownArchitecture, key_mismatch, random_identity, trace_native, weights_choice,
)

HASH_IN_NAME = re.compile(r"-([a-f0-9]+)\.")  # torch.hub's HASH_REGEX
_builder_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def names() -> tuple[str, ...]:
    """Every torchvision classification model name (``torchvision.models.list_models``)."""
    import torchvision

    return tuple(torchvision.models.list_models(module=torchvision.models))


def _random_build(arch: str) -> torch.nn.Module:
    from torchvision.models import get_model

    return get_model(arch, weights=None)


def load_with_state_dict(arch: str, path: Path | None, title: str) -> torch.nn.Module:
    """torchvision's builder for ``arch`` with its default weights record, fed the state dict in ``path``
    (read with ``weights_only=True``) instead of one fetched by ``torch.hub``."""
    import torchvision.models._api as api
    from torchvision.models import get_model, get_model_weights

    from featviz_core.models.checkpoint import load_state_dict_safely

    state = load_state_dict_safely(Path(path))  # type: ignore[arg-type]
    record = get_model_weights(arch).DEFAULT

    def from_file(url: str, *args, **kwargs):
        if url != record.url:  # pragma: no cover - a builder asking for a second file
            raise WeightsUnavailable(f"{title}: torchvision asked for another file ({url})")
        return state

    # The builder reads weights through torchvision.models._api.load_state_dict_from_url; it is swapped for
    # the verified file only while this builder runs (one builder at a time).
    with _builder_lock:
        original = api.load_state_dict_from_url
        api.load_state_dict_from_url = from_file
        try:
            return get_model(arch, weights=record)
        except RuntimeError as exc:
            raise key_mismatch(exc, path, f"torchvision's {arch}") from None
        finally:
            api.load_state_dict_from_url = original


def mirrored(url: str) -> str:
    """``url``, or the same file name under the mirror named by ``FEATVIZ_TORCHVISION_MIRROR`` (an http(s)
    folder holding torchvision's weight files: a machine that cannot reach torchvision's own download address)."""
    mirror = os.environ.get("FEATVIZ_TORCHVISION_MIRROR", "").strip()
    if not mirror:
        return url
    if not mirror.startswith(("http://", "https://")):
        raise WeightsUnavailable(f"FEATVIZ_TORCHVISION_MIRROR must be an http:// or https:// address, got {mirror!r}")
    return mirror.rstrip("/") + "/" + url.rsplit("/", 1)[-1]


def spec(arch: str, options: dict[str, str], name: str):
    from featviz_core.models.spec import ModelSpec, Preprocess, WeightSource
    from featviz_core.models.structure import default_layer, featured_layers

    if arch not in names():
        raise UnknownArchitecture(name)
    extra = set(options) - {"weights"}
    if extra:
        raise RequestError(f"model {name}: option(s) {', '.join(sorted(extra))} apply to file: models only; "
                           "torchvision models bring their own preprocessing")
    from torchvision.models import get_model_weights

    record = get_model_weights(arch).DEFAULT
    transform = record.transforms()
    crop = int(transform.crop_size[0])
    build = functools.partial(_random_build, arch)
    model, native, shapes = trace_native(build, tuple(dict.fromkeys((crop, 224))))
    featured = featured_layers(model, list(shapes))
    choice = weights_choice(options, name)
    filename = record.url.rsplit("/", 1)[-1]
    url = mirrored(record.url)
    prefix = HASH_IN_NAME.search(filename)
    approx = int(float(record.meta.get("_file_size", 0)) * 1e6) or 4 * int(record.meta.get("num_params", 0))
    if choice == "random":
        source = WeightSource(filename="", approx_bytes=approx, kind="random", identity=random_identity(name))
        what = "random weights (untrained)"
    elif choice == "default":
        source = WeightSource(filename=filename, approx_bytes=approx, url=url,
                              sha256_prefix=prefix.group(1) if prefix else None,
                              hint=f"or name the file: torchvision:{arch}?weights=/path/to/{filename} (or ask for "
                                   f"an untrained network: torchvision:{arch}?weights=random)")
        what = f"torchvision's {record}"
    else:
        source = WeightSource(filename=Path(choice).name, approx_bytes=Path(choice).stat().st_size, path=choice)
        what = f"weights from {choice}"
    title = f"{arch} (torchvision, {what})"
    return ModelSpec(
        name=name,
        title=title,
        description=f"torchvision's {arch}, {len(shapes)} targetable layers; preprocessing from its weights "
                    f"record (ImageNet mean and std, {native} px).",
        build=build,
        preprocess=Preprocess(1.0, tuple(transform.mean), tuple(transform.std)),
        native_size=native,
        weights=source,
        featured_layers=featured,
        default_layer=default_layer(featured),
        min_input_size=max(1, int(record.meta.get("min_size", (1, 1))[0])),
        load=None if choice == "random" else functools.partial(load_with_state_dict, arch, title=title),
    )
