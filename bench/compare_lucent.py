"""featviz versus torch-lucent's render_vis, side by side in one process.

Same model object (same weights), layer, channels, steps and image size. Lucent is called one channel at
a time, as the seed notebook does. featviz runs with its own `standard` transforms and with `lucent` (Lucent's
own transform chain, so that row compares the same algorithm on both sides). Quality is compared after all
runs by two shared evaluations of each final image: its mean target activation on one bare view (resized to
224 px, no transforms), and the neutral score (featviz_core.render.neutral_score.neutral_score: the mean over eight fixed
views, grey borders 0/8/16/24 px x upright or turned 5 degrees), which favours neither transform set.

    python bench/compare_lucent.py                       # both models, seed settings (512 steps): long on CPU
    python bench/compare_lucent.py --steps 64 --channels 0-3 --models efficientnet-lite0   # a quick look
    python bench/compare_lucent.py --device cuda          # on a GPU

InceptionV1 uses random weights (its pretrained file cannot be downloaded here: speed only);
EfficientNet-Lite0 uses its real ImageNet weights (speed and quality).
"""

from __future__ import annotations

import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (PeakMemory, bench_model, default_layer, machine, model_names, render_parser, sync,  # noqa: E402
                           table)
from featviz_core.models import get_spec  # noqa: E402
from featviz_core.models.fast import model_for_render  # noqa: E402
from featviz_core.objectives.targets import parse_channels  # noqa: E402
from featviz_core.render import evaluate, render_iter  # noqa: E402
from featviz_core.render.neutral_score import neutral_score  # noqa: E402
from featviz_core.request import RenderRequest  # noqa: E402

def run_lucent(model: torch.nn.Module, request: RenderRequest, device: torch.device) -> tuple[torch.Tensor, float]:
    """render_vis one channel at a time, Lucent's defaults (as the seed notebook calls it)."""
    from lucent.optvis import param, render, transform

    spec = get_spec(request.model)
    model = copy.deepcopy(model)  # render_vis leaves hooks on every module: keep them off the shared model
    transforms = list(transform.standard_transforms)
    transforms.append(lambda x: spec.preprocess.apply(x))  # the model's own input transform, as data
    images = []
    sync(device)
    cpu_started = time.process_time()
    started = time.perf_counter()
    for c in request.channels:
        torch.manual_seed(request.seed)
        np.random.seed(request.seed)
        out = render.render_vis(
            model, f"{request.layer.replace('.', '_')}:{c}",
            param_f=lambda: param.image(request.size, fft=request.fft, decorrelate=request.decorrelate),
            transforms=transforms, preprocess=False, thresholds=(request.steps,),
            show_image=False, progress=False,
        )
        images.append(torch.from_numpy(out[-1][0]).permute(2, 0, 1))
    sync(device)
    return torch.stack(images), time.perf_counter() - started, time.process_time() - cpu_started


def run_featviz(model, request, device, batch_size, targets=None):
    """featviz's render; with ``targets`` also the time at which the shared evaluation first reaches it."""
    sync(device)
    cpu_started = time.process_time()
    started = time.perf_counter()
    eval_time = 0.0
    eval_cpu = 0.0
    reached: dict[float, float] = {}
    every = 8 if targets else request.steps
    last = None
    for snapshot in render_iter(request, model=model, device=device, batch_size=batch_size, snapshot_every=every):
        last = snapshot
        if targets:
            tick = time.perf_counter()
            cpu_tick = time.process_time()
            images = torch.from_numpy(snapshot.images).permute(0, 3, 1, 2).float().div(255).to(device)
            value = float(evaluate(model, request.replace(upsample=True), images).mean())
            sync(device)
            eval_time += time.perf_counter() - tick
            eval_cpu += time.process_time() - cpu_tick
            for target in targets:
                if target not in reached and value >= target:
                    reached[target] = (time.perf_counter() - started - eval_time, snapshot.step)
    sync(device)
    wall = time.perf_counter() - started - eval_time
    cpu = time.process_time() - cpu_started - eval_cpu
    images = torch.from_numpy(last.images).permute(0, 3, 1, 2).float().div(255)
    return images, wall, cpu, reached


def shared_evaluation(model, request, images, device) -> float:
    """Mean target activation of the images (no transforms, upsampled to 224 like Lucent's input)."""
    return float(evaluate(model, request.replace(upsample=True), images.to(device)).mean())


