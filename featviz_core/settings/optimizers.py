"""Which optimizer and learning rate a render runs (the ``optimizer`` and ``lr`` settings, and MACO's own).

Here rather than in :mod:`featviz_core.method.maco` so that the words describing a render can name them.
"""

from __future__ import annotations

MACO_OPTIMIZER = "nadam"  # Fel et al. 2023's reference code: NAdam at learning rate 1.0
MACO_LR = 1.0


def optimizer_choice(request) -> tuple[str, float]:
    """The optimizer (``adam`` or ``nadam``) and learning rate a render runs: the request's own, except that
    ``optimizer="auto"`` means Adam for Lucid's parameterization and, for MACO, NAdam at :data:`MACO_LR` when
    the learning rate is left at its default (a learning rate given otherwise is kept)."""
    from featviz_core.settings.declarations import setting

    if request.optimizer != "auto":
        return request.optimizer, request.lr
    if request.param != "maco":
        return "adam", request.lr
    return MACO_OPTIMIZER, MACO_LR if request.lr == setting("lr").default else request.lr
