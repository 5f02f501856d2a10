"""``python -m featviz_core examples ...``: the dataset examples of a folder of images (resumable).

Registered by :mod:`featviz_core.cli.dispatch`; errors are raised as FeatvizError and printed there as one line with
exit status 2. Progress goes to stderr like the atlas command's.
"""

from __future__ import annotations

import argparse
import sys

from featviz_core.cli.progress import duration, image_bar
from featviz_core.examples import ExamplesError
from featviz_core.examples.runner import DEFAULT_MAX_MB, DEFAULT_MAX_SIDE, DEFAULT_TOP, MAX_TOP


def add_parser(sub) -> None:
    examples = sub.add_parser(
        "examples", help="find the images of a folder that excite and suppress every channel of layers "
                         "(resumable)",
        description="Stream every image of DIR once through the model and keep, for every channel of the "
                    "layers, the K images with the highest and the K with the lowest mean activation, with a crop "
                    "around where it fires and its activation map. Rerun the same command to resume.")
    examples.add_argument("--model", default="auto")
    examples.add_argument("--layers", required=True, help="names separated by commas, main or all")
    examples.add_argument("--images", required=True, help="the folder of PNG / JPEG / WEBP images (recursive)")
    examples.add_argument("--top", type=int, default=DEFAULT_TOP, help=f"K per side (1-{MAX_TOP}, default "
                                                                       f"{DEFAULT_TOP})")
    examples.add_argument("--out", required=True, help="the store folder (rerun with the same one to resume)")
    examples.add_argument("--crop", type=int, default=None,
                          help="side of the crop box in model-input pixels (default: half the input size)")
    examples.add_argument("--batch", type=int, default=None, help="images per forward pass (16 CPU, 128 GPU)")
    examples.add_argument("--checkpoint-every", type=int, default=8, help="batches between checkpoints")
    examples.add_argument("--max-mb", type=float, default=DEFAULT_MAX_MB,
                          help=f"larger files are skipped (default {DEFAULT_MAX_MB})")
    examples.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE,
                          help=f"images wider or taller are skipped (default {DEFAULT_MAX_SIDE})")
    examples.add_argument("--engine", default="local", choices=["local", "ray"])
    examples.add_argument("--address", default="", help="Ray cluster address (default: start a local cluster)")
    examples.add_argument("--workers", type=int, default=None, help="Ray actors")
    examples.add_argument("--cpus-per-worker", type=int, default=1, help="cores and torch threads per CPU actor")
    examples.add_argument("--gpus-per-worker", type=float, default=1.0, help="GPUs per actor")
    examples.add_argument("--device", default=None, help="local engine: auto, cpu, cuda, cuda:N")
    examples.add_argument("--threads", type=int, default=None, help="local engine: torch threads")
    examples.add_argument("--quiet", action="store_true", help="no progress")


def run(args: argparse.Namespace) -> int:
    from featviz_core.examples.runner import examples_iter

    if args.threads is not None and args.threads < 1:
        raise ExamplesError(f"--threads must be at least 1, got {args.threads}")
    if args.engine == "ray":
        from featviz_core.examples.ray_engine import RayEngine

        engine = RayEngine(args.address, workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                           gpus_per_worker=args.gpus_per_worker)
    else:
        from featviz_core.examples.scan import LocalEngine

        engine = LocalEngine(device=args.device, threads=args.threads)
    tty = sys.stderr.isatty()
    last = None
    try:
        for last in examples_iter(args.out, args.model, args.layers, args.images, top=args.top, crop=args.crop,
                                  batch=args.batch, engine=engine, checkpoint_every=args.checkpoint_every,
                                  max_mb=args.max_mb, max_side=args.max_side):
            if not args.quiet and not last.finished:
                sys.stderr.write(("\r" if tty else "") + image_bar(last) + ("" if tty else "\n"))
                sys.stderr.flush()
    finally:
        if tty and not args.quiet:
            sys.stderr.write("\n")
    if not args.quiet and last is not None:
        if last.scanned == 0:
            sys.stderr.write(f"{last.path}/examples.json: already complete ({last.total} images, "
                             f"{last.skipped} skipped); nothing to scan\n")
            return 0
        earlier = last.done - last.scanned
        resumed = f"; {earlier} were scanned by an earlier run" if earlier else ""
        skipped = f", {last.skipped} skipped (see examples.json)" if last.skipped else ""
        sys.stderr.write(f"{last.path}/examples.json: {last.total} images{skipped} ({last.scanned} scanned in "
                         f"{duration(last.elapsed_s)}, {last.per_second:.1f}/s, {last.engine}{resumed})\n")
    return 0
