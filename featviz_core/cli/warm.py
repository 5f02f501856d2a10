"""``python -m featviz_core warm LINKS.txt [MORE.txt ...]``: prepare a lecture's renders in the render cache.

Prints one line per link on stdout (rendered / already prepared, with its time) and a progress bar on
stderr while a render runs. A bad line is reported as ``error: FILE line N: what is wrong`` on stderr and
the other links still render; the exit status is then 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from featviz_core.cli.progress import step_bar
from featviz_core.errors import FeatvizError


def add_warm_parser(sub) -> None:
    """The ``warm`` subcommand's arguments (``sub``: the CLI's subparsers)."""
    warm = sub.add_parser("warm", help="render every app link of some files into the render cache (prepared renders)")
    warm.add_argument("links", nargs="+", help="text files: one app link per line (a full URL, /neuron?layer=..."
                                               "&channel=3 or ?model=...&layer=...); blank lines and # comments "
                                               "are allowed")
    warm.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N (default: FEATVIZ_DEVICE or auto)")
    warm.add_argument("--batch-size", type=int, default=None, help="images per forward pass")
    warm.add_argument("--quiet", action="store_true", help="no progress bar (one line per link is still printed)")


def _read(path: Path) -> str:
    if not path.is_file():
        raise FeatvizError(f"no links file at {path}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FeatvizError(f"{path} is not a UTF-8 text file; write one app link per line") from None
    except OSError as exc:
        raise FeatvizError(f"cannot read {path}: {exc.strerror or exc}") from None


def cmd_warm(args: argparse.Namespace) -> int:
    from featviz_core.device import resolve_device
    from featviz_core.links import read_links
    from featviz_core.service.prepared import RENDERED, SKIPPED, describe_line, prepare, preparing_service

    files = [(Path(name), read_links(_read(Path(name)))) for name in args.links]
    if args.batch_size is not None and args.batch_size < 1:
        raise FeatvizError(f"--batch-size must be at least 1, got {args.batch_size}")
    for path, lines in files:
        if not lines:
            raise FeatvizError(f"{path} holds no links; write one app link per line (# starts a comment)")
    for path, lines in files:  # all bad lines first, so they can be fixed while the rest renders
        for line in lines:
            if line.error:
                print(f"error: {path} line {line.number}: {line.error}", file=sys.stderr)
    lines = [(path, line) for path, lines in files for line in lines]
    good = [(path, line) for path, line in lines if line.request is not None]
    service = preparing_service(device=resolve_device(args.device), batch_size=args.batch_size)
    print(f"{len(good)} of {len(lines)} links to prepare in {service.cache.path}")
    if sum(len(line.requests) for _, line in good) > service.settings.cache_entries:
        print(f"warning: the cache keeps {service.settings.cache_entries} renders (FEATVIZ_CACHE_ENTRIES); "
              "the first links will be evicted", file=sys.stderr)
    show = not args.quiet
    bar_open = [False]  # a progress bar is on the current stderr line

    def progress(snapshot) -> None:
        if show:
            sys.stderr.write(step_bar(snapshot.step, snapshot.steps, snapshot.elapsed_s))
            sys.stderr.flush()
            bar_open[0] = True

    outcomes = []
    try:
        for index, (path, line) in enumerate(good, start=1):
            outcome = prepare(line, service, on_snapshot=progress)
            if bar_open[0]:
                sys.stderr.write("\n")
                bar_open[0] = False
            outcomes.append(outcome)
            origin = f"{path.name} line {line.number}" if len(files) > 1 else f"line {line.number}"
            head = f"[{index}/{len(good)}] {origin} {describe_line(line)}"
            if outcome.state == RENDERED:
                print(f"{head}: rendered in {outcome.seconds:.1f} s", flush=True)
            elif outcome.state == SKIPPED:
                print(f"{head}: already prepared, skipped ({outcome.seconds:.1f} s)", flush=True)
            else:
                print(f"error: {path} line {line.number}: the render failed: {outcome.message}", file=sys.stderr)
    finally:
        service.shutdown()
    rendered = sum(o.state == RENDERED for o in outcomes)
    skipped = sum(o.state == SKIPPED for o in outcomes)
    bad = len(lines) - len(good)
    failed = len(outcomes) - rendered - skipped
    summary = f"{len(lines)} links: {rendered} rendered, {skipped} already prepared"
    if bad or failed:
        summary += f", {bad} bad {'line' if bad == 1 else 'lines'}" + (f", {failed} failed" if failed else "")
    print(summary)
    return 2 if bad or failed else 0
