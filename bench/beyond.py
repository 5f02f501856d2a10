"""Renders beyond one image per channel: featviz beside torch-lucent where Lucent has the render, and what
each of featviz's other kinds costs beside a plain render, in one run.

Diversity is the one kind both have: Lucent as its diversity notebook writes it (``param.image(size,
batch=N)``, objective ``channel - 100 * diversity(layer)``, its standard transforms) and featviz's
``--diversity N`` with the same weight, on the same model object, layer, channel, steps and size. Both final
sets are judged alike: the mean target activation on one bare view (224 px, no transforms) and how far apart
the N images are in style (mean pairwise cosine distance of their normalized Gram matrices at the layer, what
the diversity term pushes apart; 0 = identical style). Negatives, interpolation, transparency and
photo-seeded renders have no Lucent counterpart (Lucent has no transparency and no aligned interpolation);
their rows give featviz's time per image-step beside featviz's plain render of the same image count.

    python bench/beyond.py                                          # EfficientNet-Lite0, 256 steps, 128 px
    python bench/beyond.py --steps 64 --size 96 --diversity 4       # a quick look
"""

from __future__ import annotations

import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import bench_model, default_layer, machine, model_names, render_parser, table  # noqa: E402
from featviz_core.method.diversity import DIVERSITY_WEIGHT, normalized_grams  # noqa: E402
from featviz_core.models import get_spec  # noqa: E402
from featviz_core.models.capture import capture_layers  # noqa: E402
from featviz_core.models.fast import model_for_render  # noqa: E402
from featviz_core.objectives.targets import parse_channels  # noqa: E402
from featviz_core.photos.store import add_photo  # noqa: E402
from featviz_core.render import evaluate, render  # noqa: E402
from featviz_core.request import RenderRequest  # noqa: E402

def style_distance(model, request: RenderRequest, images: torch.Tensor) -> float:
    """Mean pairwise cosine distance of the images' normalized Gram matrices at the request's layer."""
    spec = get_spec(request.model)
    x = torch.nn.functional.interpolate(images, size=(spec.native_size,) * 2, mode="bilinear", align_corners=False)
    with torch.no_grad():
        acts = capture_layers(model, [request.layer], spec.preprocess.apply(x))[request.layer]
    grams = normalized_grams(acts)
    similarity = grams @ grams.T
    count = len(images)
    return float((1 - similarity)[~torch.eye(count, dtype=torch.bool)].mean())


def target_activation(model, request: RenderRequest, images: torch.Tensor) -> float:
    """Mean activation of the request's channel on one bare view of each image."""
    plain = request.replace(diversity=1, channels=request.channels[:1])
    return float(evaluate(model, plain, images, plain.objectives() * len(images)).mean())


def lucent_diversity(model, request: RenderRequest) -> tuple[torch.Tensor, float]:
    """Lucent's diversity notebook: N images in one batch, channel - weight * diversity(layer)."""
    from lucent.optvis import objectives, param, render as lucent_render, transform

    spec = get_spec(request.model)
    model = copy.deepcopy(model)  # render_vis leaves hooks on every module: keep them off the shared model
    layer = request.layer.replace(".", "_")
    objective = objectives.channel(layer, request.channels[0]) - request.diversity_weight * objectives.diversity(layer)
    transforms = [*transform.standard_transforms, lambda x: spec.preprocess.apply(x)]
    torch.manual_seed(request.seed)
    np.random.seed(request.seed)
    started = time.perf_counter()
    out = lucent_render.render_vis(model, objective, param_f=lambda: param.image(request.size, batch=request.diversity),
                                   transforms=transforms, preprocess=False, thresholds=(request.steps,),
                                   show_image=False, progress=False)
    return torch.from_numpy(out[-1]).permute(0, 3, 1, 2).float(), time.perf_counter() - started


def featviz_run(model, request: RenderRequest) -> tuple[torch.Tensor, float]:
    started = time.perf_counter()
    result = render(request, model=model, device=torch.device("cpu"))
    images = torch.from_numpy(result.images[..., :3]).permute(0, 3, 1, 2).float() / 255
    return images, time.perf_counter() - started


