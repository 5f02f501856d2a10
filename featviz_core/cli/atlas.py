"""``python -m featviz_core atlas ...``: build or resume an atlas, ``atlas pack``, ``atlas fetch``.

Registered by :mod:`featviz_core.cli.dispatch`; errors are raised as FeatvizError and printed there as one line
with exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from featviz_core.atlas import AtlasError
from featviz_core.cli.options import add_setting_options, setting_values
from featviz_core.cli.progress import channel_bar, duration


def add_parser(sub) -> None:
    """Add the ``atlas`` command (and its ``pack`` / ``fetch`` verbs) to the CLI's subparsers."""
    atlas = sub.add_parser(
        "atlas", help="render every channel of whole layers into an atlas store (resumable); pack or fetch one",
        description="Render every channel of the chosen layers into STORE, batch by batch; rerun the same "
                    "command to resume. `atlas pack STORE --out FILE` and `atlas fetch URL --sha256 HEX` move "
                    "a finished atlas between machines.")
    atlas.add_argument("--model", default="auto")
    atlas.add_argument("--layers", default="main", help="names separated by commas, main (default) or all")
    atlas.add_argument("--out", default=None, help="the store folder (created; rerun with the same one to resume)")
    add_setting_options(atlas, roles=("method",))  # how every image is optimized, as declared for `render`
    atlas.add_argument("--engine", default="local", choices=["local", "ray"],
                       help="local: this process (default); ray: actors on a Ray cluster")
    atlas.add_argument("--address", default="", help="Ray cluster address (default: start a local cluster)")
    atlas.add_argument("--workers", type=int, default=None,
                       help="Ray actors (default: one per GPU, else one per --cpus-per-worker cores)")
    atlas.add_argument("--cpus-per-worker", type=int, default=1, help="cores and torch threads per CPU actor")
    atlas.add_argument("--gpus-per-worker", type=float, default=1.0, help="GPUs per actor (0.5: two per card)")
    atlas.add_argument("--device", default=None, help="local engine: auto, cpu, cuda, cuda:N")
    atlas.add_argument("--threads", type=int, default=None, help="local engine: torch threads (default: torch's)")
    atlas.add_argument("--batch", type=int, default=None, help="channels per batch of a new store (8 CPU, 64 GPU)")
    atlas.add_argument("--images-per-pass", type=int, default=None,
                       help="images per forward pass of a new store (2 CPU, 64 GPU)")
    atlas.add_argument("--max-batches", type=int, default=None,
                       help="render at most this many batches in this run (the store stays resumable)")
    atlas.add_argument("--quiet", action="store_true", help="no progress bar")
    verbs = atlas.add_subparsers(dest="verb", required=False, metavar="{pack,fetch}")
    pack = verbs.add_parser("pack", help="pack a store into one archive and print its SHA-256")
    pack.add_argument("store")
    pack.add_argument("--out", required=True, help="the archive file to write (must not exist)")
    fetch = verbs.add_parser("fetch", help="download a packed atlas, verify it and unpack it")
    fetch.add_argument("url")
    fetch.add_argument("--sha256", required=True, help="the archive's SHA-256 (from `atlas pack`)")
    fetch.add_argument("--into", default=None,
                       help="folder of atlases (default: FEATVIZ_ATLAS_DIR, else the cache's atlas folder)")
    fetch.add_argument("--timeout", type=float, default=60.0, help="seconds a stalled connection is given")


def run(args: argparse.Namespace) -> int:
    if args.verb == "pack":
        return _pack(args)
    if args.verb == "fetch":
        return _fetch(args)
    return _build(args)


def _build(args: argparse.Namespace) -> int:
    from featviz_core.atlas.runner import build_atlas

    if not args.out:
        raise AtlasError("--out STORE is required: the folder the atlas is written to (or resumed in)")
    if args.threads is not None and args.threads < 1:
        raise AtlasError(f"--threads must be at least 1, got {args.threads}")
    if args.max_batches is not None and args.max_batches < 1:
        raise AtlasError(f"--max-batches must be at least 1, got {args.max_batches}")
    if args.engine == "ray":
        from featviz_core.atlas.ray_engine import RayEngine

        engine = RayEngine(args.address, workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                           gpus_per_worker=args.gpus_per_worker)
    else:
        from featviz_core.atlas.local import LocalEngine

        engine = LocalEngine(device=args.device, threads=args.threads)
    settings = setting_values(args, roles=("method",))
    tty = sys.stderr.isatty()

    def show(progress) -> None:
        if not args.quiet:
            sys.stderr.write(("\r" if tty else "") + channel_bar(progress) + ("" if tty else "\n"))
            sys.stderr.flush()

    try:
        summary = build_atlas(args.out, args.model, args.layers, settings, engine=engine,
                              batch=args.batch, images_per_pass=args.images_per_pass, progress=show,
                              max_batches=args.max_batches)
    finally:
        if tty and not args.quiet:
            sys.stderr.write("\n")
    if not args.quiet:
        rate = summary.rendered / summary.elapsed_s * 60 if summary.elapsed_s > 0 else 0.0
        resumed = f"; {summary.done - summary.rendered} were already there" if summary.done > summary.rendered else ""
        sys.stderr.write(f"{summary.path}: {summary.done}/{summary.total} channels of {summary.identity.model} "
                         f"({summary.rendered} rendered in {duration(summary.elapsed_s)}, {rate:.1f}/min, "
                         f"{summary.engine}{resumed})\n")
    return 0


def _pack(args: argparse.Namespace) -> int:
    from featviz_core.atlas.archive import pack

    digest, size = pack(args.store, args.out)
    print(f"{args.out}: {size} bytes")
    print(f"sha256 {digest}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from featviz_core.atlas.archive import fetch
    from featviz_core.atlas.lookup import atlas_roots

    into = args.into or atlas_roots()[0]
    path = fetch(args.url, args.sha256, into, timeout_s=args.timeout)
    print(path)
    return 0
