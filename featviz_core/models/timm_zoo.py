"""``timm:NAME``: timm's models, when timm is installed (it is optional).

Preprocessing comes from each model's ``pretrained_cfg`` (mean, std, input size). timm publishes its weights
on the Hugging Face Hub, which featviz does not download from: use a state dict you name
(``timm:NAME?weights=PATH``) or, explicitly, random weights (``?weights=random``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from featviz_core.errors import RequestError, WeightsUnavailable
from featviz_core.models.zoo_common import (
    UnknownArchitecture, key_mismatch, random_identity, trace_native, weights_choice,
)


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


def spec(arch: str, options: dict[str, str], name: str):
    from featviz_core.models.spec import ModelSpec, Preprocess, WeightSource
    from featviz_core.models.structure import default_layer, featured_layers

    if not installed():
        raise RequestError(f"model {name} needs timm, which is not installed here (pip install timm); "
                           "or choose a torchvision:NAME model")
    if arch not in names():
        raise UnknownArchitecture(name)
    build = functools.partial(_build, arch)
    with torch.device("meta"):
        cfg = dict(build().pretrained_cfg)
    side = int(cfg.get("input_size", (3, 224, 224))[-1])
    model, native, shapes = trace_native(build, tuple(dict.fromkeys((side, 224))))
    featured = featured_layers(model, list(shapes))
    choice = weights_choice(options, name)
    if choice == "default":
        raise WeightsUnavailable(f"{name}: timm's published weights come from the Hugging Face Hub, which featviz "
                                 f"does not download; name a state dict (timm:{arch}?weights=/path/to/file.pth) or "
                                 f"ask for an untrained network (timm:{arch}?weights=random)")
    if choice == "random":
        source = WeightSource(filename="", approx_bytes=0, kind="random", identity=random_identity(name))
        what = "random weights (untrained)"
    else:
        source = WeightSource(filename=Path(choice).name, approx_bytes=Path(choice).stat().st_size, path=choice)
        what = f"weights from {choice}"
    title = f"{arch} (timm, {what})"
    return ModelSpec(
        name=name, title=title,
        description=f"timm's {arch}, {len(shapes)} targetable layers; preprocessing from its pretrained_cfg.",
        build=build,
        preprocess=Preprocess(1.0, tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
                              tuple(cfg.get("std", (0.229, 0.224, 0.225)))),
        native_size=native, weights=source, featured_layers=featured, default_layer=default_layer(featured),
        load=None if choice == "random" else functools.partial(_load, arch, title=title),
    )
