"""Figures made from rendered images, as in the seed notebook: the labelled grid (optionally titled, with
the method written under it), the detailed view (the first channels enlarged with Lanczos resampling),
and the summary figure. Pure functions: arrays and requests in, PIL images out.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

DETAIL_COUNT = 4  # the seed's detailed view shows the first four channels
DETAIL_SIDE = 512  # smallest width of each enlarged image, in pixels
INK, GREY = (0, 0, 0), (90, 90, 90)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _line_height(font: ImageFont.ImageFont) -> int:
    return int(getattr(font, "size", 12)) + 6


def _wrap(text: str, font: ImageFont.ImageFont, width: int) -> list[str]:
    """``text`` (its own lines kept) broken at spaces into lines at most ``width`` pixels wide."""
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and measure.textlength(candidate, font=font) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def lanczos(image: np.ndarray, side: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (side, side, 3) uint8, resampled with PIL's Lanczos filter."""
    return np.asarray(Image.fromarray(image).resize((side, side), Image.LANCZOS))


def grid_image(
    images: np.ndarray,
    labels: Sequence[str],
    *,
    columns: int = 5,
    title: str | None = None,
    note: str | None = None,
    tile: int | None = None,
    gap: int = 8,
) -> Image.Image:
    """A labelled grid like the seed notebook's 2x5 figure.

    Args:
        images: (B, H, W, 3) uint8.
        labels: one caption per image (``mixed4a:3``).
        columns: images per row (5, as in the Distill-style figure).
        title: optional heading above the grid.
        note: optional text below the grid (e.g. the method and settings); its lines are kept and long
            lines wrap to the grid's width.
        tile: side each image is resized to with Lanczos (default: the images' own size).
    """
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (B, H, W, 3), got {images.shape}")
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    count = len(images)
    columns = max(1, min(columns, count))
    rows = (count + columns - 1) // columns
    side = tile or images.shape[1]
    width = columns * side + (columns + 1) * gap
    label_font = _font(max(11, side // 10))
    label_h = _line_height(label_font) + 2
    title_font = _font(max(14, side // 7))
    title_lines = _wrap(title, title_font, width - 2 * gap) if title else []
    title_h = len(title_lines) * _line_height(title_font) + 10 if title else 0
    note_font = _font(max(10, side // 12))
    note_lines = _wrap(note, note_font, width - 2 * gap) if note else []
    note_h = len(note_lines) * _line_height(note_font) + 6 if note else 0
    height = title_h + rows * (side + label_h) + (rows + 1) * gap + note_h
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(title_lines):
        draw.text((width / 2, gap + (i + 0.5) * _line_height(title_font)), line, fill=INK, font=title_font,
                  anchor="mm")
    for i, (array, label) in enumerate(zip(images, labels)):
        row, col = divmod(i, columns)
        x = gap + col * (side + gap)
        y = title_h + gap + row * (side + label_h + gap)
        tile_img = Image.fromarray(array)
        if tile_img.size != (side, side):
            tile_img = tile_img.resize((side, side), Image.LANCZOS)
        canvas.paste(tile_img, (x, y))
        draw.text((x + side / 2, y + side + label_h / 2), label, fill=INK, font=label_font, anchor="mm")
    top = height - note_h
    for i, line in enumerate(note_lines):
        draw.text((gap, top + i * _line_height(note_font)), line, fill=GREY, font=note_font, anchor="la")
    return canvas


def detail_image(images: np.ndarray, labels: Sequence[str], *, count: int = DETAIL_COUNT,
                 side: int = DETAIL_SIDE, gap: int = 16) -> Image.Image:
    """The detailed view: the first ``count`` images (or fewer) in one row, each enlarged with Lanczos
    resampling to ``max(side, its own size)`` pixels and labelled under it.

    Args:
        images: (B, H, W, 3) uint8.
        labels: one caption per image.
    """
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
        raise ValueError(f"images must be (B, H, W, 3) with B >= 1, got {images.shape}")
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    shown = min(count, len(images))
    tile = max(side, images.shape[1])
    enlarged = np.stack([lanczos(image, tile) for image in images[:shown]])
    return grid_image(enlarged, list(labels[:shown]), columns=shown, gap=gap)


def _transform_text(name: str) -> str:
    from featviz_core.transforms import PRESETS

    preset = PRESETS.get(name)
    if preset is None or preset.is_identity:
        return "no random transforms"
    parts = []
    if preset.pad:
        parts.append(f"pad {preset.pad} px")
    if preset.jitter > 1:
        parts.append(f"jitter {preset.jitter} px")
    if set(preset.scales) != {1.0}:
        parts.append(f"scale {min(preset.scales):g}-{max(preset.scales):g}")
    if set(preset.angles) != {0.0}:
        parts.append(f"rotate {min(preset.angles):g} to {max(preset.angles):g} degrees")
    if preset.jitter_after > 1:
        parts.append(f"jitter {preset.jitter_after} px")
    return f"{name} transforms ({', '.join(parts)})"


def method_note(request: Any, *, steps_done: int | None = None) -> str:
    """The method's settings as a few lines of text, for under a figure."""
    from featviz_core.models import get_spec

    spec = get_spec(request.model)
    what = {"channel": "mean activation of each channel", "neuron": "activation of each channel's centre neuron",
            "layer": "activation of the whole layer"}.get(request.objective, "custom objective")
    if request.expression:
        what = f"objective {request.expression}"
    sign = "minimized" if request.negate else "maximized"
    done = "" if steps_done in (None, request.steps) else f" (stopped after {steps_done})"
    image = f"{request.size} px image, {'Fourier' if request.fft else 'pixel'} parameterization"
    image += ", decorrelated color" if request.decorrelate else ""
    if request.upsample and request.size < spec.native_size:
        image += f", upsampled to {spec.native_size} px for the model"
    penalties = []
    if request.tv:
        penalties.append(f"TV weight {request.tv:g}")
    if request.l2:
        penalties.append(f"L2 weight {request.l2:g}")
    lines = [
        f"Model: {spec.title}, layer {request.layer}. Objective: {what}, {sign} with Adam "
        f"(lr {request.lr:g}) for {request.steps} steps{done}.",
        f"Image: {image}; {_transform_text(request.transforms)}"
        + (f"; penalties: {', '.join(penalties)}" if penalties else "") + f". Seed {request.seed}.",
    ]
    return "\n".join(lines)


def summary_figure(images: np.ndarray, labels: Sequence[str], request: Any, *, title: str,
                   steps_done: int | None = None, columns: int = 5) -> Image.Image:
    """The seed's summary figure: the titled grid with the method's settings written under it."""
    return grid_image(images, labels, columns=columns, title=title,
                      note=method_note(request, steps_done=steps_done))


def default_title(request: Any) -> str:
    """A figure title naming the model and the layer: "Feature visualization: InceptionV1 mixed4a"."""
    from featviz_core.models import get_spec

    return f"Feature visualization: {get_spec(request.model).title.split(' (')[0]} {request.layer}"
