"""Streamlit helpers shared by the pages of the featviz app.

The pages stay short scripts; what several of them need lives here: the shared sidebar (model and device),
per-session render slots that follow a job of the process-wide render queue, the live progress panel,
the image grid, the objective chart, downloads and the URL query parameters.

Layer (checked by tests/test_layout.py): may import featviz_core and streamlit, never the pages. At module
level only the parts of featviz_core that import no torch (settings, links, errors); the rest inside
functions, when a page first needs it, so ``import app`` stays light.

Its modules are its public names (``__all__``).
"""

__all__ = [
    "address_bar", "dataset_examples", "decks", "examples", "figure_downloads", "finished_renders", "form",
    "gallery_tiles", "layout", "model_choice", "notebook_figures", "photo_start", "preload", "preparing", "present",
    "shell", "sidebar", "slides", "slots", "views", "weights",
]