def start_photo() -> str:
    """A picture to start from (a drawn colour gradient: the cost does not depend on what it shows), kept for
    renders; returns its digest."""
    pixels = np.linspace(0, 255, 128 * 128 * 3).reshape(128, 128, 3).astype(np.uint8)
    return add_photo(Image.fromarray(pixels))


def main() -> None:
    parser = render_parser(__doc__, models="efficientnet-lite0", channels="3", steps=256)
    parser.add_argument("--diversity", type=int, default=4, help="images per objective (default 4)")
    parser.add_argument("--no-lucent", action="store_true", help="featviz only")
    args = parser.parse_args()
    channels = parse_channels(args.channels)
    print(f"# beyond one image per channel\n\nmachine: {machine()}, load average at start {os.getloadavg()[0]:.1f}\n"
          f"settings: channel {channels[0]}, {args.steps} steps, {args.size} px, diversity {args.diversity} "
          f"(weight {DIVERSITY_WEIGHT:g}), Fourier + decorrelation, Adam lr 0.05, CPU\n")
    for name in model_names(args.models):
        model = bench_model(name, torch.device("cpu"))
        layer = default_layer(name)
        model_for_render(model, (layer,))  # one-time per process, outside the timings
        base = RenderRequest(model=name, layer=layer, channels=channels[:1], steps=args.steps, size=args.size)
        diverse = base.replace(diversity=args.diversity)
        rows = []
        runs = [("featviz, N seeds, no diversity term", [base.replace(seed=s) for s in range(args.diversity)]),
                (f"featviz `--diversity {args.diversity}`", [diverse])]
        if not args.no_lucent:
            images, wall = lucent_diversity(model, diverse)
            rows.append(["Lucent diversity notebook", f"{wall:.1f}", "1.00x", f"{target_activation(model, base, images):.2f}",
                         f"{style_distance(model, base, images):.3f}"])
        lucent_wall = float(rows[0][1]) if rows else None
        for label, requests in runs:
            parts = [featviz_run(model, r) for r in requests]
            images = torch.cat([p[0] for p in parts])
            wall = sum(p[1] for p in parts)
            speedup = f"{lucent_wall / wall:.2f}x" if lucent_wall else "-"
            rows.append([label, f"{wall:.1f}", speedup, f"{target_activation(model, base, images):.2f}",
                         f"{style_distance(model, base, images):.3f}"])
        print(f"## {name} {layer}:{channels[0]}, diversity\n")
        print(table(["run", "wall s", "speed-up vs Lucent", "mean target activation", "style distance"], rows))

        digest = start_photo()
        pair = f"{layer}:{channels[0]},{layer}:{channels[0] + 1}"
        kinds = [
            ("plain, 4 channels", base.replace(channels=tuple(range(channels[0], channels[0] + 4)))),
            ("negatives beside positives, 2 channels", base.replace(channels=(channels[0], channels[0] + 1), negative=True)),
            ("interpolation, 4 frames", base.replace(channels=(), interpolate=pair, frames=4)),
            ("transparent, 4 channels", base.replace(channels=tuple(range(channels[0], channels[0] + 4)), alpha=True)),
            ("from a photo, pull 0.5, 4 channels", base.replace(channels=tuple(range(channels[0], channels[0] + 4)),
                                                                init=digest, init_l2=0.5)),
        ]
        rows = []
        plain_rate = None
        for label, request in kinds:
            _, wall = featviz_run(model, request)
            rate = wall / (len(request.images()) * request.steps) * 1000
            plain_rate = plain_rate or rate
            rows.append([label, len(request.images()), f"{wall:.1f}", f"{rate:.1f}", f"{rate / plain_rate:.2f}x"])
        print(f"\n## {name} {layer}: featviz's other kinds (no Lucent counterpart)\n")
        print(table(["render", "images", "wall s", "ms / image-step", "cost vs plain"], rows))
        print(f"\nload average after the run {os.getloadavg()[0]:.1f}\n")


if __name__ == "__main__":
    main()
