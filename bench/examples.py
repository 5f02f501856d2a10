"""Dataset examples throughput: images a second of `examples` (every channel of a layer in one pass) versus
a single plain forward over the folder, and versus a loop that runs the model once per channel.

    python bench/examples.py                                   # 512 synthetic images, _blocks.10, all 112 channels
    python bench/examples.py --images 64 --loop-channels 2     # a quick check

The folder is generated at run time (smooth random colour fields of varied sizes, PNG). All three read and
decode the same files and cut the same 224 px views in the same batches:

- *single forward*: decode + view + forward up to the layer, nothing kept (the floor);
- *examples*: ``build_examples`` over the folder (top-K of every channel, checkpoints, then crops, views,
  maps and examples.json); *scan* counts only the streaming pass, *wall* includes the writing at the end;
- *loop per channel*: what a per-channel tool does, one full pass per channel, keeping that channel's top-K;
  timed for ``--loop-channels`` channels and extrapolated to all of them.

Goal (issue #19): examples' scan within 1.5x of the single forward.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, table  # noqa: E402


def make_folder(folder: Path, count: int, seed: int = 0) -> None:
    from PIL import Image

    generator = np.random.default_rng(seed)
    for i in range(count):
        small = generator.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        size = (int(generator.integers(200, 400)), int(generator.integers(200, 400)))
        Image.fromarray(small).resize(size, Image.BICUBIC).save(folder / f"img{i:05d}.png")


def batches_of_views(folder: Path, files: list[str], batch: int, side: int):
    from featviz_core.examples.folder import decode, read_bytes, view_of

    for start in range(0, len(files), batch):
        views = []
        for name in files[start:start + batch]:
            data, _ = read_bytes(folder / name, 1 << 30)
            image, _ = decode(data, 1 << 30, 65536)
            views.append(view_of(image, side))
        yield np.stack(views)


def forward_pass(model, spec, layer: str, folder: Path, files: list[str], batch: int, channel: int | None,
                 k: int) -> float:
    """Seconds for one pass over the folder; with ``channel``, that channel's top-k is kept (a plain loop)."""
    import torch

    from featviz_core.models.capture import capture_layers

    best: list[tuple[float, int]] = []
    started = time.perf_counter()
    for index, views in enumerate(batches_of_views(folder, files, batch, spec.native_size)):
        x = spec.preprocess.apply(torch.from_numpy(views).permute(0, 3, 1, 2).contiguous())
        with torch.inference_mode():
            acts = capture_layers(model, [layer], x)[layer]
        if channel is not None:
            means = acts[:, channel].mean((-2, -1)).tolist()
            best = sorted(best + [(m, index * batch + i) for i, m in enumerate(means)], reverse=True)[:k]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--layer", default="_blocks.10")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--top", type=int, default=9)
    parser.add_argument("--loop-channels", type=int, default=4,
                        help="channels the per-channel loop is timed on (extrapolated to the whole layer)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import torch

    from featviz_core.examples.runner import examples_iter
    from featviz_core.examples.scan import LocalEngine
    from featviz_core.models import get_spec, layer_table, load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    spec = get_spec(args.model)
    channels = {info.name: info.channels for info in layer_table(args.model, spec.native_size)}[args.layer]
    model = load_model(args.model, "cpu")
    print(machine())
    with tempfile.TemporaryDirectory(prefix="featviz-bench-examples-") as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        made = time.perf_counter()
        make_folder(folder, args.images)
        files = sorted(p.name for p in folder.iterdir())
        print(f"{args.images} synthetic images made in {time.perf_counter() - made:.1f} s; "
              f"{args.model} {args.layer} ({channels} channels), batch {args.batch}, top {args.top}")
        forward_pass(model, spec, args.layer, folder, files[:args.batch], args.batch, None, args.top)  # warm-up

        single = forward_pass(model, spec, args.layer, folder, files, args.batch, None, args.top)
        began = time.perf_counter()
        scan_s = None
        for progress in examples_iter(Path(tmp) / "store", args.model, args.layer, folder, top=args.top,
                                      batch=args.batch, engine=LocalEngine(threads=args.threads),
                                      checkpoint_every=8):
            if progress.done == progress.total and scan_s is None:
                scan_s = progress.elapsed_s
        wall = time.perf_counter() - began
        loop_channels = max(1, min(args.loop_channels, channels))
        loop = sum(forward_pass(model, spec, args.layer, folder, files, args.batch, c, args.top)
                   for c in range(loop_channels)) / loop_channels * channels

    n = args.images
    rows = [("single forward (floor)", f"{single:.1f}", f"{n / single:.1f}", "1.00x"),
            ("examples: scan", f"{scan_s:.1f}", f"{n / scan_s:.1f}", f"{scan_s / single:.2f}x"),
            ("examples: wall (scan + crops, views, maps)", f"{wall:.1f}", f"{n / wall:.1f}", f"{wall / single:.2f}x"),
            (f"loop per channel (x{channels}, from {loop_channels} timed)", f"{loop:.1f}", f"{n / loop:.2f}",
             f"{loop / single:.1f}x")]
    print(table(["method", "seconds", "images/s", "vs single forward"], rows))
    verdict = "met" if scan_s <= 1.5 * single else "NOT met"
    print(f"goal (scan within 1.5x of a single forward): {verdict} ({scan_s / single:.2f}x)")


if __name__ == "__main__":
    main()
