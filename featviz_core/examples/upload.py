"""A visitor's zip of images, made into an examples store of one layer (what the render service queues).

:class:`ZipExamplesRequest` names the work: model, layer, K and the SHA-256 of the zip's bytes (its identity
for sharing and reuse; the file's name is only shown). :func:`unpack_upload` checks and unpacks the zip into
a private temporary folder (:mod:`.archive`); :func:`upload_iter` runs :func:`~.runner.examples_iter` on it
into a store named by the store identity's key, in the first folder the app reads stores from
(:func:`~.lookup.examples_roots`), so ``find_examples`` and the Neuron page find it like any store. The
identity records the zip's digest instead of the temporary folder, so a second upload of the same zip
finds the finished store (:func:`finished_store`), and a run that was stopped continues from its checkpoint.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from featviz_core.examples import ExamplesError
from featviz_core.examples.archive import ZipLimits, ZipListing, unpack_zip
from featviz_core.examples.runner import DEFAULT_TOP, ExamplesProgress

STORE_PREFIX = "upload-"
TEMP_PREFIX = "featviz-zip-"


@dataclass(frozen=True)
class ZipExamplesRequest:
    """Find the top and bottom ``top`` images of every channel of ``layer`` among a zip's images.

    Attributes:
        digest: SHA-256 of the zip's bytes.
        name: the uploaded file's name (shown only: not part of its identity).
    """

    model: str
    layer: str
    digest: str
    top: int = DEFAULT_TOP
    name: str = field(default="", compare=False)

    @classmethod
    def of_upload(cls, data: bytes, model: str, layer: str, *, name: str = "",
                  top: int = DEFAULT_TOP) -> "ZipExamplesRequest":
        """The request for an uploaded zip's bytes (its model and layer checked; the zip is checked when
        it is unpacked). Raises FeatvizError: an unknown model or layer."""
        from featviz_core.atlas.batch_plan import select_layers
        from featviz_core.models import get_spec

        model = get_spec(model).name
        if layer in ("main", "all") or list(select_layers(model, layer)) != [layer]:
            raise ExamplesError(f"name one layer of {model}, got {layer!r}")
        return cls(model, layer, hashlib.sha256(bytes(data)).hexdigest(), top, name)

    def key(self) -> str:
        """What identical requests share (the render service's sharing key)."""
        return f"examples:{self.model}:{self.layer}:top{self.top}:{self.digest}"

    @property
    def source_name(self) -> str:
        """What the store says its images came from."""
        return f"uploaded zip {self.digest[:12]}"


@dataclass(frozen=True)
class UploadedExamples:
    """A finished upload: its store, and the zip's images and skipped files (not images, hidden)."""

    store: Path
    images: int
    not_images: int
    reused: bool = False


def upload_root() -> Path:
    """Where uploads' stores go: the first folder the app reads examples stores from.

    Raises:
        ExamplesError: that folder is itself a store (set FEATVIZ_EXAMPLES_DIR to a folder of stores first),
            or cannot be written.
    """
    from featviz_core.atlas.guard import ensure_writable
    from featviz_core.examples.lookup import examples_roots
    from featviz_core.examples.store import RESULT
    from featviz_core.errors import FeatvizError

    root = examples_roots()[0]
    if (root / RESULT).exists():
        raise ExamplesError(f"uploaded zips cannot be stored: {root} (FEATVIZ_EXAMPLES_DIR's first folder) is "
                            "itself a store; name a folder of stores first")
    try:
        ensure_writable(root, f"the examples folder {root}")
    except FeatvizError as exc:
        raise ExamplesError(f"uploaded zips cannot be stored: {exc}") from None
    return root


def finished_store(request: ZipExamplesRequest) -> Path | None:
    """A finished store of this zip with this model's present weights, covering the layer with this K."""
    from featviz_core.atlas.identity import local_weights_digest
    from featviz_core.examples.lookup import examples_roots, find_examples

    weights = local_weights_digest(request.model)
    for store in find_examples(request.model, request.layer, roots=examples_roots()[:1]):
        data = store.data
        if (store.path.name.startswith(STORE_PREFIX) and data.get("folder_digest") == request.digest
                and data.get("weights_sha256") == weights and data.get("settings", {}).get("top") == request.top):
            return store.path
    return None


def unpack_upload(data: bytes, limits: ZipLimits | None = None) -> tuple[Path, ZipListing]:
    """Check and unpack the zip into a new private temporary folder: (folder, listing). The caller removes
    the folder (:func:`remove_folder`); on a refusal it is already gone.

    Raises:
        ExamplesError: the zip breaks a rule of :mod:`.archive` (one line naming it and the bound).
    """
    folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))  # mode 0700: only this process's user reads it
    try:
        return folder, unpack_zip(data, folder, limits)
    except BaseException:
        remove_folder(folder)
        raise


def remove_folder(folder: Path | None) -> None:
    """Remove a temporary folder of :func:`unpack_upload` (nothing when it is None or already gone)."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def upload_iter(request: ZipExamplesRequest, folder: Path, *, device: str | None = None,
                limits: ZipLimits | None = None) -> Iterator[ExamplesProgress]:
    """Find the examples of the unpacked zip in ``folder`` into its store under :func:`upload_root`,
    yielding :class:`~.runner.ExamplesProgress` after each batch (``path``: the store)."""
    from featviz_core.examples.runner import examples_iter, plan_identity
    from featviz_core.examples.scan import LocalEngine

    limits = limits or ZipLimits.from_env()
    options = dict(top=request.top, max_mb=limits.image.max_bytes / 1024 / 1024, max_side=limits.image.max_side,
                   source=(request.source_name, request.digest))
    identity, _ = plan_identity(request.model, request.layer, folder, device=device, **options)
    out = upload_root() / f"{STORE_PREFIX}{identity.key}"
    yield from examples_iter(out, request.model, request.layer, folder, engine=LocalEngine(device=device),
                             **options)
