"""Drawing helpers: image grids, progress, objective curves and downloads."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import streamlit as st

from featviz_ui.slots import Slot, queue_ahead

DOWNLOADS_KEY = "featviz_downloads"


def duration(seconds: float | None) -> str:
    """12.3 -> "12 s", 95 -> "1 min 35 s"; unknown -> "?"."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s"


CHECKER_SQUARES = 8  # a transparent tile shows 8x8 grey-and-white squares behind it, whatever its size


def display_tiles(images: np.ndarray, side: int) -> list[np.ndarray]:
    """Images enlarged (pixel-exact, nearest neighbour) to at least ``side`` pixels for the screen; RGBA
    images (transparent renders) are shown over a checkerboard, so their transparency is visible.

    Args:
        images: (B, H, W, 3) or (B, H, W, 4) uint8.
    Returns:
        B arrays (H', W', 3) uint8.
    """
    from featviz_core.outputs.figures import on_checkerboard

    tiles = []
    for image in images:
        factor = max(1, side // image.shape[0])
        tile = image.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else image
        tiles.append(on_checkerboard(tile, square=max(1, tile.shape[0] // CHECKER_SQUARES)))
    return tiles


def image_grid(images: np.ndarray, labels: Sequence[str], *, side: int = 160) -> None:
    """The images in a wrapping row with their captions (``layer:channel``)."""
    st.image(display_tiles(images, side), caption=list(labels), width=side)


def arranged_grid(images: np.ndarray, labels: Sequence[str], request, *, side: int = 160) -> None:
    """The images laid out as :func:`featviz_core.outputs.arrange.arrange` says: a plain grid, positive-negative
    pairs side by side, diverse images grouped per objective, or interpolation frames in one row."""
    from featviz_core.outputs.arrange import arrange

    labels = list(labels)
    layout = arrange(request, labels)
    if layout.explanation:
        st.caption(layout.explanation)
    holder = st.container(horizontal=True, gap="large") if layout.side_by_side else st.container()
    for block in layout.blocks:
        box = holder.container(border=bool(block.title), width="content" if layout.side_by_side else "stretch")
        if block.title and not layout.side_by_side:
            box.markdown(f"**{block.title}**")
        for row in block.rows:
            if row.label:
                box.caption(row.label)
            picked = np.asarray(images)[list(row.indices)]
            box.image(display_tiles(picked, side), caption=[labels[i] for i in row.indices], width=side)


def progress_panel(slot: Slot, job, *, label: str = "") -> None:
    """Queue position, or a progress bar with step count and elapsed / remaining time."""
    import time

    from featviz_core.service import QUEUED

    prefix = f"{label}: " if label else ""
    if job.state == QUEUED:
        st.info(f"{prefix}Queued: {queue_ahead(job)} ahead of you. The render starts when a worker is free.",
                icon=":material/hourglass_top:")
        return
    snapshot = job.snapshot
    elapsed = time.monotonic() - job.started if job.started else 0.0
    if slot.stopping:
        text = f"{prefix}Stopping; the images so far are kept."
        fraction = snapshot.fraction if snapshot else 0.0
    elif snapshot is None:
        text = f"{prefix}Step 0 of {job.request.steps} · {duration(elapsed)} elapsed · starting"
        fraction = 0.0
    else:
        text = (f"{prefix}Step {snapshot.step} of {snapshot.steps} · {duration(elapsed)} elapsed · "
                f"about {duration(snapshot.remaining_s)} left")
        fraction = snapshot.fraction
    st.progress(min(1.0, max(0.0, fraction)), text=text)


def objective_chart(series: Sequence[tuple[str, np.ndarray]], *, height: int = 340):
    """A plotly figure with one line per (name, values-per-step) pair."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for name, values in series:
        figure.add_trace(go.Scatter(x=np.arange(1, len(values) + 1), y=np.asarray(values, dtype=float),
                                    mode="lines", name=name))
    figure.update_layout(
        height=height, margin=dict(l=10, r=10, t=30, b=10), template="plotly_white",
        xaxis_title="optimization step", yaxis_title="objective (mean activation)",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
    )
    return figure


def history_chart(result, *, height: int = 340):
    """Each channel's objective over the steps of a render."""
    history = np.asarray(result.history)
    return objective_chart([(label, history[:, i]) for i, label in enumerate(result.labels)], height=height)


def _result_files(result) -> tuple[bytes, bytes]:
    """(grid PNG, zip) of a result, built once per result and session."""
    from featviz_core.outputs.export import png_bytes, result_zip
    from featviz_core.outputs.figures import grid_image
    from featviz_core.words import describe_settings

    cache = st.session_state.setdefault(DOWNLOADS_KEY, {})
    key = (result.request.key(), result.steps_done, result.stopped)
    if key not in cache:
        if len(cache) > 8:
            cache.clear()
        grid = grid_image(result.images, result.labels, columns=5, note=describe_settings(result.request))
        cache[key] = (png_bytes(grid), result_zip(result))
    return cache[key]


def file_stem(result) -> str:
    from featviz_core.objectives.targets import format_channels
    from featviz_core.outputs.export import safe_filename

    request = result.request
    if request.expression:
        what = "expression"
    elif request.interpolate:
        what = "interpolation_" + request.interpolate.replace(",", "_to_")
    else:
        what = format_channels(request.channels) if request.channels else request.objective
    return safe_filename(f"featviz_{request.model}_{request.layer}_{what}_seed{request.seed}")


def downloads(result, *, key: str, grid_label: str = "Download grid (PNG)") -> None:
    """Download buttons: the labelled grid as PNG, and a zip with every PNG and render.json."""
    grid_png, archive = _result_files(result)
    stem = file_stem(result)
    row = st.container(horizontal=True)
    row.download_button(grid_label, grid_png, file_name=f"{stem}.png", mime="image/png",
                         key=f"{key}_png", on_click="ignore", icon=":material/image:")
    row.download_button("Download all (zip)", archive, file_name=f"{stem}.zip", mime="application/zip",
                          key=f"{key}_zip", on_click="ignore", icon=":material/folder_zip:")


def result_caption(result) -> str:
    from featviz_core.words import describe_settings

    return (f"{describe_settings(result.request)} · {result.steps_done} steps done in "
            f"{duration(result.elapsed_s)} on {result.device}")


def slot_messages(slot: Slot) -> None:
    """The slot's error (``st.error``) and notice (``st.info``)."""
    if slot.error:
        st.error(slot.error, icon=":material/error:")
    if slot.notice and slot.result is not None:
        st.info(slot.notice, icon=":material/info:")
