"""Atlas throughput: channels per minute in one process versus Ray actors, on the same request.

    python bench/atlas.py                                   # EfficientNet-Lite0 _blocks.2, 32 steps, 64 px
    python bench/atlas.py --layers _blocks.10 --steps 64 --size 128 --workers 2
    python bench/atlas.py --model inceptionv1 --random-weights --layers mixed4a --steps 512 --size 128 \\
        --device cuda --workers 1,2,4 --gpus-per-worker 0.25      # on a GPU machine: actors sharing one card
    python bench/atlas.py --gallery                         # also: a Gallery page of 60 tiles in chromium
    python bench/atlas.py --engines none --gallery          # only the Gallery

Each engine fills a fresh temporary store. *wall* includes everything a user waits for (Ray start, actors
loading the model, warm-up); *steady* counts only channels finished after the first batch came back, over
the time since. The images of every run are compared with the first run's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, table  # noqa: E402


def run_engine(name: str, args, out: Path, workers: int | None = None) -> dict:
    from featviz_core.atlas.runner import build_atlas

    if name == "local":
        from featviz_core.atlas.local import LocalEngine

        engine = LocalEngine(device=args.device, threads=args.threads)
    else:
        from featviz_core.atlas.ray_engine import RayEngine

        engine = RayEngine(args.address, workers=workers, cpus_per_worker=args.cpus_per_worker,
                           gpus_per_worker=args.gpus_per_worker)
    marks: list[tuple[float, int]] = []
    started = time.perf_counter()
    summary = build_atlas(out, args.model, args.layers, {"steps": args.steps, "size": args.size, "seed": 0},
                          engine=engine, batch=args.batch,
                          progress=lambda p: marks.append((time.perf_counter(), p.rendered)))
    wall = time.perf_counter() - started
    first_time, first_count = marks[0]
    steady = (summary.rendered - first_count) / (marks[-1][0] - first_time) * 60 if len(marks) > 1 else float("nan")
    return {"engine": summary.engine, "channels": summary.rendered, "wall": wall,
            "per_minute": summary.rendered / wall * 60, "steady": steady, "first_batch": first_time - started}


def same_images(a: Path, b: Path) -> str:
    from featviz_core.atlas.store import AtlasStore, read_entry

    first, second = AtlasStore.open(a), AtlasStore.open(b)
    pixels = all((read_entry(first.image_path(layer, c))[0] == read_entry(second.image_path(layer, c))[0]).all()
                 for layer in first.activations for c in first.done(layer))
    values = first.activations == second.activations
    return "identical" if pixels and values else ("same pixels" if pixels else "differ")


GALLERY_LAYER = "_blocks.11"  # 192 channels: pages of 60, 60, 60 and 12
READY = """first => {
  const main = document.querySelector('[data-testid="stMain"]');
  const images = [...main.querySelectorAll('[data-testid="stImage"] img')];
  const links = [...main.querySelectorAll('[data-testid="stPageLink-NavLink"]')];
  return images.length === 60 && images.every(i => i.complete && i.naturalWidth > 0)
         && links.length > 0 && links[0].innerText.trim() === String(first);
}"""


def gallery_timing(folder: Path) -> list[tuple[str, float]]:
    """Seconds until a Gallery page shows 60 decoded 128 px tiles in chromium: opening the page on a fresh
    server and again, then each new page of the layer picked from the Page list. The atlas is rendered with
    1 step at native resolution: the pixels do not matter here, only their number and size."""
    from playwright.sync_api import sync_playwright

    from bench.app_first_snapshot import CHROMIUM_ARGS, start_server
    from featviz_core.atlas.runner import build_atlas

    build_atlas(folder / "gallery", "efficientnet-lite0", GALLERY_LAYER, {"steps": 1, "size": 128, "upsample": False},
                batch=32)
    os.environ["FEATVIZ_ATLAS_DIR"] = str(folder)
    times = []
    with tempfile.TemporaryDirectory() as cache:
        process, base = start_server(cache)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1600})

                def wait(first: int) -> float:
                    while not page.evaluate(READY, first):
                        time.sleep(0.01)
                    return time.monotonic()

                for name in ("open /gallery (fresh server)", "open /gallery again"):
                    opened = time.monotonic()
                    page.goto(f"{base}/gallery")
                    times.append((name, wait(0) - opened))
                for first in (60, 120):
                    page.mouse.move(0, 0)  # no hover toolbar over the list
                    page.get_by_role("combobox", name="Page").click()
                    option = page.get_by_role("option", name=f"channels {first}-{first + 59}")
                    picked = time.monotonic()
                    option.click()
                    times.append((f"Page list -> channels {first}-{first + 59}", wait(first) - picked))
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=20)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--layers", default="_blocks.2")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4, help="channels per batch (the same for every engine)")
    parser.add_argument("--engines", default="local,ray")
    parser.add_argument("--workers", default="2", help="Ray actor counts to try, e.g. 1,2,4")
    parser.add_argument("--cpus-per-worker", type=int, default=1)
    parser.add_argument("--gpus-per-worker", type=float, default=1.0)
    parser.add_argument("--address", default="")
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="local engine threads (default: torch's)")
    parser.add_argument("--random-weights", action="store_true",
                        help="InceptionV1 with seeded random weights (its real ones cannot be downloaded here)")
    parser.add_argument("--gallery", action="store_true", help="time a Gallery page of 60 tiles in chromium")
    args = parser.parse_args()

    temp = Path(tempfile.mkdtemp(prefix="featviz-atlas-bench-"))
    if args.random_weights:
        import torch

        from featviz_core.models import get_spec, random_model

        weights = temp / get_spec(args.model).weights.filename
        torch.save(random_model(args.model, seed=0).state_dict(), weights)
        os.environ[get_spec(args.model).weights.env_var] = str(weights)

    print(f"# featviz atlas: {args.model} `{args.layers}`, {args.steps} steps, {args.size} px, "
          f"batches of {args.batch}\n\nmachine: {machine()}; load average {os.getloadavg()[0]:.1f} at start\n")
    rows, first_store = [], None
    runs = [("local", None)] if "local" in args.engines.split(",") else []
    if "ray" in args.engines.split(","):
        runs += [("ray", int(w)) for w in args.workers.split(",")]
    for name, workers in runs:
        out = temp / f"{name}-{workers or 1}"
        result = run_engine(name, args, out, workers)
        agreement = "-" if first_store is None else same_images(first_store, out)
        first_store = first_store or out
        rows.append([result["engine"], result["channels"], f"{result['wall']:.1f}", f"{result['first_batch']:.1f}",
                     f"{result['per_minute']:.1f}", f"{result['steady']:.1f}", agreement])
        print(f"{result['engine']}: {result['wall']:.1f} s", file=sys.stderr, flush=True)
    if rows:
        print(table(["engine", "channels", "wall s", "first batch s", "channels / min (wall)",
                     "channels / min (steady)", "vs first run"], rows))
    if args.gallery:
        load = os.getloadavg()[0]
        rows = [[name, f"{seconds:.2f}"] for name, seconds in gallery_timing(temp / "atlases")]
        print(f"\nGallery in chromium, 60 tiles of 128 px (EfficientNet-Lite0 {GALLERY_LAYER}); load average "
              f"{load:.1f} -> {os.getloadavg()[0]:.1f}\n")
        print(table(["action", "seconds until 60 tiles are decoded"], rows))

if __name__ == "__main__":
    main()
