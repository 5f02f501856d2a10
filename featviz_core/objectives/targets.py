"""The text people type to name what an image optimizes: channel lists (``0-9``, ``3,7,12``, ``0-4, 8``), a
neuron's position (``7,7``) and an interpolation's two ends (``mixed4a:3,mixed4a:7``)."""

from __future__ import annotations

import re

from featviz_core.config import Limits
from featviz_core.errors import RequestError, shown

_TARGET = re.compile(r"^\s*([\w.]+)\s*:\s*(\d+)\s*$")


def parse_channels(text: str | int | list | tuple, limit: int | None = None) -> tuple[int, ...]:
    """``"0-9"``, ``"3,7,12"``, ``"0-4, 8"`` or a list of ints -> tuple of unique ints in the given order."""
    if isinstance(text, bool):
        raise RequestError("channels must be numbers like 0-9 or 3,7,12")
    if isinstance(text, int):
        items: list[int] = [text]
    elif isinstance(text, (list, tuple)):
        items = []
        for item in text:
            if isinstance(item, bool) or not isinstance(item, int):
                raise RequestError(f"channels must be whole numbers, got {item!r}")
            items.append(item)
    else:
        if limit is None:  # never expand a range past what a render may ask for ("0-999999999999")
            limit = Limits.from_env().max_channels
        raw = str(text).strip()
        if len(raw) > 2000:
            raise RequestError(f"channels: the list is too long ({len(raw)} characters); at most {limit} channels per render")
        if not raw:
            raise RequestError("channels are empty; write a range like 0-9 or a list like 3,7,12")
        items = []
        for part in raw.split(","):
            part = part.strip()
            match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
            if match:
                first, last = int(match.group(1)), int(match.group(2))
                if last < first:
                    raise RequestError(f"channels: {part!r} runs backwards; write first-last with first <= last")
                if limit is not None and last - first + 1 > limit:
                    raise RequestError(f"channels: {part!r} asks for {last - first + 1} channels; at most {limit} per render")
                items.extend(range(first, last + 1))
            elif re.fullmatch(r"\d+", part):
                items.append(int(part))
            else:
                raise RequestError(
                    f"channels: cannot read {shown(part)}; write a range like 0-9, a list like 3,7,12, or both (0-4,8)"
                )
    if any(i < 0 for i in items):
        raise RequestError("channels cannot be negative")
    unique = tuple(dict.fromkeys(items))
    if not unique:
        raise RequestError("channels are empty; write a range like 0-9 or a list like 3,7,12")
    return unique


def format_channels(channels: tuple[int, ...]) -> str:
    """Inverse of :func:`parse_channels` for display and URLs: (0,1,2,3,7) -> "0-3,7"."""
    parts: list[str] = []
    run: list[int] = []
    for c in channels:
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [c]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def channels_text(channels: tuple[int, ...]) -> str:
    """Channels in words: ``channels 0-9``, ``channel 3``, ``channels 2,5``."""
    return f"channel{'s' if len(channels) > 1 else ''} {format_channels(channels)}"


def parse_position(text: str) -> tuple[int, int] | None:
    """``"7,7"`` -> (7, 7); ``""`` -> None (the centre)."""
    if not text.strip():
        return None
    match = re.fullmatch(r"\s*(\d{1,6})\s*,\s*(\d{1,6})\s*", text)
    if not match:
        raise RequestError(f"neuron position: cannot read {text[:40]!r}; write row,column like 7,7 (blank: the centre)")
    return int(match.group(1)), int(match.group(2))


def parse_interpolation(text: str) -> tuple[tuple[str, int], tuple[str, int]]:
    """``"mixed4a:3,mixed4a:7"`` (or separated by a space) -> (("mixed4a", 3), ("mixed4a", 7))."""
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    targets = [_TARGET.match(p) for p in parts]
    if len(parts) != 2 or not all(targets):
        raise RequestError(f"interpolation: cannot read {text[:60]!r}; write two channels LAYER:A,LAYER:B like "
                           "mixed4a:3,mixed4a:7")
    return tuple((m.group(1), int(m.group(2))) for m in targets)  # type: ignore[return-value]
