"""Command line: ``python -m featviz_core layers|models|fetch-weights|render|warm|atlas|examples ...``.

Errors a user can fix are printed as one line on stderr and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse

import os
import sys
import time
from pathlib import Path
from typing import Sequence

from featviz_core.errors import FeatvizError


def _bar(done: int, total: int, elapsed: float, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    rate = done / elapsed if elapsed > 0 else 0.0
    remaining = (total - done) / rate if rate > 0 else float("nan")
    eta = f"{remaining:5.0f}s left" if remaining == remaining else "   ...   "
    return f"\r[{'#' * filled}{'.' * (width - filled)}] step {done}/{total}  {elapsed:6.1f}s  {eta}"


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument gets the same one-line ``error: ...`` (exit 2) as a bad value."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {' '.join(message.split())} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    from featviz_core.cli.options import add_setting_options
    from featviz_core.cli.warm import add_warm_parser

    parser = _Parser(prog="python -m featviz_core", description="Feature visualization of CNN channels.")
    sub = parser.add_subparsers(dest="command", required=True)

    layers = sub.add_parser("layers", help="list the layers of a model: name channels HxW")
    layers.add_argument("--model", default="auto", help="model name (default: InceptionV1 if its weights are here, else efficientnet-lite0)")
    layers.add_argument("--size", type=int, default=224, help="model input size in pixels for the spatial sizes (default 224; at least the model's smallest input)")
    layers.add_argument("--featured", action="store_true", help="only the main layers")

    sub.add_parser("models", help="list the models and whether their weights are available")

    weights = sub.add_parser("fetch-weights", help="download and verify a model's weights into the cache")
    weights.add_argument("--model", required=True)
    weights.add_argument("--timeout", type=float, default=60.0, help="seconds a stalled connection is given")

    render = sub.add_parser("render", help="render channels of a layer and write a grid, a detailed view, PNGs "
                                           "and render.json")
    add_setting_options(render)  # every declared render setting (featviz_core.settings)
    render.add_argument("--quality", default="seed", choices=["seed", "fast"],
                        help="seed: 512 steps, as Lucent (default); fast: the measured per-model step count at which "
                             "featviz reaches Lucent's 512-step quality (see BENCHMARKS.md); --steps overrides it")
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

    add_warm_parser(sub)

    from featviz_core.cli.atlas import add_parser as add_atlas_parser

    add_atlas_parser(sub)

    from featviz_core.cli.examples import add_parser as add_examples_parser

    add_examples_parser(sub)
    return parser


def _cmd_layers(args: argparse.Namespace) -> int:
    from featviz_core.models import default_model_name, get_spec, layer_table

    name = default_model_name() if args.model == "auto" else args.model
    spec = get_spec(name)
    if not 16 <= args.size <= 4096:
        raise FeatvizError(f"--size must be between 16 and 4096 pixels, got {args.size} "
                           f"({spec.name} needs at least {spec.min_input_size} px)")
    if args.size < spec.min_input_size:
        raise FeatvizError(f"--size {args.size} is too small for {spec.name}: its layers need a model input of at "
                           f"least {spec.min_input_size} px; choose --size {spec.min_input_size} or more")
    for info in layer_table(name, args.size):
        if args.featured and info.name not in spec.featured_layers:
            continue
        print(f"{info.name} {info.channels} {info.height}x{info.width}")
    return 0


def _cmd_models(_args: argparse.Namespace) -> int:
    from featviz_core.models import REGISTRY, default_model_name, model_status

    default = default_model_name()
    for name in REGISTRY:
        status = model_status(name)
        mark = "available" if status.available else "unavailable"
        flag = " (default)" if name == default else ""
        print(f"{name}{flag}: {mark}. {status.message}")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    """Download (or find) and verify a model's weights; print the file and its SHA-256.

    With the model's SHA-256 variable set (e.g. FEATVIZ_INCEPTIONV1_SHA256) that digest is enforced;
    without it, the digest of what arrived is recorded next to the file and later loads must match it.
    """
    from featviz_core.models.fetch import fetch_weights

    fetched = fetch_weights(args.model, timeout_s=args.timeout)
    print(fetched.path)
    print(f"sha256 {fetched.sha256} ({fetched.how})")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from featviz_core.cli.options import request_from_args
    from featviz_core.device import resolve_device
    from featviz_core.models import load_model
    from featviz_core.outputs.export import render_metadata, result_files
    from featviz_core.render import render
    from featviz_core.settings.step_presets import preset_steps

    started = time.perf_counter()
    request = request_from_args(args)  # checked first, so an unknown model is named as such
    if args.steps is None:  # the quality preset's step count for the request's model
        request = request.replace(steps=preset_steps(args.quality, request.model))
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
            sys.stderr.write(_bar(snapshot.step, snapshot.steps, snapshot.elapsed_s))
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


def _cmd_atlas(args: argparse.Namespace) -> int:
    from featviz_core.cli.atlas import run

    return run(args)


def _cmd_examples(args: argparse.Namespace) -> int:
    from featviz_core.cli.examples import run

    return run(args)


def main(argv: Sequence[str] | None = None) -> int:
    from featviz_core.cli.warm import cmd_warm

    args = _parser().parse_args(argv)
    commands = {"layers": _cmd_layers, "models": _cmd_models, "render": _cmd_render, "fetch-weights": _cmd_fetch,
                "warm": cmd_warm, "atlas": _cmd_atlas,
                "examples": _cmd_examples}
    try:
        return commands[args.command](args)
    except FeatvizError as exc:
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)  # always one line
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`layers | head`): stop quietly, as other command-line tools do. Point stdout at
        # devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


