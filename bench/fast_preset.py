"""Measure the fast quality preset: the fewest steps at which featviz's images reach Lucent's 512-step quality.

For each model: torch-lucent's ``render_vis`` renders the channels with its defaults for ``--lucent-steps``
(512, the seed's count); featviz renders the same channels with its defaults, and every ``--every`` steps its
current images are scored. Quality is :func:`featviz_core.render.neutral_score.neutral_score` (mean over the channels of each
image's own-channel activation over 8 fixed views), which favours neither transform set. Both sides' images are
quantized to 8 bits before scoring (that is what a user gets). The fast step count is the first checkpoint at
which featviz's score is at least Lucent's; it goes into ``featviz_core/settings/step_presets.py`` by hand.

    python bench/fast_preset.py                                   # EfficientNet-Lite0, channels 0-3
    python bench/fast_preset.py --models efficientnet-lite0,inceptionv1
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, table, model_names, render_parser  # noqa: E402
from bench._common import bench_model, default_layer  # noqa: E402
from bench.compare_lucent import run_lucent  # noqa: E402
from featviz_core.models.fast import model_for_render  # noqa: E402
from featviz_core.objectives.targets import parse_channels  # noqa: E402
from featviz_core.render import final_images, render_iter  # noqa: E402
from featviz_core.render.neutral_score import neutral_score  # noqa: E402
from featviz_core.request import RenderRequest  # noqa: E402


def quantized(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) float in [0, 1] -> the same, rounded to 8 bits as a saved image is."""
    return (images.clamp(0, 1) * 255).round() / 255


def main() -> None:
    parser = render_parser(__doc__, models="efficientnet-lite0", channels="0-3", steps=256,
                           steps_help="featviz steps to run (checkpoints up to this)")
    parser.add_argument("--lucent-steps", type=int, default=512)
    parser.add_argument("--every", type=int, default=8, help="score featviz's images every this many steps")
    args = parser.parse_args()
    device = torch.device("cpu")
    channels = parse_channels(args.channels)
    print(f"# fast preset: featviz steps to reach Lucent's {args.lucent_steps}-step neutral score\n\n"
          f"machine: {machine()}\nsettings: channels {args.channels}, {args.size} px, defaults otherwise; "
          f"featviz scored every {args.every} steps (scoring time excluded)\n")
    for name in model_names(args.models):
        layer = default_layer(name)
        model = bench_model(name, device)
        model_for_render(model, (layer,))  # one-time per process, outside the timings
        base = RenderRequest(model=name, layer=layer, channels=channels, size=args.size)
        objectives = base.objectives()
        lucent_images, lucent_wall, lucent_cpu = run_lucent(model, base.replace(steps=args.lucent_steps), device)
        lucent_score = float(neutral_score(model, name, objectives, quantized(lucent_images.float())).mean())
        print(f"## {name} `{layer}`\n\nLucent {args.lucent_steps} steps: {lucent_wall:.1f} s wall, "
              f"{lucent_cpu:.1f} s CPU, neutral score {lucent_score:.3f}\n", flush=True)
        rows, reached = [], None
        scoring = 0.0
        started = time.perf_counter()
        cpu_started = time.process_time()
        scoring_cpu = 0.0
        for snapshot in render_iter(base.replace(steps=args.steps), model=model, device=device,
                                    snapshot_every=args.every):
            tick, cpu_tick = time.perf_counter(), time.process_time()
            score = float(neutral_score(model, name, objectives, final_images(snapshot)).mean())
            scoring += time.perf_counter() - tick
            scoring_cpu += time.process_time() - cpu_tick
            wall = time.perf_counter() - started - scoring
            cpu = time.process_time() - cpu_started - scoring_cpu
            if reached is None and score >= lucent_score:
                reached = (snapshot.step, wall, cpu)
            rows.append([snapshot.step, f"{wall:.1f}", f"{cpu:.1f}", f"{score:.3f}",
                         f"{score / lucent_score:.2f}", "<- reaches Lucent" if reached and reached[0] == snapshot.step else ""])
            print("  " + " | ".join(map(str, rows[-1])), flush=True)
        print()
        print(table(["featviz step", "wall s", "CPU s", "neutral score", "/ Lucent 512", ""], rows))
        if reached:
            print(f"\nfast step count for {name}: {reached[0]} (featviz {reached[1]:.1f} s wall / {reached[2]:.1f} s CPU "
                  f"vs Lucent {lucent_wall:.1f} s / {lucent_cpu:.1f} s: {lucent_wall / reached[1]:.1f}x wall, "
                  f"{lucent_cpu / reached[2]:.1f}x CPU)\n")
        else:
            print(f"\n{name}: Lucent's score not reached within {args.steps} steps\n")


if __name__ == "__main__":
    main()
