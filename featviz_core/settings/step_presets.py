"""Quality presets: how many optimization steps a render takes.

``seed`` is the seed notebook's 512 steps (Lucent's ``render_vis`` default). ``fast`` is, per model, the
fewest steps at which featviz's final images reach torch-lucent's 512-step quality, measured as
``bench/fast_preset.py`` does: Lucent's ``render_vis`` (its defaults, 512 steps) and featviz (its defaults) render the
same channels of the model's default layer at 128 px; at checkpoints featviz's 8-bit images are scored with
:func:`featviz_core.render.neutral_score.neutral_score` (a score that favours neither transform set), and the first checkpoint
whose mean score is at least Lucent's is recorded here (see each entry's comment for where it came from). Where and when each count was measured is in
BENCHMARKS.md. A model with no measurement has no fast preset.
"""

from __future__ import annotations

from featviz_core.errors import RequestError
from featviz_core.settings.declarations import setting

SEED_STEPS: int = setting("steps").default  # the request's default: Lucent's render_vis
QUALITY_PRESETS: tuple[str, ...] = ("seed", "fast")

#: model -> steps where featviz's neutral score first reaches Lucent's at 512 steps (see module docstring).
FAST_STEPS: dict[str, int] = {
    # The fast preset's own optimizer (NAdam at 0.1, the tail schedule; PRESET_OPTIMIZER), measured on a quiet
    # Intel Xeon, 2 cores (AVX-512, AMX), 2026-12-07, channels 0-9 of _blocks.10 at 128 px, bench/speed_round3.py
    # --fast-steps 144,160 (each a whole render, scored at its end): Lucent's 512-step neutral score 27.322;
    # featviz 27.416 at 144 steps, 27.778 at 160. A 128-step render with the same schedule ended at 26.83.
    # Before it, with Adam at 0.05 (constant), three measurements (the preset took the largest count):
    # - Intel Xeon, 2 cores (AVX-512, AMX), quiet, 2026-12-06, channels 0-9 of _blocks.10, bench/speed_round3.py
    #   (checkpoints every 16 steps): Lucent's 512-step neutral score 27.32; featviz first at or above it at
    #   step 288 on float32 (contiguous and channels-last), 272 in bfloat16.
    # - AMD EPYC, 2 cores, idle, channels 0-3 (bench/fast_preset.py, every 8 steps): Lucent 29.19; featviz
    #   28.86 at 256 (0.99x).
    # - Intel Xeon, 2 cores, channels 0-9 (an earlier reference run, every 32 steps): about 96.
    "efficientnet-lite0": 144,
    # inceptionv1: not measured (its pretrained weights are not available here; random weights say nothing
    # about image quality), so it has no fast preset.
}


#: The compute settings each preset sets with its steps. The seed's are the request's defaults (float32,
#: contiguous: the pixels every earlier release made); fast lets featviz pick this machine's fastest path,
#: each measured within 1% of float32's neutral score (featviz_core.render.compute_path, BENCHMARKS.md).
PRESET_COMPUTE: dict[str, dict[str, str]] = {
    "seed": {"precision": "float32", "memory_format": "contiguous"},
    "fast": {"precision": "auto", "memory_format": "auto"},
}

#: The optimizer each preset sets for the Fourier parameterization (MACO keeps its own, auto): the seed's is
#: Lucent's Adam at 0.05; fast's is NAdam at 0.1 with the rate lowered over the last 30% of the steps
#: (featviz_core.method.schedule), which reached Lucent's 512-step score in about half the steps of Adam
#: (BENCHMARKS.md).
PRESET_OPTIMIZER: dict[str, dict[str, str | float]] = {
    "seed": {"optimizer": "auto", "lr": 0.05, "lr_schedule": "constant"},
    "fast": {"optimizer": "nadam", "lr": 0.1, "lr_schedule": "tail"},
}


def preset_settings(quality: str, model: str, param: str = "fourier") -> dict[str, int | str | float]:
    """Every setting preset ``quality`` sets for ``model``: its steps, its compute path and, for the Fourier
    parameterization (``param``), its optimizer.

    Raises:
        RequestError: as :func:`preset_steps`.
    """
    return {"steps": preset_steps(quality, model), **preset_method(quality, param)}


def preset_method(quality: str, param: str = "fourier") -> dict[str, str | float]:
    """What preset ``quality`` sets beside its steps: its compute path and, for the Fourier parameterization,
    its optimizer."""
    return {**PRESET_COMPUTE[quality], **(PRESET_OPTIMIZER[quality] if param == "fourier" else {})}


def preset_steps(quality: str, model: str) -> int:
    """Steps of quality preset ``quality`` ("seed" or "fast") for ``model`` (a registry name).

    Raises:
        RequestError: unknown preset, or no fast step count measured for this model.
    """
    if quality == "seed":
        return SEED_STEPS
    if quality != "fast":
        raise RequestError(f"unknown quality preset {quality!r}; choose one of: {', '.join(QUALITY_PRESETS)}")
    if model not in FAST_STEPS:
        measured = ", ".join(FAST_STEPS) or "none"
        raise RequestError(f"no fast step count has been measured for {model}; set the steps yourself "
                           f"(measured: {measured})")
    return FAST_STEPS[model]
