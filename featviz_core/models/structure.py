"""Featured layers of any network, read from its module tree: its stages and blocks, as a person would pick.

A hand-registered model lists its main layers in its spec. For any other network they are read from the
structure of the module tree and the trace of which modules run (never from class names):

* a **block** is a module with children of its own reached from the network only through containers
  (``Sequential``, ``ModuleList``, ``ModuleDict``) or wrappers (a module holding a container of at least
  four blocks of one type, as a ViT's ``encoder``): ResNet's ``layer3.2``, a ViT's
  ``encoder.layers.encoder_layer_5``, GoogLeNet's ``inception4a``, ConvNeXt's ``features.3`` and
  ``features.3.1``; the parts inside a block (GoogLeNet's branches) are not featured;
* in a plain chain of single modules near the top (VGG's and AlexNet's ``features``, ResNet's stem) the
  output of each parameter-free module that directly follows a learned one: the activation after a
  convolution (``features.1``, ``relu``).

Only modules that are targetable (they run once and output activations) count. When the rules find nothing,
every targetable module at the top two levels is featured; failing that, every targetable module.

:func:`meta_copy` gives a ready module's structure without its weights, for tracing.
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch

_CONTAINERS = (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict)


def _has_children(module: torch.nn.Module) -> bool:
    return next(module.children(), None) is not None


def _has_parameters(module: torch.nn.Module) -> bool:
    return next(module.parameters(recurse=False), None) is not None


def _is_wrapper(module: torch.nn.Module) -> bool:
    """A module that holds a container of at least four blocks of one type (a transformer's encoder)."""
    for child in module.children():
        if isinstance(child, _CONTAINERS):
            types = [type(m) for m in child.children() if _has_children(m)]
            if types and max(types.count(t) for t in set(types)) >= 4:
                return True
    return False


def _reachable(name: str, modules: dict[str, torch.nn.Module]) -> bool:
    """Whether every module between the network and ``name`` is a container or a wrapper."""
    parts = name.split(".")
    for depth in range(1, len(parts)):
        ancestor = modules[".".join(parts[:depth])]
        if not (isinstance(ancestor, _CONTAINERS) or _is_wrapper(ancestor)):
            return False
    return True


def featured_layers(model: torch.nn.Module, targetable: Sequence[str]) -> tuple[str, ...]:
    """The main layers of ``model`` among ``targetable`` (in their order): see the module docstring."""
    modules = dict(model.named_modules())
    order = {name: i for i, name in enumerate(targetable)}
    featured: list[str] = []
    for name in targetable:
        parent_name = name.rpartition(".")[0]
        parent = modules.get(parent_name)
        module = modules[name]
        if parent is None or not _reachable(name, modules):
            continue
        if _has_children(module):
            featured.append(name)
        elif not _has_children(module) and not _has_parameters(module) and name.count(".") <= 1:
            # The sibling that ran just before it (in the trace) was a learned leaf: an activation after it.
            siblings = [n for n, _ in parent.named_children()]
            full = [f"{parent_name}.{n}" if parent_name else n for n in siblings]
            ran_before = [n for n in full if n in order and order[n] < order[name]]
            if ran_before:
                before = modules[max(ran_before, key=order.__getitem__)]
                if not _has_children(before) and _has_parameters(before):
                    featured.append(name)
    if not featured:
        featured = [name for name in targetable if name.count(".") <= 1]
    return tuple(featured) or tuple(targetable)


def default_layer(featured: Sequence[str]) -> str:
    """A mid-to-late main layer (about two thirds in), where features are parts and patterns: the layer a
    first render of an unknown network shows."""
    return featured[min(len(featured) - 1, (2 * len(featured)) // 3)]


def meta_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` whose parameters and buffers are on the meta device (no memory, no arithmetic):
    for tracing shapes of a module that only exists loaded. The model is not touched."""
    memo: dict[int, object] = {}
    for parameter in model.parameters():
        memo[id(parameter)] = torch.nn.Parameter(torch.empty_like(parameter, device="meta"), requires_grad=False)
    for buffer in model.buffers():
        memo[id(buffer)] = torch.empty_like(buffer, device="meta")
    return copy.deepcopy(model, memo).eval()
