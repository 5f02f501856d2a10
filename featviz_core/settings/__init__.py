"""What a person can ask for: every render setting declared once, and the text people type for them.

Modules: :mod:`.declarations` (each setting: name, type, bounds, default, help, CLI flag, URL name, widget)
and :mod:`.step_presets` (how many steps ``--quality seed|fast`` means).

The declarations' names are this package's public names (``from featviz_core.settings import SETTINGS``).
Nothing here imports torch: the app imports it at start.
"""

from featviz_core.settings.declarations import (
    BY_NAME, MAX_SEED, MAX_TEXT, NOT_SET, SETTINGS, Setting, beyond_active, check_all, names, parse_all, setting, shown,
)

__all__ = [
    "BY_NAME", "MAX_SEED", "MAX_TEXT", "NOT_SET", "SETTINGS", "Setting", "beyond_active", "check_all", "names",
    "parse_all", "setting", "shown",
]
