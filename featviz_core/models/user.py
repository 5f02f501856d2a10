"""Your own network, given in code: any ``torch.nn.Module`` with its preprocessing.

Example::

    from featviz_core.models import Preprocess
    from featviz_core.models.user import register_module
    from featviz_core.render import render
    from featviz_core.request import RenderRequest

    register_module("mynet", net, Preprocess(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)), input_size=224)
    result = render(RenderRequest(model="mynet", layer="layer3", channels=(0, 1, 2), steps=256))

Layers are named as ``net.named_modules()`` names them; their channels and sizes come from a dry run on the
meta device (or one real forward pass where the module cannot run there). The module is put in eval mode
and its parameters stop requiring gradients (renders need both); featviz never changes it otherwise.
"""

from __future__ import annotations

import copy
import hashlib

import torch

from featviz_core.errors import RequestError

#: name -> ModelSpec of every module registered in this process
REGISTERED: dict = {}


def weights_digest(module: torch.nn.Module) -> str:
    """SHA-256 over the names, shapes and bytes of ``module``'s parameters and buffers: its cache identity."""
    digest = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        digest.update(f"{key}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def on_device(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` if it already lives on ``device``, else a copy moved there (the user's module stays put)."""
    first = next(iter((*module.parameters(), *module.buffers())), None)
    if first is None or first.device == torch.device(device):
        return module
    return copy.deepcopy(module).to(device)


def register_module(name: str, module: torch.nn.Module, preprocess, input_size: int = 224, *,
                    title: str | None = None, featured: tuple[str, ...] | None = None):
    """Make ``module`` renderable as model ``name``; returns its :class:`~featviz_core.models.ModelSpec`.

    Args:
        name: the model name requests use; not a registered model's name and without ``:`` or ``?``.
        module: any ``torch.nn.Module`` taking (B, 3, H, W) images.
        preprocess: maps RGB in [0, 1] to the module's input (:class:`~featviz_core.models.Preprocess`:
            value scale, mean, std).
        input_size: the side of the images the module was trained on (renders upsample to it).
        title: shown in the app and on figures (default: the name).
        featured: its main layers (default: read from its structure, see :mod:`featviz_core.models.structure`).

    Registering a name again replaces it (and forgets its layer tables).
    """
    from featviz_core.models.capture import targetable_shapes
    from featviz_core.models.spec import ModelSpec, WeightSource
    from featviz_core.models.structure import default_layer, featured_layers, meta_copy
    from featviz_core.models.zoo import REGISTRY

    if not isinstance(name, str) or not name or ":" in name or "?" in name or name in REGISTRY:
        raise RequestError(f"cannot register a module as {name!r}: choose a new name without ':' or '?' (taken: "
                           f"{', '.join(REGISTRY)})")
    if not isinstance(module, torch.nn.Module):
        raise RequestError(f"register_module needs a torch.nn.Module, got {type(module).__name__}")
    module.eval().requires_grad_(False)
    side = int(input_size)
    try:
        shapes = targetable_shapes(meta_copy(module), torch.zeros(1, 3, side, side, device="meta"))
    except Exception:  # noqa: BLE001 - no meta kernel for some operation: one real forward pass of one image
        device = next(iter((*module.parameters(), *module.buffers())), torch.zeros(())).device
        shapes = targetable_shapes(module, torch.zeros(1, 3, side, side, device=device))
    if not shapes:
        raise RequestError(f"{name}: no module outputs activations an objective can read ((batch, channels, height, "
                           "width), channels last, or (batch, tokens, width))")
    main = tuple(featured) if featured else featured_layers(module, list(shapes))
    spec = ModelSpec(
        name=name, title=title or name, description="A module given in code.", build=None,
        preprocess=preprocess, native_size=side,
        weights=WeightSource(filename="", approx_bytes=sum(t.numel() * t.element_size() for t in module.state_dict().values()),
                             kind="memory", identity="module-" + weights_digest(module)),
        featured_layers=main, default_layer=default_layer(main), load=lambda _path: module,
    )
    REGISTERED[name] = spec  # a new spec: loaded copies and layer tables of the old one are not used again
    return spec
