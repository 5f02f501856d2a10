"""Import, once and in one thread, the libraries pages import lazily (pandas, pyarrow, plotly, altair).

A fresh server can run several scripts at once (a tab's page, another tab, a fragment), and some libraries
look a module up in ``sys.modules`` without importing it: plotly (through narwhals) asks whether pandas is
loaded and, finding it half-imported by another thread, fails with "partially initialized module 'pandas'
has no attribute 'Series'". ``app.py`` calls :func:`import_page_libraries` before the sidebar or any page
runs; a second script arriving meanwhile waits on the lock, so no page code sees a half-imported library.
"""

from __future__ import annotations

import importlib
import threading

# Every library a page pulls in lazily through Streamlit: st.dataframe (pandas, pyarrow), st.plotly_chart
# (plotly's figure classes, plotly.io, plotly.tools, narwhals), st.bar_chart (altair), and plotly.express
# for the charts pages may build.
PAGE_LIBRARIES = ("pandas", "pyarrow", "narwhals.stable.v1", "plotly.graph_objects", "plotly.io", "plotly.tools",
                  "plotly.express", "altair")

_lock = threading.Lock()
_done = False


def import_page_libraries() -> None:
    """Import :data:`PAGE_LIBRARIES` once per process; later calls return at once."""
    global _done
    if _done:
        return
    with _lock:
        if not _done:
            for name in PAGE_LIBRARIES:
                importlib.import_module(name)
            _done = True
