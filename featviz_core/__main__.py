"""``python -m featviz_core ...``: the command line (:mod:`featviz_core.cli`).

Layer (checked by tests/test_layout.py): may import cli; torch at module level: no.
"""

import sys

from featviz_core.cli.dispatch import main

sys.exit(main())