def neutral_evaluation(model, request, images, device) -> float:
    """Mean neutral score of the images (eight fixed views, see featviz_core.render.neutral_score)."""
    return float(neutral_score(model, request.model, request.objectives(), images.to(device)).mean())


def main() -> None:
    parser = render_parser(__doc__, models="inceptionv1,efficientnet-lite0")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="featviz images per pass (default: its own)")
    parser.add_argument("--no-native", action="store_true", help="skip the native-resolution (no upsampling) run")
    parser.add_argument("--no-lucent", action="store_true", help="featviz only (Lucent rows left out)")
    args = parser.parse_args()
    device = torch.device(args.device)
    channels = parse_channels(args.channels)
    print(f"# featviz vs torch-lucent\n\nmachine: {machine()}, load average at start {os.getloadavg()[0]:.1f}\n"
          f"settings: channels {args.channels} ({len(channels)}), {args.steps} steps, {args.size} px, "
          f"Fourier + decorrelation, Adam lr 0.05; Lucent with its standard_transforms\n")
    for name in model_names(args.models):
        layer = default_layer(name)
        model = bench_model(name, device)
        request = RenderRequest(model=name, layer=layer, channels=channels, steps=args.steps, size=args.size)
        weights = "random weights" if name == "inceptionv1" else "ImageNet weights"
        rows = []
        t = time.perf_counter()
        model_for_render(model, (layer,))  # one-time per process, reported separately
        prep = time.perf_counter() - t
        lucent_value = None
        if not args.no_lucent:
            with PeakMemory(device) as mem:
                lucent_images, lucent_wall, lucent_cpu = run_lucent(model, request, device)
            lucent_value = shared_evaluation(model, request, lucent_images, device)
            rows.append(["torch-lucent render_vis (one channel at a time)", lucent_wall, lucent_cpu, lucent_value,
                         neutral_evaluation(model, request, lucent_images, device), mem, None, os.getloadavg()[0]])
        targets = [lucent_value] if lucent_value is not None else None
        runs = [("featviz `standard` transforms (batched, stops at the layer)", request, True),
                ("featviz `--transforms lucent` (Lucent's transforms, same algorithm)",
                 request.replace(transforms="lucent"), False)]
        if not args.no_native:
            runs.append(("featviz, native resolution (no upsampling)", request.replace(upsample=False), True))
        for label, variant, with_reach in runs:
            # Time and memory come from a plain run; time-to-quality from a second run that evaluates every
            # 8 steps (evaluation time excluded), so the evaluations never inflate the memory or time columns.
            with PeakMemory(device) as mem:
                images, wall, cpu, _ = run_featviz(model, variant, device, args.batch_size)
            load = os.getloadavg()[0]  # other processes on the machine: high values make the times unreliable
            reached = run_featviz(model, variant, device, args.batch_size, targets)[3] if targets and with_reach else {}
            rows.append([label, wall, cpu, shared_evaluation(model, request, images, device),
                         neutral_evaluation(model, request, images, device), mem,
                         reached.get(lucent_value) if with_reach else "skip", load])
        base = rows[0][1] if lucent_value is not None else None
        base_cpu = rows[0][2] if lucent_value is not None else None
        image_steps = len(channels) * args.steps
        out = []
        for label, wall, cpu, value, neutral, mem, ttq, load in rows:
            memory = f"{mem.cuda_mb:.0f} (GPU)" if device.type == "cuda" else f"{mem.rss_mb:.0f}"
            if label.startswith("torch") or ttq == "skip":
                reach = "-"
            elif ttq is None:
                reach = "not reached" if base else "-"
            else:
                reach = f"step {ttq[1]}: {ttq[0]:.1f} s ({base / ttq[0]:.1f}x)"
            out.append([
                label, f"{wall:.1f}", f"{cpu:.1f}", f"{wall / image_steps * 1000:.1f}",
                f"{base / wall:.2f}x" if base else "-", f"{base_cpu / cpu:.2f}x" if base_cpu else "-",
                memory, f"{value:.2f}", f"{neutral:.2f}", reach, f"{load:.1f}",
            ])
        print(f"## {name} `{layer}` ({weights}), device {device}\n")
        print(table(["run", "wall s", "CPU s", "ms / image-step", "speed-up (wall)", "speed-up (CPU time)",
                     "peak memory MB", "mean target activation (bare view)", "neutral score (8 views)",
                     "time to Lucent's final activation", "load average after the run"], out))
        print(f"\nfeatviz one-time render-variant build (per process, not in the wall times): {prep:.1f} s\n")


if __name__ == "__main__":
    main()
