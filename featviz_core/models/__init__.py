"""The networks featviz renders: their specs, weights, layers, and running them as far as a layer.

Modules: :mod:`.spec` (a model as data: preprocessing, native size, weight source), :mod:`.zoo` (each
architecture's builder beside its registry entry), :mod:`.weights` (downloads: timeout, SHA-256, atomic
rename) and :mod:`.fetch` (``fetch-weights`` and the app's download button), :mod:`.loading` (finding,
verifying and loading weights, once per process), :mod:`.layers` (the layers an objective can target and
their shapes, traced on the "meta" device), :mod:`.capture` (activations of some layers, the forward pass
stopped after the deepest; the one hooked-forward helper; the shapes the layer tables trace), :mod:`.fast`
(the same function with batch norm folded in, for rendering).

Any network: :mod:`.sources` (``torchvision:NAME``, ``timm:NAME``, ``file:PATH.pt2``, a name given to
``register_module``: specs made on demand; :func:`get_spec` for every name), :mod:`.torchvision_zoo`,
:mod:`.timm_zoo` and :mod:`.zoo_common` (those two sources), :mod:`.files` (``torch.export`` programs),
:mod:`.user` (modules given in code), :mod:`.structure` (featured layers read from a module tree),
:mod:`.activations` (channels-last and transformer-token outputs read as channels), :mod:`.checkpoint`
(reading a weight file without running code), :mod:`.memory` and :mod:`.budget` (will a model, a render,
fit: refused with one line when not).

Layer (checked by tests/test_layout.py): may import errors, config; torch at module level: yes.
"""

from featviz_core.models.capture import capture_layers, targetable_shapes
from featviz_core.models.checkpoint import load_state_dict_safely
from featviz_core.models.layers import LayerInfo, layer_table, targetable_layers
from featviz_core.models.loading import (
    ModelStatus, build_with_weights, default_model_name, is_loaded, load_model, local_weights, model_status,
    offline_help, random_model, resolve_weights, weights_identity, weights_label,
)
from featviz_core.models.sources import get_spec
from featviz_core.models.spec import ModelSpec, Preprocess, WeightSource
from featviz_core.models.structure import meta_copy
from featviz_core.models.zoo import REGISTRY

__all__ = [
    "LayerInfo", "ModelSpec", "ModelStatus", "Preprocess", "REGISTRY", "WeightSource", "build_with_weights",
    "capture_layers", "default_model_name", "get_spec", "is_loaded", "layer_table", "load_model",
    "load_state_dict_safely", "local_weights", "meta_copy", "model_status", "offline_help", "random_model",
    "resolve_weights", "targetable_layers", "targetable_shapes", "weights_identity", "weights_label",
]
