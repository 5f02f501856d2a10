"""Any network by name: ``SOURCE:NAME[?OPTIONS]``, made into a :class:`~featviz_core.models.ModelSpec` on demand.

========================================  =====================================================================
name                                      network
========================================  =====================================================================
``torchvision:resnet50``                  a torchvision classification model with its published ImageNet
                                          weights (downloaded into the cache, hash prefix checked)
``torchvision:resnet50?weights=random``   the same architecture with seeded random weights (asked for
                                          explicitly; every image and the metadata say so)
``torchvision:resnet50?weights=PATH``     the architecture with a state dict from PATH (``weights_only``)
``timm:NAME`` (and the same options)      a timm model, when timm is installed (published weights from
                                          the Hugging Face Hub, checked against its SHA-256 listing)
``file:PATH.pt2?mean=..&std=..``          a ``torch.export`` program; preprocessing as options: ``mean`` and
                                          ``std`` (three numbers each), ``scale`` (255 for a model that takes
                                          0-255 pixel values) and ``size`` (its input side; default the one it
                                          was exported with)
a name given to ``register_module``       a module given in code (:mod:`featviz_core.models.user`)
========================================  =====================================================================

Unknown names get the closest known ones (difflib). Specs are made once per name and process.
:func:`get_spec` is the one way to a spec by name: a registered model (:mod:`featviz_core.models.zoo`) or any
of the above.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from typing import Callable

from featviz_core.errors import RequestError
from featviz_core.models.spec import ModelSpec
from featviz_core.models.zoo import REGISTRY
from featviz_core.models.zoo_common import UnknownArchitecture

#: source -> function(architecture, options, full name) -> ModelSpec
_SOURCES: dict[str, Callable] = {}
OPTIONS = ("weights", "mean", "std", "scale", "size")


def _shown(name: str) -> str:
    return repr(name) if len(name) <= 60 else repr(name[:60]) + "..."


def parse_options(query: str, name: str) -> dict[str, str]:
    """``weights=random&size=224`` -> {"weights": "random", "size": "224"}; unknown keys are refused."""
    options: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        key, sep, value = part.partition("=")
        if not sep or key not in OPTIONS or not value:
            raise RequestError(f"model {_shown(name)}: {part!r} is not an option; options are KEY=VALUE with KEY one "
                               f"of {', '.join(OPTIONS)} (e.g. torchvision:resnet50?weights=random)")
        options[key] = value
    return options


def get_spec(name: str) -> ModelSpec:
    """The spec of model ``name``: a registered model, or any network by source (see the module docstring).

    Raises:
        RequestError: an unknown name (with the closest known names), or a network that cannot be read.
    """
    if not isinstance(name, str):
        raise RequestError(f"model must be a name, one of: {', '.join(REGISTRY)}")
    if name in REGISTRY:
        return REGISTRY[name]
    return spec_for(name)


def spec_for(name: str):
    """The spec of ``name`` (see the module docstring).

    Raises:
        RequestError: unknown name (with the closest known ones), bad options, or a file that is not a model.
    """
    from featviz_core.models.user import REGISTERED

    if name in REGISTERED:
        return REGISTERED[name]
    return _spec_for(name)


@lru_cache(maxsize=64)
def _spec_for(name: str):
    _load_sources()
    source, sep, rest = name.partition(":")
    if not sep or source not in _SOURCES:
        raise RequestError(unknown_message(name))
    arch, _, query = rest.partition("?")
    try:
        return _SOURCES[source](arch, parse_options(query, name), name)
    except UnknownArchitecture:
        raise RequestError(unknown_message(name)) from None


def _load_sources() -> None:
    if _SOURCES:
        return
    from featviz_core.models.files import spec as file_spec
    from featviz_core.models.timm_zoo import spec as timm_spec
    from featviz_core.models.torchvision_zoo import spec as torchvision_spec

    _SOURCES.update({"torchvision": torchvision_spec, "timm": timm_spec, "file": file_spec})


def known_names() -> list[str]:
    """Every model name without options: registered models, modules given in code, torchvision's models and,
    when installed, timm's."""
    from featviz_core.models.timm_zoo import names as timm_names
    from featviz_core.models.torchvision_zoo import names as torchvision_names
    from featviz_core.models.user import REGISTERED

    return [*REGISTRY, *REGISTERED, *(f"torchvision:{n}" for n in torchvision_names()),
            *(f"timm:{n}" for n in timm_names())]


def unknown_message(name: str) -> str:
    """One line: the name is unknown, the closest known names, and what is allowed."""
    from featviz_core.models.timm_zoo import installed

    base = name.partition("?")[0]
    known = known_names()
    # A bare architecture name ("resnet50") matches its sources' names better without the prefix; one name
    # can be in several sources (torchvision:resnet18, timm:resnet18).
    bare: dict[str, list[str]] = {}
    for known_name in known:
        if ":" in known_name:
            bare.setdefault(known_name.partition(":")[2], []).append(known_name)
    stem = base.partition(":")[2] or base
    close = difflib.get_close_matches(base, [n for n in known if ":" not in n], n=2, cutoff=0.6)  # registered
    close += [n for match in difflib.get_close_matches(stem, list(bare), n=3, cutoff=0.6) for n in bare[match]]
    close += difflib.get_close_matches(base, known, n=3, cutoff=0.5)
    if ":" in base:  # the source named first (timm:resnet1 -> timm:resnet18)
        close.sort(key=lambda n: not n.startswith(base.partition(":")[0] + ":"))
    close = list(dict.fromkeys(close))[:4]
    hint = f"; closest: {', '.join(close)}" if close else ""
    timm = "timm:NAME" if installed() else "timm:NAME (after pip install -r requirements-timm.txt)"
    return (f"unknown model {_shown(name)}; choose one of: {', '.join(REGISTRY)}, torchvision:NAME "
            f"(`python -m featviz_core models --all` lists them), {timm} or file:PATH.pt2{hint}")


def with_random_weights(name: str) -> str:
    """``torchvision:resnet50`` -> ``torchvision:resnet50?weights=random`` (the CLI's --random-weights)."""
    base, _, query = name.partition("?")
    source = base.partition(":")[0]
    if ":" not in base or source not in ("torchvision", "timm"):
        raise RequestError(f"random weights apply to torchvision:NAME and timm:NAME models, not {_shown(name)}")
    options = [part for part in query.split("&") if part and not part.startswith("weights=")]
    return base + "?" + "&".join(["weights=random", *options])
