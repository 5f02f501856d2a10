"""Downloading a model's missing weights from inside the app: an offer with the file's size, a progress bar,
the same verification as ``python -m featviz_core fetch-weights``, and a message naming the file and where
to put it when the download fails.

A download runs in a thread of its own, one per model and process, so reruns, page changes and other tabs
neither interrupt nor repeat it; every tab that shows the model follows the same progress.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import streamlit as st

from featviz_ui import model_choice

POLL_S = 0.5


@dataclass
class Download:
    """One model's download: bytes so far, the total when the server says it, and how it ended."""

    model: str
    received: int = 0
    total: int | None = None
    finished: bool = False
    error: str = ""
    path: str = ""
    started: float = field(default_factory=time.monotonic)

    @property
    def fraction(self) -> float:
        return min(1.0, self.received / self.total) if self.total else 0.0


_downloads: dict[str, Download] = {}
_lock = threading.Lock()


def current(model: str) -> Download | None:
    """The model's latest download in this process (running or ended), or None."""
    with _lock:
        return _downloads.get(model)


def start(model: str) -> Download:
    """Start downloading ``model``'s weights in the background (or return the download already running)."""
    with _lock:
        running = _downloads.get(model)
        if running is not None and not running.finished:
            return running
        download = _downloads[model] = Download(model)
    threading.Thread(target=_fetch, args=(download,), name=f"featviz-weights-{model}", daemon=True).start()
    return download


def _fetch(download: Download) -> None:
    from featviz_core.errors import FeatvizError
    from featviz_core.models.fetch import fetch_weights

    def progress(received: int, total: int | None) -> None:
        download.received, download.total = received, total

    try:
        download.path = str(fetch_weights(download.model, progress=progress).path)
        model_choice.weights_arrived()
    except FeatvizError as exc:
        download.error = str(exc)
    except Exception as exc:  # the thread must always end with an answer the page can show
        download.error = f"The download failed unexpectedly ({type(exc).__name__}: {exc})."
    finally:
        download.finished = True


def megabytes(count: int) -> str:
    return f"{count / 1e6:.0f} MB" if count >= 1e6 else f"{count / 1e3:.0f} kB"


def offer(model: str, meanwhile: str | None = None) -> bool:
    """Offer ``model``'s weights for download (in the sidebar, under the model picker, or wherever the caller
    draws), follow a running download, or explain a failed one. ``meanwhile``: what the app does until
    they are here (default: it uses the fallback model). Returns False when the weights cannot be
    downloaded from here (they come from a package or from a path in the environment), so the caller shows
    its own message."""
    from featviz_core.models import get_spec
    from featviz_core.models.fetch import download_offer

    found = download_offer(model)
    if found is None:
        return False
    filename, size = found
    spec = get_spec(model)
    download = current(model)
    if download is not None and not download.finished:
        _progress(model)
        return True
    meanwhile = meanwhile or f"Until then featviz uses **{model_choice.fallback_model()}**."
    if download is not None and download.error:
        st.error(f"{download.error} {meanwhile}", icon=":material/cloud_off:")
    else:
        st.warning(f"**{spec.title}**: its weights are not available on this machine yet. Download "
                   f"`{filename}` (about {megabytes(size)}) here, or put it at `{spec.weights.cache_path()}`. "
                   + meanwhile, icon=":material/download:")
    st.button(f"Download {filename} ({megabytes(size)})", key=f"weights_download_{model}", on_click=start,
              args=(model,), icon=":material/download:", type="primary",
              help="Downloads into featviz's cache folder and checks the file's SHA-256, as "
                   "`python -m featviz_core fetch-weights` does.")
    return True


@st.fragment(run_every=POLL_S)
def _progress(model: str) -> None:
    """The running download's progress bar; the whole app reruns once it has ended."""
    download = current(model)
    if download is None or download.finished:
        st.rerun(scope="app")  # the model is usable now, or the sidebar explains the failure
    size = f"{megabytes(download.received)} of {megabytes(download.total)}" if download.total else \
        megabytes(download.received)
    st.progress(download.fraction, text=f"Downloading the weights: {size}")
