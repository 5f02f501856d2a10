"""Seconds from pressing Render in the Explorer to the first live snapshot on screen, in a real browser.

    python bench/app_first_snapshot.py                  # 3 channels, 48 steps, 64 px, a snapshot every 4 steps
    python bench/app_first_snapshot.py --steps 96 --size 128 --channels 10

Starts ``streamlit run app.py`` on a free port with a temporary cache, drives Debian's chromium with
playwright, and renders twice: first on a fresh server (the model and its kernels warm up during that
render), then again with another seed. Prints one row per render.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def start_server(cache: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "FEATVIZ_CACHE_DIR": cache, "FEATVIZ_DEVICE": os.environ.get("FEATVIZ_DEVICE", "cpu")}
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                                "--server.headless", "true", "--server.address", "localhost"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://localhost:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return process, base
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the app server did not start")


def one_render(page, base: str, args, seed: int) -> tuple[float, float]:
    page.goto(base)
    page.get_by_role("button", name="Render").wait_for(timeout=120_000)
    for label, value in (("First channel", 0), ("Last channel", args.channels - 1), ("Steps", args.steps),
                         ("Image size (px)", args.size), ("Seed", seed), ("Snapshot every (steps)", args.every)):
        field = page.get_by_label(label, exact=True)
        field.fill(str(value))
        field.press("Tab")
    clicked = time.monotonic()
    page.get_by_role("button", name="Render").click()
    page.locator('[data-testid="stProgress"]').wait_for(timeout=600_000)
    page.locator('[data-testid="stImage"] img').first.wait_for(timeout=600_000)
    first = time.monotonic() - clicked
    page.locator('[data-testid="stPlotlyChart"]').wait_for(timeout=1_800_000)
    return first, time.monotonic() - clicked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--every", type=int, default=4)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as cache:
        process, base = start_server(cache)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page()
                print(f"{args.channels} channels, {args.steps} steps, {args.size} px, snapshot every {args.every}; "
                      f"load average {os.getloadavg()[0]:.1f}")
                print("| render | first snapshot (s) | finished (s) |\n| --- | --- | --- |")
                for name, seed in (("fresh server", 1), ("second render", 2)):
                    first, total = one_render(page, base, args, seed)
                    print(f"| {name} | {first:.1f} | {total:.1f} |", flush=True)
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=20)


if __name__ == "__main__":
    main()
