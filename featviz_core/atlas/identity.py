"""What an atlas is of: the model, the SHA-256 of its weight file, and the render settings.

Two renders of the same channel agree only when all three agree, so a store holds exactly one identity and
refuses to be continued with another. The settings are the ``method`` settings of
:mod:`featviz_core.settings` (how an image is optimized, not which image nor the renders beyond one image per
channel), so a setting declared there is part of the identity without a change here.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from featviz_core.atlas import AtlasError

FORMAT = "featviz-atlas/1"
RANDOM_PREFIX = "random-seed"  # how featviz_core.models.zoo_common.random_identity begins
_PORTABLE = re.compile(r"[A-Za-z0-9._-]+")
MODEL_PART = 48  # most characters of the model's part of a folder name
def setting_names() -> tuple[str, ...]:
    """Names of the render settings an atlas is keyed by (steps, size, seed, lr, ...), in declaration order:
    an atlas renders every channel of its layers with the plain channel objective."""
    from featviz_core.settings import names

    return names("method")


#: Method settings declared after atlases were first made: left out of an identity while at their default, so
#: the identity (and folder name) of an atlas made before them is unchanged.
ADDED_LATER: tuple[str, ...] = ("optimizer", "lr_schedule")


def settings_of(request: Any) -> dict[str, Any]:
    """The atlas settings of a RenderRequest, as plain JSON values."""
    from featviz_core.settings import setting

    return {name: getattr(request, name) for name in setting_names()
            if not (name in ADDED_LATER and getattr(request, name) == setting(name).default)}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, computed once per (path, size, modification time) in this process (the digest
    cache the render cache's keys use too)."""
    from featviz_core.models.weights import file_digest

    return file_digest(Path(path))


def weights_digest(model: str, *, allow_download: bool = True) -> str:
    """SHA-256 of the weight file ``model`` loads on this machine (downloading it when allowed and needed).

    A network asked for with random weights (``?weights=random``) has no file: its seeded identity stands in
    (``random-seed0-...``, the same on every machine), so an atlas of an untrained network, a fair comparison
    with the trained one, says what it is of."""
    from featviz_core.models import get_spec, resolve_weights

    spec = get_spec(model)
    if spec.weights.random:
        return spec.weights.identity
    return file_sha256(resolve_weights(spec, allow_download=allow_download))


def describe_weights(digest: str) -> str:
    """``random weights (seed 0)`` for a random-weights identity, else ``weights with SHA-256 0123456789ab...``."""
    if digest.startswith(RANDOM_PREFIX):
        return "random weights (seed %s)" % digest[len(RANDOM_PREFIX):].partition("-")[0]
    return f"weights with SHA-256 {digest[:12]}..."


def local_weights_digest(model: str) -> str | None:
    """SHA-256 of ``model``'s weight file if it is on this machine (never downloads), else None."""
    from featviz_core.models import weights_identity

    return weights_identity(model) or None


@dataclass(frozen=True)
class AtlasIdentity:
    """(model, weights digest, settings): what every image of a store was rendered with."""

    model: str
    weights_sha256: str
    settings: tuple[tuple[str, Any], ...]

    @classmethod
    def create(cls, model: str, weights_sha256: str, settings: Mapping[str, Any]) -> "AtlasIdentity":
        return cls(model, weights_sha256, tuple(sorted(settings.items())))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "AtlasIdentity":
        try:
            return cls.create(str(data["model"]), str(data["weights_sha256"]), dict(data["settings"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise AtlasError(f"the manifest does not say what the atlas is of ({exc})") from None

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "weights_sha256": self.weights_sha256, "settings": dict(self.settings)}

    @property
    def key(self) -> str:
        """16 hex digits naming this identity (the folder name of a fetched store uses it)."""
        payload = json.dumps({"format": FORMAT, **self.to_json()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def random_weights(self) -> bool:
        """Whether the atlas is of an untrained network (seeded random weights, asked for by name)."""
        return self.weights_sha256.startswith(RANDOM_PREFIX)

    @property
    def name(self) -> str:
        """Folder name of the store (inside an archive, and the filler's): ``atlas-MODEL-KEY``, portable on any
        file system. A model name of letters, digits, ``.``, ``_`` and ``-`` only is kept as written (so
        the names of existing atlases of the zoo's models are unchanged); any other model
        (``torchvision:resnet18``, ``file:/x/y.pt2``, ``...?weights=/a/b``) has every run of other
        characters replaced by ``_``, is cut to MODEL_PART characters and carries 8 hex digits of the exact
        model string's SHA-256, so two models never share a name even before the KEY (which covers the model
        too)."""
        if _PORTABLE.fullmatch(self.model):
            return f"atlas-{self.model}-{self.key}"
        readable = re.sub(r"[^A-Za-z0-9._-]+", "_", self.model)[:MODEL_PART].strip("._-") or "model"
        digest = hashlib.sha256(self.model.encode()).hexdigest()[:8]
        return f"atlas-{readable}-{digest}-{self.key}"

    @property
    def legacy_name(self) -> str:
        """The folder name stores were given before names were made portable (the model as written); the same
        as :attr:`name` for a portable model name."""
        return f"atlas-{self.model}-{self.key}"

    def request(self, layer: str, channels: tuple[int, ...]):
        """The RenderRequest of these channels of ``layer`` under this identity's settings."""
        from featviz_core.request import RenderRequest

        return RenderRequest(model=self.model, layer=layer, channels=tuple(channels), **dict(self.settings))

    def differences(self, other: "AtlasIdentity") -> list[str]:
        """What differs from ``other`` (the store's), for a message: ``["steps 16 here, 8 in the store"]``."""
        found = []
        if self.model != other.model:
            found.append(f"model {self.model} here, {other.model} in the store")
        if self.weights_sha256 != other.weights_sha256:
            found.append(f"{describe_weights(self.weights_sha256)} here, {describe_weights(other.weights_sha256)} "
                         "in the store")
        mine, theirs = dict(self.settings), dict(other.settings)
        for name in sorted(set(mine) | set(theirs)):
            if mine.get(name) != theirs.get(name):
                found.append(f"{name} {mine.get(name)!r} here, {theirs.get(name)!r} in the store")
        return found
