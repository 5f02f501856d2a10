"""``file:PATH``: a network saved to a file. A ``torch.export`` program (``.pt2``) is loaded and unflattened
into named submodules (``torch.export.unflatten``), so its layers carry the names of the exported model and
forward hooks reach them. Other files are refused with one line that says what they are and what to do:
TorchScript (scripted modules take no Python forward hooks, so a render cannot stop at a layer), a state dict
(it needs an architecture: ``torchvision:NAME?weights=PATH``), a pickled whole model (featviz runs no
pickled code), or anything else.
"""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path

import torch

from featviz_core.errors import RequestError

EXPORT_HOWTO = ("export it: torch.export.save(torch.export.export(model.eval(), (torch.zeros(2, 3, 224, 224),), "
                "dynamic_shapes=({0: torch.export.Dim('batch')},)), 'model.pt2')")


def _numbers(options: dict[str, str], key: str, default: tuple[float, ...], name: str) -> tuple[float, ...]:
    if key not in options:
        return default
    try:
        values = tuple(float(v) for v in options[key].split(","))
    except ValueError:
        values = ()
    if len(values) != len(default):
        raise RequestError(f"model {name}: {key} must be {len(default)} comma-separated number(s), got "
                           f"{options[key]!r}")
    return values


def _kind_of(path: Path) -> str:
    """What a file that is not a loadable export is: "torchscript", "state dict", "pickled model" or "unknown"."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        entries = []
    if any(e.endswith("/constants.pkl") for e in entries) and any("/code/" in e for e in entries):
        return "torchscript"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any refusal means "not a plain checkpoint"
        return "pickled model" if "Unsupported global" in str(exc) or "GLOBAL" in str(exc) else "unknown"
    return "state dict" if isinstance(state, dict) else "unknown"


def _is_export_archive(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(e.endswith("/archive_format") for e in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_export(path: Path) -> torch.nn.Module:
    """The unflattened module of the ``torch.export`` program in ``path``.

    Raises:
        RequestError: the file is not an export (one line: what it is, what to do instead).
    """
    try:
        if not _is_export_archive(path):  # torch.export.load would log a traceback before refusing it
            raise ValueError("not a torch.export archive")
        program = torch.export.load(str(path))
    except Exception:  # noqa: BLE001 - classified below
        kind = _kind_of(path)
        if kind == "torchscript":
            raise RequestError(f"{path} is TorchScript, which featviz cannot cut at a layer (scripted modules take no "
                               f"Python forward hooks); {EXPORT_HOWTO}") from None
        if kind == "state dict":
            raise RequestError(f"{path} holds a state dict, which needs an architecture: use "
                               f"torchvision:NAME?weights={path} (or timm:NAME?weights=...)") from None
        if kind == "pickled model":
            raise RequestError(f"{path} is a pickled whole model, which featviz does not load (unpickling runs code); "
                               f"{EXPORT_HOWTO}") from None
        raise RequestError(f"{path} is neither a torch.export program (.pt2) nor TorchScript nor a state dict; "
                           f"{EXPORT_HOWTO}") from None
    module = torch.export.unflatten(program)
    return module.eval().requires_grad_(False)


def _input_shape(module: torch.nn.Module) -> tuple:
    """The exported input's shape, as the program recorded it (ints, or symbols for dynamic dimensions)."""
    for node in module.graph.nodes:
        if node.op == "placeholder" and "val" in node.meta:
            return tuple(node.meta["val"].shape)
    return ()


@functools.lru_cache(maxsize=8)
def _loaded(path: str, stamp: tuple) -> torch.nn.Module:
    return load_export(Path(path))


def spec(arch: str, options: dict[str, str], name: str):
    from featviz_core.models.capture import targetable_shapes
    from featviz_core.models.spec import ModelSpec, Preprocess, WeightSource
    from featviz_core.models.structure import default_layer, featured_layers, meta_copy
    from featviz_core.models.weights import file_stamp

    path = Path(arch).expanduser()
    if not path.is_file():
        raise RequestError(f"model {name}: {arch} is not a file; file: takes the path of a torch.export program "
                           "(.pt2)")
    if "weights" in options:
        raise RequestError(f"model {name}: a .pt2 file holds its own weights; weights= applies to torchvision: and "
                           "timm: models")
    module = _loaded(str(path.resolve()), file_stamp(path))
    shape = _input_shape(module)
    if len(shape) == 4 and isinstance(shape[0], int):
        raise RequestError(f"{path} was exported for a fixed batch of {shape[0]}; featviz renders batches: "
                           f"{EXPORT_HOWTO}")
    exported_side = shape[-1] if len(shape) == 4 and isinstance(shape[-1], int) else 224
    side = int(_numbers(options, "size", (float(exported_side),), name)[0])
    preprocess = Preprocess(_numbers(options, "scale", (1.0,), name)[0], _numbers(options, "mean", (0.0,) * 3, name),
                            _numbers(options, "std", (1.0,) * 3, name))
    try:
        shapes = targetable_shapes(meta_copy(module), torch.zeros(1, 3, side, side, device="meta"))
    except Exception:  # noqa: BLE001 - one real forward pass of one image instead
        try:
            shapes = targetable_shapes(module, torch.zeros(2, 3, side, side))
        except Exception as exc:  # noqa: BLE001
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
            raise RequestError(f"{path} does not run on a {side} px image ({first}); give its input side as "
                               "?size=N") from None
    if not shapes:
        raise RequestError(f"{path}: no submodule outputs activations an objective can read")
    featured = featured_layers(module, list(shapes))
    return ModelSpec(
        name=name, title=f"{path.name} (torch.export)", description=f"A torch.export program from {path}.",
        build=None, preprocess=preprocess, native_size=side,
        weights=WeightSource(filename=path.name, approx_bytes=path.stat().st_size, path=str(path)),
        featured_layers=featured, default_layer=default_layer(featured),
        load=lambda p: _loaded(str(Path(p).resolve()), file_stamp(Path(p))),
    )
