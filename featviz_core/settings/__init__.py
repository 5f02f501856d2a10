"""What a person can ask for: every render setting declared once, with its bounds, default, help and text form.

Modules: :mod:`.declarations` (each setting: name, type, bounds, default, help, CLI flag, URL name, widget),
:mod:`.transform_presets` (the transforms presets as data) and :mod:`.step_presets` (how many steps
``--quality seed|fast`` means).

The declarations' names are this package's public names (``from featviz_core.settings import SETTINGS``).
Nothing here imports torch: the app imports it at start.

Layer (checked by tests/test_layout.py): may import errors, objectives; torch at module level: no.
"""

from featviz_core.settings.declarations import (
    BY_NAME, MAX_SEED, MAX_TEXT, NOT_SET, SETTINGS, Setting, beyond_active, check_all, names, parse_all, setting,
)

__all__ = [
    "BY_NAME", "MAX_SEED", "MAX_TEXT", "NOT_SET", "SETTINGS", "Setting", "beyond_active", "check_all", "names",
    "parse_all", "setting",
]
