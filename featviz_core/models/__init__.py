"""The networks featviz renders: their specs, weights, layers, and running them as far as a layer.

Modules: :mod:`.spec` (a model as data: preprocessing, native size, weight source), :mod:`.zoo` (each
architecture's builder beside its registry entry), :mod:`.weights` (downloads: timeout, SHA-256, atomic
rename) and :mod:`.fetch` (``fetch-weights`` and the app's download button), :mod:`.loading` (finding,
verifying and loading weights, once per process), :mod:`.layers` (the layers an objective can target and
their shapes, traced on the "meta" device), :mod:`.capture` (activations of some layers, the forward pass
stopped after the deepest; the one hooked-forward helper), :mod:`.fast` (the same function with batch norm
folded in, for rendering).

Layer (checked by tests/test_layout.py): may import errors, config; torch at module level: yes.
"""

from featviz_core.models.capture import capture_layers
from featviz_core.models.layers import LayerInfo, layer_table, targetable_layers, targetable_shapes
from featviz_core.models.loading import (
    ModelStatus, build_with_weights, default_model_name, is_loaded, load_model, load_state_dict_safely,
    local_weights, model_status, offline_help, random_model, resolve_weights, weights_identity,
)
from featviz_core.models.spec import ModelSpec, Preprocess, WeightSource
from featviz_core.models.zoo import REGISTRY, get_spec

__all__ = [
    "LayerInfo", "ModelSpec", "ModelStatus", "Preprocess", "REGISTRY", "WeightSource", "build_with_weights",
    "capture_layers", "default_model_name", "get_spec", "is_loaded", "layer_table", "load_model",
    "load_state_dict_safely", "local_weights", "model_status", "offline_help", "random_model", "resolve_weights",
    "targetable_layers", "targetable_shapes", "weights_identity",
]
