"""App links as data: a link's address and query string <-> the renders its page shows for it.

``?model=efficientnet-lite0&layer=_blocks.10&channels=0-9&steps=512&size=128&seed=0`` is what the app's
address bar holds for a render on screen in the Explorer; ``/neuron?layer=_blocks.10&channel=3`` opens the
Neuron page on one channel, which renders it at high resolution and again in plain pixels. The page is part
of the link: the app, the ``warm`` command and lecture decks all read links with these functions, so a link
means the same renders everywhere. Nothing here needs a UI, and importing this module does not import torch
(the app imports it at start).

Layer (checked by tests/test_layout.py): may import errors, settings, objectives, models, request; torch at module
level: no.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping
from urllib.parse import parse_qsl, urlsplit

from featviz_core.errors import FeatvizError, RequestError, shown
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
# The app's pages by the last part of their address ("" and anything else: the Explorer, the start page,
# which may be served under a path of its own). Only the Explorer's and the Neuron page's links name renders.
EXPLORER, NEURON = "explorer", "neuron"
PAGES = {"explorer": "Explorer", "neuron": "Neuron", "layers": "Layers", "method": "Method", "photo": "Photo",
         "lecture": "Lecture", "gallery": "Gallery"}
RENDER_PAGES = (EXPLORER, NEURON)
PREPARABLE = ("only links of the Explorer (/?model=...&layer=...&channels=0-9) and of the Neuron page "
              "(/neuron?layer=...&channel=3) name a render")
# A Neuron page link names one channel; the page's form starts at NEURON_FORM for the rest (a link
# does not set them), and with ``compare`` it also renders the channel in plain pixels.
NEURON_PARAMS = ("model", "layer", "channel")
NEURON_FORM = {"steps": 1024, "size": 256, "seed": 0, "compare": True}
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


@dataclass(frozen=True)
class AppLink:
    """A link of the app: the page it opens (EXPLORER or NEURON) and its query values."""

    page: str
    values: dict[str, str]


def split_link(link: str) -> tuple[str, str]:
    """(page, query) of a link as people paste it: a full URL (``http://localhost:8501/neuron?a=1``), an
    address without its host (``/?a=1``, ``/Explorer?a=1``, ``neuron?a=1``), ``?a=1`` or ``a=1``.

    A ``#fragment`` is the browser's and is left out. The page is a key of :data:`PAGES`.
    """
    text = link.strip()
    if len(text) > MAX_LINK_CHARS:
        raise RequestError(f"the link is too long ({len(text)} characters; at most {MAX_LINK_CHARS})")
    text = text.split("#", 1)[0]
    address, mark, query = text.partition("?")
    if not mark and "=" in address and "/" not in address:  # a bare query: a=1&b=2
        address, query = "", address
    if re.match(r"^[a-z][a-z0-9+.-]*://", address, re.I):
        address = urlsplit(address).path
    page = address.rstrip("/").rsplit("/", 1)[-1].lower()
    return (page if page in PAGES else EXPLORER), query


def _query_values(query: str, allowed: tuple[str, ...], who: str) -> dict[str, str]:
    for pair in query.split("&"):
        if pair and "=" not in pair:
            raise RequestError(f"cannot read {pair[:40]!r}: each setting is name=value")
    values: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):  # a name given twice keeps its last value
        if name in allowed or name in VIEW_PARAMS:
            values[name] = value
            continue
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        if name in RENDER_PARAMS:  # a setting of the Explorer's, in a Neuron page link
            form = NEURON_FORM
            raise RequestError(f"a Neuron page link names model, layer and channel, not {name!r}{hint}; the page "
                               f"renders {form['steps']} steps at {form['size']} px, seed {form['seed']} (an "
                               "Explorer link can name any setting)")
        raise RequestError(f"unknown setting {name[:40]!r}{hint}; {who} name {', '.join(allowed)}")
    return values


def read_link(link: str) -> AppLink:
    """The page and query values of a link (see :func:`split_link` for the forms it may take).

    A parameter given twice keeps its last value, as the app reads it. Raises :class:`RequestError` for a
    link to a page that names no render, a value-less or unknown parameter, or a link with nothing to render.
    """
    page, query = split_link(link)
    if page not in RENDER_PAGES:
        raise RequestError(f"this is a link to the {PAGES[page]} page, which names no render; {PREPARABLE}")
    if not query:
        raise RequestError("the link has no settings; copy it from the address bar after a render "
                           "(it looks like ?model=...&layer=...&channels=0-9&steps=512)")
    if page == NEURON:
        values = _query_values(query, NEURON_PARAMS, "Neuron page links")
        if "channel" not in values:
            example = values.get("layer") or "_blocks.10"
            raise RequestError(f"a Neuron page link names a channel, like /neuron?layer={example[:40]}&channel=3")
        return AppLink(page, values)
    values = _query_values(query, RENDER_PARAMS, "links")
    if not render_values(values):
        raise RequestError(f"the link names no render setting ({', '.join(ALWAYS)}, ...)")
    return AppLink(page, values)


def link_values(link: str) -> dict[str, str]:
    """The query values of an Explorer link (:func:`read_link`; a link of another page is refused)."""
    read = read_link(link)
    if read.page != EXPLORER:
        raise RequestError(f"this is a link to the {PAGES[read.page]} page; an Explorer link is needed here")
    return read.values


def _model_name(model: str | None) -> str:
    from featviz_core.models import default_model_name, get_spec

    chosen = (model or "auto").strip()
    return default_model_name() if chosen == "auto" else get_spec(chosen).name


def expression_text(expression: str) -> str:
    """A link's expression, with the plus signs a query string turned into spaces put back.

    In a query string ``+`` stands for a space (the app writes a space so, and a plus sign as ``%2B``), so a
    hand-written ``_blocks.4:3+_blocks.4:7`` arrives as ``_blocks.4:3 _blocks.4:7``, which means nothing:
    terms are joined by + or -. Only when the text cannot be read as it is, a space between two terms is
    read as ``+``; an expression that reads as it is (all the app writes) is left alone.
    """
    from featviz_core.objectives import parse_objective

    try:
        parse_objective(expression)
        return expression
    except RequestError:
        joined = re.sub(r"(?<=[\w)])\s+(?=[\w.])", "+", expression.strip())
        try:
            parse_objective(joined)
        except RequestError:
            return expression  # its own message names what cannot be read
        return joined


def request_from_values(values: Mapping[str, str], *, model: str | None = None) -> RenderRequest:
    """The request the Explorer renders for a link's query values.

    Settings the link leaves out take the Explorer's defaults for its model (default layer, channels
    0-9, Lucid's settings). ``model`` overrides the link's own (the app falls back to the default model
    when the linked one's weights are missing). Raises :class:`RequestError` with the reason.
    """
    from featviz_core.request import RenderRequest

    chosen = _model_name(model or values.get("model"))
    wanted = {**render_values(values), "model": chosen}
    if wanted.get("expression"):
        wanted["expression"] = expression_text(wanted["expression"])
    return RenderRequest.from_mapping(wanted, defaults=explorer_defaults(chosen))


def pixel_twin(request: RenderRequest) -> RenderRequest:
    """The Neuron page's comparison: the same render optimized directly in RGB pixels."""
    return request.replace(fft=False, decorrelate=False)


def neuron_requests(model: str, layer: str, channel: int, *, steps: int | None = None, size: int | None = None,
                    seed: int | None = None, compare: bool | None = None) -> tuple[RenderRequest, ...]:
    """What the Neuron page renders for one channel: the render itself, then (``compare``) its
    :func:`pixel_twin`. Settings left out are the page's form defaults (:data:`NEURON_FORM`)."""
    from featviz_core.request import RenderRequest

    given = {"steps": steps, "size": size, "seed": seed, "compare": compare}
    form = {name: NEURON_FORM[name] if value is None else value for name, value in given.items()}
    request = RenderRequest(model=model, layer=layer, channels=(channel,), steps=form["steps"], size=form["size"],
                            seed=form["seed"])
    return (request, pixel_twin(request)) if form["compare"] else (request,)


def link_requests(link: AppLink) -> tuple[RenderRequest, ...]:
    """Every request ``link``'s page shows when it opens, the main one first: the Explorer's render, or
    the Neuron page's channel and its pixel twin. Raises :class:`RequestError` with the reason."""
    if link.page != NEURON:
        return (request_from_values(link.values),)
    channel = link.values["channel"].strip()
    if not re.fullmatch(r"[0-9]{1,6}", channel):
        raise RequestError(f"channel must be a whole number like 3, got {shown(channel)}")
    return neuron_requests(_model_name(link.values.get("model")), link.values.get("layer", "").strip(), int(channel))


def request_from_link(link: str) -> RenderRequest:
    """The main request of one line of a links file (:func:`read_link`, then :func:`link_requests`)."""
    return link_requests(read_link(link))[0]


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
        request: the main request its page renders for it (what a slide shows), or None when the line is bad.
        error: what is wrong with the line, "" when it is good.
        page: the page the link opens (EXPLORER or NEURON).
        companions: the other requests the page shows for it (the Neuron page's pixel twin), prepared too.
    """

    number: int
    text: str
    note: str = ""
    request: RenderRequest | None = None
    error: str = ""
    page: str = EXPLORER
    companions: tuple = ()

    @property
    def requests(self) -> tuple:
        """Every request to prepare for the line, the main one first (none for a bad line)."""
        return () if self.request is None else (self.request, *self.companions)


def read_links(text: str) -> list[LinkLine]:
    """The links of a links file, in order: one app link per line (a full URL, an address like
    ``/neuron?layer=...&channel=3``, or a query string).

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
            read = read_link(link)
            main, *others = link_requests(read)
            lines.append(LinkLine(number, link, note, main, page=read.page, companions=tuple(others)))
        except FeatvizError as exc:
            lines.append(LinkLine(number, link, note, error=" ".join(str(exc).split())))
    return lines
