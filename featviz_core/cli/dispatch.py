"""Command line: ``python -m featviz_core layers|models|fetch-weights|render|warm|atlas|examples ...``: the parser,
the small commands (``layers``, ``models``, ``fetch-weights``) and ``main``, which runs one command.

Errors a user can fix are printed as one line on stderr and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from featviz_core.errors import FeatvizError


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument gets the same one-line ``error: ...`` (exit 2) as a bad value."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {' '.join(message.split())} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    from featviz_core.cli.atlas import add_parser as add_atlas_parser
    from featviz_core.cli.examples import add_parser as add_examples_parser
    from featviz_core.cli.render import add_render_parser
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

    add_render_parser(sub)
    add_warm_parser(sub)
    add_atlas_parser(sub)
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


def main(argv: Sequence[str] | None = None) -> int:
    from featviz_core.cli.atlas import run as cmd_atlas
    from featviz_core.cli.examples import run as cmd_examples
    from featviz_core.cli.render import cmd_render
    from featviz_core.cli.warm import cmd_warm

    args = _parser().parse_args(argv)
    commands = {"layers": _cmd_layers, "models": _cmd_models, "render": cmd_render, "fetch-weights": _cmd_fetch,
                "warm": cmd_warm, "atlas": cmd_atlas, "examples": cmd_examples}
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


