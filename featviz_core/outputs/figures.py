"""Figures made from rendered images, as in the seed notebook: the labelled grid (optionally titled, with
the method written under it), the detailed view (the first channels enlarged with Lanczos resampling),
and the summary figure. Pure functions: arrays and requests in, PIL images out.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from featviz_core.words import method_note

DETAIL_COUNT = 4  # the seed's detailed view shows the first four channels
DETAIL_SIDE = 512  # smallest width of each enlarged image, in pixels
INK, GREY = (0, 0, 0), (90, 90, 90)
CHECKER_LIGHT, CHECKER_DARK = 255, 204  # the usual grey-and-white squares behind transparent images


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
    """(H, W, C) uint8 -> (side, side, C) uint8 (C = 3, or 4 with alpha), resampled with PIL's Lanczos filter
    (PIL resamples RGBA premultiplied, so transparent pixels' colours do not bleed into their neighbours)."""
    return np.asarray(Image.fromarray(image).resize((side, side), Image.LANCZOS))


def _check_images(images: np.ndarray) -> None:
    if images.ndim != 4 or images.shape[-1] not in (3, 4):
        raise ValueError(f"images must be (B, H, W, 3) or (B, H, W, 4) with alpha, got {images.shape}")


def on_checkerboard(image: np.ndarray, square: int = 8) -> np.ndarray:
    """An RGBA image composited over grey-and-white squares of ``square`` pixels, so its transparency shows.

    Args:
        image: (H, W, 4) uint8 (an (H, W, 3) image has no transparency and is returned as it is).
    Returns:
        (H, W, 3) uint8.
    """
    if image.shape[-1] != 4:
        return image
    height, width = image.shape[:2]
    rows = (np.arange(height) // square)[:, None]
    cols = (np.arange(width) // square)[None, :]
    board = np.where((rows + cols) % 2 == 0, CHECKER_LIGHT, CHECKER_DARK).astype(np.float32)[..., None]
    alpha = image[..., 3:4].astype(np.float32) / 255.0
    mixed = image[..., :3].astype(np.float32) * alpha + board * (1.0 - alpha)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


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

    Transparent images (RGBA) give an RGBA grid: each tile keeps its alpha, the margins and captions are
    opaque white and black, so the downloaded figure shows the page (or any background) through the images
    as their own PNGs do.

    Args:
        images: (B, H, W, 3) uint8, or (B, H, W, 4) with alpha.
        labels: one caption per image (``mixed4a:3``).
        columns: images per row (5, as in the Distill-style figure).
        title: optional heading above the grid.
        note: optional text below the grid (e.g. the method and settings); its lines are kept and long
            lines wrap to the grid's width.
        tile: side each image is resized to with Lanczos (default: the images' own size).
    """
    _check_images(images)
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
    mode = "RGBA" if images.shape[-1] == 4 else "RGB"
    canvas = Image.new(mode, (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(title_lines):
        draw.text((width / 2, gap + (i + 0.5) * _line_height(title_font)), line, fill=INK, font=title_font,
                  anchor="mm")
    _paste_tiles(canvas, draw, images, labels, columns=columns, side=side, gap=gap, top=title_h, label_h=label_h,
                 label_font=label_font)
    top = height - note_h
    for i, line in enumerate(note_lines):
        draw.text((gap, top + i * _line_height(note_font)), line, fill=GREY, font=note_font, anchor="la")
    return canvas


def _paste_tiles(canvas: Image.Image, draw: ImageDraw.ImageDraw, images: np.ndarray, labels: Sequence[str], *,
                 columns: int, side: int, gap: int, top: int, label_h: int, label_font: ImageFont.ImageFont) -> None:
    """Each image resized to ``side`` (Lanczos) in its grid cell below ``top``, its caption centred under it."""
    for i, (array, label) in enumerate(zip(images, labels)):
        row, col = divmod(i, columns)
        x = gap + col * (side + gap)
        y = top + gap + row * (side + label_h + gap)
        tile_img = Image.fromarray(array)
        if tile_img.size != (side, side):
            tile_img = tile_img.resize((side, side), Image.LANCZOS)
        canvas.paste(tile_img, (x, y))
        draw.text((x + side / 2, y + side + label_h / 2), label, fill=INK, font=label_font, anchor="mm")


def detail_image(images: np.ndarray, labels: Sequence[str], *, count: int = DETAIL_COUNT,
                 side: int = DETAIL_SIDE, gap: int = 16) -> Image.Image:
    """The detailed view: the first ``count`` images (or fewer) in one row, each enlarged with Lanczos
    resampling to ``max(side, its own size)`` pixels and labelled under it (RGBA images give an RGBA
    figure, as :func:`grid_image`).

    Args:
        images: (B, H, W, 3) uint8, or (B, H, W, 4) with alpha.
        labels: one caption per image.
    """
    _check_images(images)
    if len(images) == 0:
        raise ValueError(f"images must be (B, H, W, 3) with B >= 1, got {images.shape}")
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    shown = min(count, len(images))
    tile = max(side, images.shape[1])
    enlarged = np.stack([lanczos(image, tile) for image in images[:shown]])
    return grid_image(enlarged, list(labels[:shown]), columns=shown, gap=gap)


def summary_figure(images: np.ndarray, labels: Sequence[str], request: Any, *, title: str,
                   steps_done: int | None = None, columns: int = 5) -> Image.Image:
    """The seed's summary figure: the titled grid with the method's settings written under it."""
    return grid_image(images, labels, columns=columns, title=title,
                      note=method_note(request, steps_done=steps_done))
