"""``python -m featviz_core render ...``: render channels of a layer and write a grid, a detailed view, one PNG
per image and render.json into a folder.

Registered by :mod:`featviz_core.cli.dispatch`; errors are raised as FeatvizError and printed there as one line
with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from featviz_core.cli.options import RANDOM_HELP, add_setting_options, apply_random_weights, request_from_args
from featviz_core.cli.progress import step_bar
from featviz_core.errors import FeatvizError


def add_render_parser(sub) -> None:
    """The ``render`` subcommand's arguments (``sub``: the CLI's subparsers): every declared render setting
    and the options of this run (device, batch size, output folder, ...)."""
    render = sub.add_parser("render", help="render channels of a layer and write a grid, a detailed view, PNGs "
                                           "and render.json")
    add_setting_options(render)  # every declared render setting (featviz_core.settings)
    render.add_argument("--random-weights", action="store_true", help=RANDOM_HELP)
    render.add_argument("--quality", default="seed", choices=["seed", "fast"],
                        help="seed: 512 steps in float32, as Lucent (default); fast: the measured per-model step count at "
                             "which featviz reaches Lucent's 512-step quality (see BENCHMARKS.md), on the fastest compute "
                             "path of this machine (--precision auto --memory-format auto); --steps, --precision and "
                             "--memory-format override it")
    render.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N (default: FEATVIZ_DEVICE or auto)")
    render.add_argument("--batch-size", type=int, default=None,
                        help="images per forward pass (default: 2 on CPU, 64 on CUDA); 1 makes each image bit-identical "
                             "to a render of its channel alone")
    render.add_argument("--compile", action="store_true",
                        help="run the forward pass through torch.compile (compiling takes seconds to minutes, once per "
                             "process; results agree with eager within float rounding, not bitwise)")
    render.add_argument("--snapshot-every", type=int, default=16, help="progress update interval in steps")
    render.add_argument("--columns", type=int, default=5, help="images per grid row (default 5)")
    render.add_argument("--title", default=None, help="a title written above grid.png")
    render.add_argument("--out", required=True, help="output folder (created)")
    render.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_render(args: argparse.Namespace) -> int:
    """Render the request the options describe and write its files into ``--out``."""
    from featviz_core.device import resolve_device
    from featviz_core.models import load_model
    from featviz_core.outputs.export import render_metadata, result_files
    from featviz_core.render import render
    from featviz_core.settings.step_presets import preset_method, preset_steps

    started = time.perf_counter()
    apply_random_weights(args)
    request = request_from_args(args)  # checked first, so an unknown model is named as such
    if args.steps is None:  # the quality preset's step count for the request's model
        request = request.replace(steps=preset_steps(args.quality, request.model))
    # and its compute path and optimizer, where the options leave them open
    request = request.replace(**{name: value for name, value in preset_method(args.quality, request.param).items()
                                 if getattr(args, name) is None})
    if args.batch_size is not None and args.batch_size < 1:
        raise FeatvizError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.snapshot_every < 1:
        raise FeatvizError(f"--snapshot-every must be at least 1, got {args.snapshot_every}")
    if args.columns < 1:
        raise FeatvizError(f"--columns must be at least 1, got {args.columns}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FeatvizError(f"--out {out} exists and is not a folder")
    device = resolve_device(args.device)
    model = load_model(request.model, device)
    show = not args.quiet

    def progress(snapshot) -> None:
        if show:
            sys.stderr.write(step_bar(snapshot.step, snapshot.steps, snapshot.elapsed_s))
            sys.stderr.flush()

    try:
        result = render(request, model=model, device=device, on_snapshot=progress,
                        snapshot_every=args.snapshot_every, batch_size=args.batch_size, compile=args.compile)
    finally:
        if show:
            sys.stderr.write("\n")
    wall = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    files = result_files(result, wall_time_s=wall, columns=args.columns, title=args.title or None, detail=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
    meta = render_metadata(result, wall)
    if result.note:
        sys.stderr.write(f"note: {result.note}\n")
    if show:
        sys.stderr.write(f"wrote {out / 'grid.png'}, {out / 'detail.png'}, {len(result.images)} PNGs and "
                         f"render.json in {wall:.1f} s "
                         f"(mean objective {sum(meta['final_objective'].values()) / len(result.images):.3f})\n")
    return 0
