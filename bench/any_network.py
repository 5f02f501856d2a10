"""featviz versus torch-lucent's render_vis on networks featviz never registered, in one process.

The same module object (same weights), layer, channels, steps and image size on both sides; Lucent renders
one channel at a time, as the seed notebook does; featviz renders all channels in one batched optimization
that stops at the layer. Both images are then scored by one shared evaluation (mean target activation, no
transforms, upsampled to the model's size), and before any step both objectives are read on the same random
start images (the step-0 difference: 0 up to float rounding when both see the same layer). For a transformer layer both sides use the same objective: the
hidden unit averaged over the patch tokens (Lucent gets it as a custom objective; its built-in
"layer:n" would index a token instead).

    python bench/any_network.py                                   # the issue's table: 10 channels x 512 steps
    python bench/any_network.py --steps 8 --channels 0-1          # a quick check that it runs
    python bench/any_network.py --models torchvision:resnet50 --published   # published weights (downloaded)

Random weights by default (speed only: the published files cannot be downloaded on our machines).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, sync  # noqa: E402
from featviz_core.models import get_spec, layer_table, load_model  # noqa: E402
from featviz_core.models.activations import channels_first  # noqa: E402
from featviz_core.models.fast import render_model  # noqa: E402
from featviz_core.render import evaluate, render_iter  # noqa: E402
from featviz_core.request import RenderRequest, parse_channels  # noqa: E402

MODELS = "torchvision:googlenet,torchvision:resnet50,torchvision:vit_b_16"


def lucent_objective(layer: str, channel: int):
    """Lucent's channel objective on featviz's (B, C, H, W) view of the layer (the same definition)."""
    from lucent.optvis import objectives

    @objectives.wrap_objective()
    def channel_mean(layer_name: str, n: int):
        def inner(model):
            return -channels_first(model(layer_name))[:, n].mean()
        return inner

    return channel_mean(layer.replace(".", "_"), channel)


def run_lucent(model, request: RenderRequest, device: torch.device) -> tuple[torch.Tensor, float]:
    from lucent.optvis import param, render, transform

    spec = get_spec(request.model)
    model = copy.deepcopy(model)  # render_vis leaves hooks on every module: keep them off the shared model
    transforms = [*transform.standard_transforms, spec.preprocess.apply]
    images = []
    sync(device)
    started = time.perf_counter()
    for c in request.channels:
        torch.manual_seed(request.seed)
        np.random.seed(request.seed)
        out = render.render_vis(model, lucent_objective(request.layer, c),
                                param_f=lambda: param.image(request.size, fft=True, decorrelate=True),
                                transforms=transforms, preprocess=False, thresholds=(request.steps,),
                                show_image=False, progress=False, fixed_image_size=None)
        images.append(torch.from_numpy(out[-1][0]).permute(2, 0, 1))
    sync(device)
    return torch.stack(images), time.perf_counter() - started


def step0_difference(model, request: RenderRequest, device: torch.device) -> float:
    """Largest relative difference between featviz's and Lucent's objective on the same start images (one
    random image per channel, the bare view at the model's input size): 0 up to float rounding when both read
    the same layer through the same preprocessing."""
    import torch.nn.functional as F
    from lucent.optvis.render import hook_model

    spec = get_spec(request.model)
    images = torch.rand(len(request.channels), 3, request.size, request.size,
                        generator=torch.Generator().manual_seed(request.seed)).to(device)
    ours = torch.from_numpy(evaluate(model, request, images)).double()
    hooked = copy.deepcopy(model)
    theirs = []
    for i, channel in enumerate(request.channels):
        image = images[i:i + 1]
        hook = hook_model(hooked, lambda image=image: image)
        side = request.scoring_input_size
        with torch.no_grad():
            hooked(spec.preprocess.apply(F.interpolate(image, size=(side, side), mode="bilinear", align_corners=False)))
            theirs.append(-float(lucent_objective(request.layer, channel)(hook)))
    theirs_t = torch.tensor(theirs, dtype=torch.float64)
    return float((ours - theirs_t).abs().max() / theirs_t.abs().max().clamp(min=1e-12))


def run_featviz(model, request: RenderRequest, device: torch.device) -> tuple[torch.Tensor, float, str]:
    sync(device)
    started = time.perf_counter()
    last = None
    for last in render_iter(request, model=model, device=device, snapshot_every=request.steps):
        pass
    sync(device)
    return torch.from_numpy(last.images).permute(0, 3, 1, 2).float().div(255), time.perf_counter() - started, last.note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=MODELS, help=f"comma-separated model names (default {MODELS})")
    parser.add_argument("--channels", default="0-9")
    parser.add_argument("--steps", type=int, default=512)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--layer", default="", help="layer (default: each model's default layer)")
    parser.add_argument("--published", action="store_true", help="published weights instead of random ones")
    parser.add_argument("--no-lucent", action="store_true", help="featviz only")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--paths", default="float32/contiguous,auto/auto",
                        help="featviz's compute paths, precision/memory_format pairs, one row each (default: the seed "
                             "preset's float32/contiguous and the fast preset's auto/auto)")
    args = parser.parse_args()
    device = torch.device(args.device)
    channels = parse_channels(args.channels)
    print(f"# featviz vs torch-lucent on any network\n\nmachine: {machine()}, load average at start "
          f"{os.getloadavg()[0]:.1f}\nsettings: channels {args.channels} ({len(channels)}), {args.steps} steps, "
          f"{args.size} px upsampled to the model's size, Fourier + decorrelation, Adam lr 0.05, standard transforms\n")
    print("| model | layer | C x H x W | step-0 difference | Lucent s | featviz s | speed-up | Lucent act. | featviz act. "
          "| featviz note |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for base in args.models.split(","):
        name = base if args.published or "?" in base else f"{base}?weights=random"
        spec = get_spec(name)
        layer = args.layer or spec.default_layer
        info = {i.name: i for i in layer_table(name, spec.native_size)}[layer]
        model = load_model(name, device)
        request = RenderRequest(model=name, layer=layer, channels=channels, steps=args.steps, size=args.size)
        render_model(model, (layer,), request.model_input_size)  # the fast variant's one-time check, untimed
        step0 = step0_difference(model, request, device)
        lucent_s = lucent_act = float("nan")
        if not args.no_lucent:
            lucent_images, lucent_s = run_lucent(model, request, device)
            lucent_act = float(evaluate(model, request, lucent_images.to(device)).mean())
        for text in args.paths.split(","):
            precision, memory_format = text.strip().split("/")
            run = request.replace(precision=precision, memory_format=memory_format)
            images, featviz_s, note = run_featviz(model, run, device)
            featviz_act = float(evaluate(model, request, images.to(device)).mean())
            print(f"| {base} | {layer} | {info.channels}x{info.height}x{info.width} | {step0:.1e} | {lucent_s:.1f} | "
                  f"{featviz_s:.1f} ({text}) | {lucent_s / featviz_s:.2f}x | {lucent_act:.3f} | {featviz_act:.3f} | "
                  f"{note or 'fast variant'} |", flush=True)


if __name__ == "__main__":
    main()
