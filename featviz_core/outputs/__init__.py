"""What a finished render becomes: its layout on screen (:mod:`.arrange`), figures (:mod:`.figures`: the
labelled grid, the detailed view, the summary figure) and files (:mod:`.export`: PNGs, zip, render.json).
Pure functions of arrays and requests; what a request is in words comes from :mod:`featviz_core.words`.

Its modules are its public names (``__all__``): import them by name.

Layer (checked by tests/test_layout.py): may import words; torch at module level: no.
"""

__all__ = ["arrange", "export", "figures"]
