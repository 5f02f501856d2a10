"""Eager versus ``torch.compile`` (inductor) renders on the CPU, end to end, compile time apart.

For each model: one eager render, then one compiled render in the same process (its first step of each
batch shape compiles: that time is reported on its own), then a second compiled render (what every later
render in a process pays). Wall and CPU seconds side by side: on a shared machine wall time depends on the
other work, CPU time much less. Inductor compiles in this process (``TORCHINDUCTOR_COMPILE_THREADS=1``) so its
CPU time is counted.

    python bench/compile_cpu.py                                   # seed settings: 10 channels, 512 steps
    python bench/compile_cpu.py --steps 32 --channels 0-3         # quicker; 512-step totals extrapolated
"""

from __future__ import annotations

import os

os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, table, model_names, render_parser  # noqa: E402
from bench._common import bench_model, default_layer  # noqa: E402
from featviz_core.models.fast import model_for_render  # noqa: E402
from featviz_core.objectives.targets import parse_channels  # noqa: E402
from featviz_core.render import render  # noqa: E402
from featviz_core.render.compiled import compile_seconds_for  # noqa: E402
from featviz_core.request import RenderRequest  # noqa: E402


def timed_render(model, request, compile: bool) -> tuple[float, float, float, float, str]:
    """(wall s, CPU s, compile wall s, render wall s without compile, note) of one render."""
    variant = model_for_render(model, (request.layer,))
    before = compile_seconds_for(variant)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = render(request, model=model, device=torch.device("cpu"), compile=compile)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return wall, cpu, compile_seconds_for(variant) - before, result.elapsed_s, result.note


def main() -> None:
    parser = render_parser(__doc__, models="efficientnet-lite0,inceptionv1")
    parser.add_argument("--seed-steps", type=int, default=512, help="step count the totals are extrapolated to")
    args = parser.parse_args()
    channels = parse_channels(args.channels)
    print(f"# eager vs torch.compile on the CPU\n\nmachine: {machine()}\nsettings: channels {args.channels}, "
          f"{args.steps} steps, {args.size} px; load average at start {os.getloadavg()[0]:.1f}\n")
    for name in model_names(args.models):
        layer = default_layer(name)
        model = bench_model(name, torch.device("cpu"))
        model_for_render(model, (layer,))  # one-time per process, outside every timing
        request = RenderRequest(model=name, layer=layer, channels=channels, steps=args.steps, size=args.size)
        eager = timed_render(model, request, False)
        first = timed_render(model, request, True)
        later = timed_render(model, request, True)
        # The first compiled render's CPU time minus the later one's: CPU seconds spent compiling.
        compile_cpu = first[1] - later[1]
        scale = args.seed_steps / args.steps
        rows = [
            ["eager", f"{eager[0]:.1f}", f"{eager[1]:.1f}", "-", f"{eager[0] * scale:.0f}", f"{eager[1] * scale:.0f}"],
            ["compiled, first render in the process", f"{first[0]:.1f}", f"{first[1]:.1f}",
             f"{first[2]:.1f} wall / {compile_cpu:.1f} CPU", f"{first[2] + first[3] * scale:.0f}",
             f"{compile_cpu + later[1] * scale:.0f}"],
            ["compiled, later renders", f"{later[0]:.1f}", f"{later[1]:.1f}", "-", f"{later[0] * scale:.0f}",
             f"{later[1] * scale:.0f}"],
        ]
        print(f"## {name} `{layer}`{' (random weights)' if name == 'inceptionv1' else ''}\n")
        if first[4]:
            print(f"note: {first[4]}\n")
        print(table(["render", "wall s", "CPU s", "compile s", f"wall s at {args.seed_steps} steps",
                     f"CPU s at {args.seed_steps} steps"], rows))
        if scale != 1:
            print(f"\n(the last two columns are extrapolated from {args.steps} steps: render time x {scale:g}, "
                  "compile time once)")
        print(flush=True)


if __name__ == "__main__":
    main()
