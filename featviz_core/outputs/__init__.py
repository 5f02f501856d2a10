"""What a finished render becomes: its layout on screen (:mod:`.arrange`), figures (:mod:`.figures`: the
labelled grid, the detailed view, the summary figure) and files (:mod:`.export`: PNGs, zip, render.json).
Pure functions of arrays and requests; what a request is in words comes from :mod:`featviz_core.words`.
"""
