"""Find or resume the dataset examples of a folder: check everything, scan the missing chunks, write.

:func:`examples_iter` is the one driver of both engines. It refuses bad input before loading a model (model,
layers, numbers out of range, a missing or empty folder, an unwritable or foreign store, a store of another
identity), holds the store's writer lock, continues from the checkpoint, merges each chunk's partial top-K
state as it arrives, checkpoints atomically every few chunks, and finally writes the crops, views, maps and
``examples.json``. It yields :class:`ExamplesProgress` and never prints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from featviz_core.examples import ExamplesError
from featviz_core.examples.folder import folder_digest, list_images, read_bytes
from featviz_core.examples.scan import Chunk
from featviz_core.examples.store import (
    OWN_FILES, RESULT, Checkpoint, ExamplesIdentity, load_checkpoint, save_checkpoint, write_result,
)
from featviz_core.examples.topk import empty_state, merge_states

MAX_TOP, MAX_BATCH = 64, 512
DEFAULT_TOP, CPU_BATCH, GPU_BATCH = 9, 16, 128
DEFAULT_MAX_MB, DEFAULT_MAX_SIDE = 32, 8192


@dataclass
class ExamplesProgress:
    """Where a run stands.

    Attributes:
        done: images of the folder scanned (including by earlier runs), skipped ones included.
        total: images in the folder.
        scanned: images this run scanned.
        elapsed_s: seconds since this run started scanning.
        skipped: images skipped so far (unreadable, too large, not an image).
        finished: True on the last report, once examples.json is written.
    """

    done: int
    total: int
    scanned: int
    elapsed_s: float
    skipped: int
    finished: bool = False
    path: Path | None = None
    engine: str = ""

    @property
    def per_second(self) -> float:
        return self.scanned / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def remaining_s(self) -> float:
        return (self.total - self.done) / self.per_second if self.per_second > 0 else math.nan


def _check_number(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ExamplesError(f"{name} must be a whole number from {low} to {high}, got {value!r}")


def _prepare(out: Path) -> None:
    from featviz_core.atlas.guard import ensure_writable

    if out.exists() and not out.is_dir():
        raise ExamplesError(f"--out {out} exists and is not a folder")
    ensure_writable(out, f"the examples store {out}")
    if any(p.name not in OWN_FILES for p in out.iterdir()):
        raise ExamplesError(f"{out} is not empty and holds no examples store; choose a new or empty folder "
                            "(nothing was written)")


def plan_identity(model: str, layers: str, images: str | Path, *, top: int = DEFAULT_TOP,
                  crop: int | None = None, batch: int | None = None, device: str | None = None,
                  max_mb: float = DEFAULT_MAX_MB, max_side: int = DEFAULT_MAX_SIDE,
                  source: tuple[str, str] | None = None) -> tuple[ExamplesIdentity, list[str]]:
    """Check the request and say what the store will be of: (identity, the folder's sorted files).

    ``source``: (name, digest) of what the folder's images came from when the folder is only a temporary
    copy (an uploaded zip, :mod:`.upload`); the identity records them instead of the folder's path and
    digest, so the same upload has the same identity wherever it was unpacked."""
    from featviz_core.atlas.batch_plan import select_layers
    from featviz_core.atlas.identity import weights_digest
    from featviz_core.models import default_model_name, get_spec, layer_table

    model = default_model_name() if model == "auto" else get_spec(model).name
    spec = get_spec(model)
    chosen = select_layers(model, layers)
    _check_number("--top", top, 1, MAX_TOP)
    side = spec.native_size
    crop = crop if crop is not None else side // 2
    _check_number("--crop", crop, 8, side)
    if batch is None:
        from featviz_core.device import resolve_device

        batch = GPU_BATCH if resolve_device(device).type == "cuda" else CPU_BATCH
    _check_number("--batch", batch, 1, MAX_BATCH)
    if not (isinstance(max_mb, (int, float)) and 0 < max_mb <= 1024):
        raise ExamplesError(f"--max-mb must be above 0 and at most 1024, got {max_mb!r}")
    _check_number("--max-side", max_side, 16, 65536)
    folder = Path(images).expanduser().resolve()
    files = list_images(folder)
    grids = {info.name: (info.height, info.width) for info in layer_table(model, side) if info.name in chosen}
    settings = {"top": top, "crop": crop, "size": side, "batch": batch,
                "max_bytes": int(max_mb * 1024 * 1024), "max_side": max_side}
    name, digest = source if source is not None else (str(folder), folder_digest(folder, files))
    identity = ExamplesIdentity(model, weights_digest(model), name, digest, len(files), dict(chosen), grids,
                                tuple(sorted(settings.items())))
    return identity, files


def examples_iter(out: str | Path, model: str, layers: str, images: str | Path, *, top: int = DEFAULT_TOP,
                  crop: int | None = None, batch: int | None = None, engine=None,
                  checkpoint_every: int = 8, max_chunks: int | None = None, max_mb: float = DEFAULT_MAX_MB,
                  max_side: int = DEFAULT_MAX_SIDE, source: tuple[str, str] | None = None
                  ) -> Iterator[ExamplesProgress]:
    """Scan every image of ``images`` not scanned yet into the store at ``out``; yield progress after each
    chunk, and a last report with ``finished=True`` once examples.json is written.

    Args:
        out: the store folder (created; an existing store must have the same identity).
        model: a model name, or "auto".
        layers: names separated by commas, "main" or "all".
        images: the folder of images (searched recursively).
        top: K, examples kept per channel on each side.
        crop: side of the crop box in model-input pixels (default: half the model's input size).
        batch: images per forward pass (the chunk; default 16 on a CPU, 128 on a GPU).
        engine: a LocalEngine (default) or a RayEngine.
        checkpoint_every: chunks between checkpoints (each is one atomic file write).
        max_chunks: stop after this many chunks (the store stays resumable), for tests and trials.
        max_mb / max_side: larger files, or images with a larger side, are skipped and counted.
        source: (name, digest) of what a temporary folder was made from (see :func:`plan_identity`).

    Raises:
        ExamplesError, AtlasError, WeightsUnavailable: one line each, before anything is overwritten.
    """
    from featviz_core.atlas.guard import writer_lock
    from featviz_core.examples.scan import LocalEngine

    engine = engine if engine is not None else LocalEngine()
    identity, files = plan_identity(model, layers, images, top=top, crop=crop, batch=batch,
                                    device=getattr(engine, "device", None), max_mb=max_mb, max_side=max_side,
                                    source=source)
    _check_number("--checkpoint-every", checkpoint_every, 1, 1_000_000)
    out = Path(out)
    _prepare(out)
    with writer_lock(out, what="examples run"):
        checkpoint = load_checkpoint(out)
        if checkpoint is not None and checkpoint.identity != identity:
            raise ExamplesError(f"{out} holds examples of something else "
                                f"({'; '.join(identity.differences(checkpoint.identity)[:3])}); "
                                "use another --out (nothing was changed)")
        if checkpoint is None:
            shapes = {layer: (c, *identity.grids[layer]) for layer, c in identity.layers.items()}
            checkpoint = Checkpoint(identity, empty_state(shapes, top), set(), 0, [])
            save_checkpoint(out, checkpoint)
        folder = Path(images).expanduser().resolve()
        yield from _run(out, folder, identity, files, checkpoint, engine, checkpoint_every, max_chunks)


def _run(out: Path, folder: Path, identity: ExamplesIdentity, files: list[str], checkpoint: Checkpoint, engine,
         checkpoint_every: int, max_chunks: int | None) -> Iterator[ExamplesProgress]:
    settings = identity.settings_dict
    batch, top = settings["batch"], settings["top"]
    count = math.ceil(len(files) / batch)
    todo = [i for i in range(count) if i not in checkpoint.done]
    if max_chunks is not None:
        todo = todo[:max(0, max_chunks)]

    def size(index: int) -> int:
        return min(batch, len(files) - index * batch)

    def read(index: int) -> Chunk:
        names = files[index * batch: index * batch + size(index)]
        data, reasons = zip(*(read_bytes(folder / name, settings["max_bytes"]) for name in names))
        return Chunk(index, index * batch, list(names), list(data), list(reasons))

    def report(finished: bool = False) -> ExamplesProgress:
        done = sum(size(i) for i in checkpoint.done)
        return ExamplesProgress(done, len(files), scanned, time.perf_counter() - began, len(checkpoint.skipped),
                                finished, out, engine.describe())

    scanned, since_saved = 0, 0
    began = time.perf_counter()
    if todo:
        try:
            engine.start()
            for output in engine.run(identity, todo, read):
                checkpoint.state = merge_states(checkpoint.state, output.state, top)
                checkpoint.done.add(output.index)
                checkpoint.used += output.used
                checkpoint.skipped.extend(output.skipped)
                scanned += size(output.index)
                since_saved += 1
                if since_saved >= checkpoint_every:
                    save_checkpoint(out, checkpoint)
                    since_saved = 0
                yield report()
        finally:
            if since_saved:
                save_checkpoint(out, checkpoint)  # a clean stop (Ctrl-C, an error) keeps what was scanned
            engine.close()
    if len(checkpoint.done) < count:
        return  # stopped early (max_chunks): resumable
    if not (out / RESULT).exists() or todo:
        if checkpoint.used == 0:
            raise ExamplesError(f"none of the {len(files)} images of {identity.folder} could be used "
                                f"({checkpoint.skipped[0][0]}: {checkpoint.skipped[0][1]}, ...)")
        write_result(out, folder, identity, checkpoint.state, files, checkpoint.used, checkpoint.skipped)
    yield report(finished=True)


def build_examples(out: str | Path, model: str, layers: str, images: str | Path, **options) -> ExamplesProgress:
    """:func:`examples_iter`, drained: the last report (``finished`` is False when ``max_chunks`` stopped it)."""
    last = None
    for last in examples_iter(out, model, layers, images, **options):
        pass
    return last
