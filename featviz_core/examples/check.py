"""Checking a finished examples store's ``examples.json`` once, when the app opens it.

Everything the app reads from a store is checked here, so that no page raises on a damaged or hand-edited
store and no path in it reaches outside the store: every layer entry is a table with its examples and its
maps file under ``maps/``, every channel a table with ``top`` and ``bottom`` lists, and every example has
its image named inside the images folder, a whole non-negative image number, a numeric activation, boxes of
four whole numbers, a position of two, and a crop that is a PNG file under the store's ``crops/``.
:func:`problem` returns the first thing wrong, in one line that says what is allowed.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from featviz_core.examples.store import CROPS, FORMAT, MAPS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class StoreProblem(ValueError):
    """What is wrong with a store, in one line."""


def problem(path: Path, data: Any) -> str | None:
    """The first thing wrong with store ``path`` whose examples.json holds ``data``, or None when the app can
    show it."""
    try:
        _check_top(data)
        root = _Root(Path(path).resolve())
        for layer, entry in data["layers"].items():
            _check_layer(root, layer, entry)
    except StoreProblem as exc:
        return str(exc)
    return None


def _check_top(data: Any) -> None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StoreProblem(f"examples.json is not a {FORMAT} file")
    for name in ("model", "weights_sha256", "folder"):
        if not isinstance(data.get(name), str):
            raise StoreProblem(f"its {name!r} is {_shown(data.get(name))}, not text")
    if not isinstance(data.get("layers"), dict):
        raise StoreProblem(f"its 'layers' is {_shown(data.get('layers'))}, not a table of layers")
    for table, name in (("counts", "used"), ("settings", "top")):
        value = data.get(table)
        if not isinstance(value, dict) or not _whole(value.get(name), 0):
            raise StoreProblem(f"its '{table}' has no whole number '{name}'")


def _check_layer(root: "_Root", layer: str, entry: Any) -> None:
    where = f"layer {layer}"
    if not isinstance(entry, dict):
        raise StoreProblem(f"{where} is {_shown(entry)}, not a table with its examples and maps")
    root.inside(MAPS, entry.get("maps"), f"{where}: its maps file")
    rows = entry.get("examples")
    if not isinstance(rows, list):
        raise StoreProblem(f"{where} has {_shown(rows)} as its examples, not a list of channels")
    for channel, row in enumerate(rows):
        if not isinstance(row, dict) or not all(isinstance(row.get(side), list) for side in ("top", "bottom")):
            raise StoreProblem(f"{where}, channel {channel} is not a table with 'top' and 'bottom' lists")
        for side in ("top", "bottom"):
            for rank, example in enumerate(row[side]):
                _check_example(root, f"{where}, channel {channel}, {side} example {rank}", example)


def _check_example(root: "_Root", where: str, example: Any) -> None:
    if not isinstance(example, dict):
        raise StoreProblem(f"{where} is {_shown(example)}, not a table")
    image = example.get("image")
    if not isinstance(image, str) or not _relative(image):
        raise StoreProblem(f"{where}: its image {_shown(image)} is not a path inside the images folder "
                           "(no '..', not absolute)")
    if not _whole(example.get("number"), 0):
        raise StoreProblem(f"{where}: its number {_shown(example.get('number'))} is not a whole number >= 0")
    activation = example.get("activation")
    if isinstance(activation, bool) or not isinstance(activation, (int, float)):
        raise StoreProblem(f"{where}: its activation {_shown(activation)} is not a number")
    for name, length in (("view_box", 4), ("box", 4), ("position", 2)):
        value = example.get(name)
        if not isinstance(value, list) or len(value) != length or not all(_whole(v) for v in value):
            raise StoreProblem(f"{where}: its {name} {_shown(value)} is not a list of {length} whole numbers")
    crop = root.inside(CROPS, example.get("crop"), f"{where}: its crop")
    try:
        with open(crop, "rb") as handle:
            head = handle.read(len(PNG_SIGNATURE))
    except OSError:
        raise StoreProblem(f"{where}: its crop {example['crop']} is not in the store "
                           f"(crops are PNG files under {CROPS}/)") from None
    if head != PNG_SIGNATURE:
        raise StoreProblem(f"{where}: its crop {example['crop']} is not a PNG file (crops are PNG files under "
                           f"{CROPS}/)")


class _Root:
    """The store's folder (links resolved), and its subfolders resolved once each (a store names thousands of
    crops in a few folders)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._folders: dict[Path, Path] = {}

    def inside(self, folder: str, relative: Any, what: str) -> Path:
        """``root/relative`` when ``relative`` names a file inside ``root/folder`` (links followed), else a
        problem."""
        if isinstance(relative, str) and _relative(relative):
            written = self.path / relative
            parent = self._folders.get(written.parent)
            if parent is None:
                parent = self._folders[written.parent] = written.parent.resolve()
            path = parent / written.name
            path = path.resolve() if path.is_symlink() else path
            if path.is_relative_to(self.path / folder) and path != self.path / folder:
                return path
        raise StoreProblem(f"{what} {_shown(relative)} is not a file inside the store's {folder}/ folder "
                           "(no '..', not absolute)")


def _relative(name: str) -> bool:
    """Whether ``name`` is a relative path that never steps up (as written on any system)."""
    if not name or "\0" in name or PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute():
        return False
    return ".." not in name.replace("\\", "/").split("/") and not PureWindowsPath(name).drive


def _whole(value: Any, least: int | None = None) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and (least is None or value >= least)


def _shown(value: Any) -> str:
    """A short form of a JSON value for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
