"""The command line: ``python -m featviz_core layers|models|fetch-weights|render|warm|atlas|examples ...``.

Modules: :mod:`.dispatch` (the parser, the small commands and ``main``), one module per larger command
(:mod:`.render`, :mod:`.warm`: prepare a lecture's renders, :mod:`.atlas`: build, pack and fetch atlases,
:mod:`.examples`: find the dataset images that excite each channel), :mod:`.options` (the options derived
from the settings' declarations) and :mod:`.progress` (progress bars).

Layer (checked by tests/test_layout.py): may import errors, device, settings, models, method, photos, render,
request, links, outputs, service, atlas, examples; torch at module level: no.
"""

from featviz_core.cli.dispatch import main

__all__ = ["main"]
