"""Streamlit helpers shared by the pages of the featviz app.

The pages stay short scripts; what several of them need lives here: the shared sidebar (model and device),
per-session render slots that follow a job of the process-wide render queue, the live progress panel,
the image grid, the objective chart, downloads and the URL query parameters.

featviz_core is imported inside functions, never at module import, so ``import app`` stays light.
"""
