"""Image-steps per second as the batch grows and as the image grows, on one device.

    python bench/scaling.py                       # CPU: batches 1, 10, 64 and a whole layer; sizes 64-512
    python bench/scaling.py --device cuda --steps 32
    python bench/scaling.py --batch-sizes 1,2,4,8  # featviz's chunk size (images per forward pass) sweep

The first ``--warmup`` steps of every run are not timed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import PeakMemory, machine, sync, table  # noqa: E402
from bench._common import bench_model, default_layer  # noqa: E402
from featviz_core.models import layer_table  # noqa: E402
from featviz_core.models.fast import model_for_render  # noqa: E402
from featviz_core.render import render_iter  # noqa: E402
from featviz_core.request import RenderRequest  # noqa: E402


def throughput(model, request, device, warmup, batch_size=None):
    times = {}
    for snapshot in render_iter(request, model=model, device=device, snapshot_every=warmup, batch_size=batch_size):
        sync(device)
        times[snapshot.step] = time.perf_counter()
    measured = request.steps - warmup
    seconds = times[request.steps] - times[warmup]
    return len(request.channels) * measured / seconds, seconds / measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="inceptionv1")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batches", default="1,10,64,layer", help="channel counts; 'layer' = every channel")
    parser.add_argument("--sizes", default="64,128,224,512")
    parser.add_argument("--batch-sizes", default="", help="also sweep featviz's chunk size at 10 channels")
    args = parser.parse_args()
    device = torch.device(args.device)
    layer = default_layer(args.model)
    model = bench_model(args.model, device)
    model_for_render(model, (layer,))
    channels_in_layer = {i.name: i.channels for i in layer_table(args.model, 224)}[layer]
    steps = args.warmup + args.steps
    print(f"# featviz scaling: {args.model} `{layer}` on {device}\n\nmachine: {machine()}\n"
          f"{args.steps} timed steps after {args.warmup} warm-up step(s); 128 px upsampled to 224 unless stated\n")

    rows = []
    for item in args.batches.split(","):
        count = channels_in_layer if item == "layer" else int(item)
        request = RenderRequest(model=args.model, layer=layer, channels=f"0-{count - 1}", steps=steps, size=128)
        with PeakMemory(device) as mem:
            rate, per_step = throughput(model, request, device, args.warmup)
        memory = f"{mem.cuda_mb:.0f} (GPU)" if device.type == "cuda" else f"{mem.rss_mb:.0f}"
        rows.append([f"{count}{' (whole layer)' if item == 'layer' else ''}", f"{rate:.1f}", f"{per_step * 1000:.0f}", memory])
    print("## As the batch grows (channels rendered together)\n")
    print(table(["channels", "image-steps / s", "ms / step", "peak memory MB"], rows))

    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        for upsample in (True, False):
            request = RenderRequest(model=args.model, layer=layer, channels="0-9", steps=steps, size=size, upsample=upsample)
            rate, per_step = throughput(model, request, device, args.warmup)
            rows.append([size, request.model_input_size, "upsampled" if upsample and size < 224 else "native",
                         f"{rate:.1f}", f"{per_step * 1000:.0f}"])
            if size >= 224:
                break  # Lucent's upsampling only applies below 224 px
    print("\n## As the image grows (10 channels)\n")
    print(table(["image px", "model input px", "mode", "image-steps / s", "ms / step"], rows))

    if args.batch_sizes:
        rows = []
        request = RenderRequest(model=args.model, layer=layer, channels="0-9", steps=steps, size=128)
        for chunk in [int(b) for b in args.batch_sizes.split(",")]:
            rate, per_step = throughput(model, request, device, args.warmup, batch_size=chunk)
            rows.append([chunk, f"{rate:.1f}", f"{per_step * 1000:.0f}"])
        print("\n## Images per forward pass (10 channels, 128 px upsampled)\n")
        print(table(["images per pass", "image-steps / s", "ms / step"], rows))


if __name__ == "__main__":
    main()
