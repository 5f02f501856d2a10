"""App links as data: a link's query string <-> the :class:`RenderRequest` the Explorer renders for it.

``?model=efficientnet-lite0&layer=_blocks.10&channels=0-9&steps=512&size=128&seed=0`` is what the app's
address bar holds for a render on screen. The app, the ``warm`` command and lecture decks all read links
with these functions, so a link means the same render everywhere. Nothing here needs a UI, and importing
this module does not import torch (the app imports it at start).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping
from urllib.parse import parse_qsl, urlsplit

from featviz_core.errors import FeatvizError, RequestError
from featviz_core.settings import SETTINGS

if TYPE_CHECKING:
    from featviz_core.request import RenderRequest

# Parameters a link always carries, and the ones written only when they differ from the defaults: both
# from the settings' declarations (featviz_core.settings).
ALWAYS = tuple(s.name for s in SETTINGS if s.link == "always")
OPTIONAL = tuple(s.name for s in SETTINGS if s.link == "changed")
RENDER_PARAMS = ALWAYS + OPTIONAL
# Parameters that name what a link renders (a link without one only fills in the Explorer's form).
TARGET_PARAMS = ("channels", "expression", "interpolate")
# Parameters about how a render is shown, not what it is (the presentation view; Streamlit's embedding).
VIEW_PARAMS = ("present", "deck", "slide", "embed", "embed_options")
# Pages of the app whose links are not renders of the Explorer.
OTHER_PAGES = ("neuron", "layers", "method", "photo", "gallery")
DEFAULT_CHANNELS = tuple(range(10))
MAX_LINK_CHARS = 4000


def explorer_defaults(model: str) -> RenderRequest:
    """The Explorer's starting request for ``model``: its default layer, channels 0-9, Lucid's settings."""
    from featviz_core.models import get_spec, layer_table
    from featviz_core.request import RenderRequest

    spec = get_spec(model)
    count = {info.name: info.channels for info in layer_table(model, 224)}.get(spec.default_layer, 10)
    return RenderRequest(model=model, layer=spec.default_layer, channels=DEFAULT_CHANNELS[: max(1, count)])


def request_params(request: RenderRequest) -> dict[str, str]:
    """Query parameters that reproduce ``request``: the settings every link carries, and the others where
    they differ from their defaults (written so that reading them back gives the same values bit for bit)."""
    params = {}
    for setting in SETTINGS:
        value = getattr(request, setting.name)
        if setting.link == "always" or (setting.link == "changed" and value != setting.default):
            params[setting.name] = setting.text(value)
    if not request.channels:  # a layer objective, an expression or an interpolation names no channels
        params.pop("channels", None)
    return params


def names_render(values: Mapping[str, str]) -> bool:
    """Whether a link's values name what to render (channels, an expression, an interpolation or a whole
    layer), not only settings for the form."""
    from featviz_core.objectives import KINDS, get_kind

    kind = values.get("objective", "").strip()
    return any(name in values for name in TARGET_PARAMS) or (kind in KINDS and not get_kind(kind).reads_channel)


def render_values(values: Mapping[str, str]) -> dict[str, str]:
    """The render parameters among a link's query values (others, e.g. a host's own, are left out)."""
    return {name: values[name] for name in RENDER_PARAMS if name in values}


def link_values(link: str) -> dict[str, str]:
    """A link's query values: a full app URL (``https://host/?a=1``), ``?a=1`` or ``a=1``.

    A parameter given twice keeps its last value, as the app reads it. Raises :class:`RequestError` for a
    link to another page of the app, a value-less or unknown parameter, or a link with nothing to render.
    """
    text = link.strip()
    if len(text) > MAX_LINK_CHARS:
        raise RequestError(f"the link is too long ({len(text)} characters; at most {MAX_LINK_CHARS})")
    if re.match(r"^[a-z][a-z0-9+.-]*://", text, re.I):
        parts = urlsplit(text)
        page = parts.path.rstrip("/").rsplit("/", 1)[-1].lower()
        if page in OTHER_PAGES:
            raise RequestError(f"this is a link to the {page.capitalize()} page; only links of the Explorer "
                               "(the app's start page) name a render")
        query = parts.query
    else:
        query = text[1:] if text.startswith("?") else text
    if not query:
        raise RequestError("the link has no settings; copy it from the address bar after a render "
                           "(it looks like ?model=...&layer=...&channels=0-9&steps=512)")
    values: dict[str, str] = {}
    for pair in query.split("&"):
        if pair and "=" not in pair:
            raise RequestError(f"cannot read {pair[:40]!r}: each setting is name=value")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in RENDER_PARAMS and name not in VIEW_PARAMS:
            close = difflib.get_close_matches(name, RENDER_PARAMS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RequestError(f"unknown setting {name[:40]!r}{hint}; links name {', '.join(RENDER_PARAMS)}")
        values[name] = value
    if not render_values(values):
        raise RequestError(f"the link names no render setting ({', '.join(ALWAYS)}, ...)")
    return values


def request_from_values(values: Mapping[str, str], *, model: str | None = None) -> RenderRequest:
    """The request the Explorer renders for a link's query values.

    Settings the link leaves out take the Explorer's defaults for its model (default layer, channels
    0-9, Lucid's settings). ``model`` overrides the link's own (the app falls back to the default model
    when the linked one's weights are missing). Raises :class:`RequestError` with the reason.
    """
    from featviz_core.models import default_model_name, get_spec
    from featviz_core.request import RenderRequest

    chosen = (model or values.get("model") or "auto").strip()
    chosen = default_model_name() if chosen == "auto" else get_spec(chosen).name
    wanted = {**render_values(values), "model": chosen}
    return RenderRequest.from_mapping(wanted, defaults=explorer_defaults(chosen))


def request_from_link(link: str) -> RenderRequest:
    """:func:`link_values` then :func:`request_from_values`: one line of a links file to its request."""
    return request_from_values(link_values(link))


def link_query(request: RenderRequest) -> str:
    """``?model=...&layer=...`` for ``request`` (the query string the app writes for it)."""
    from urllib.parse import urlencode

    return "?" + urlencode(request_params(request))


# ----- links files (a lecture's list of renders) ---------------------------------------------------------
@dataclass(frozen=True)
class LinkLine:
    """One link of a links file.

    Attributes:
        number: 1-based line number in the file.
        text: the link as written (without its note).
        note: the words after `` #`` on the line (a slide's title), "" when none.
        request: the request the Explorer renders for it, or None when the line is bad.
        error: what is wrong with the line, "" when it is good.
    """

    number: int
    text: str
    note: str = ""
    request: RenderRequest | None = None
    error: str = ""


def read_links(text: str) -> list[LinkLine]:
    """The links of a links file, in order: one app link per line (a full URL or a query string).

    Blank lines and lines starting with ``#`` are skipped; `` # words`` after a link is its note. A bad
    line is kept with its ``error`` (and no request), so the good ones can still be used.
    """
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        link, *rest = re.split(r"\s+#", stripped, maxsplit=1)
        note = rest[0].strip() if rest else ""
        try:
            lines.append(LinkLine(number, link, note, request_from_link(link)))
        except FeatvizError as exc:
            lines.append(LinkLine(number, link, note, error=" ".join(str(exc).split())))
    return lines
