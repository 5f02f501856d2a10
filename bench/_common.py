"""Helpers shared by the benchmark scripts: machine description, memory sampling, tables."""

from __future__ import annotations

import os
import platform
import threading
import time

import torch


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name(0)}"
    return text


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak resident memory (sampled every 5 ms) and peak CUDA memory above the level at entry."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_rss = 0
        self.peak_cuda = 0
        self._stop = threading.Event()

    def __enter__(self) -> "PeakMemory":
        self.base_rss = rss_bytes()
        self.peak_rss = self.base_rss
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base_cuda = torch.cuda.memory_allocated()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, rss_bytes())
            time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, rss_bytes())
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak_cuda = torch.cuda.max_memory_allocated() - self.base_cuda

    @property
    def rss_mb(self) -> float:
        return (self.peak_rss - self.base_rss) / 2**20

    @property
    def cuda_mb(self) -> float:
        return self.peak_cuda / 2**20


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A GitHub-flavoured markdown table."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = lambda values: "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "| " + " | ".join("-" * w for w in widths) + " |", *map(line, cells)])


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def render_parser(description: str, *, models: str, channels: str = "0-9", steps: int = 512, size: int = 128,
                  steps_help: str | None = None) -> "argparse.ArgumentParser":
    """The options every rendering benchmark takes (--models, --channels, --steps, --size), with its defaults;
    the script adds its own."""
    import argparse

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=models, help=f"comma-separated model names (default {models})")
    parser.add_argument("--channels", default=channels, help=f"channels of the default layer (default {channels})")
    parser.add_argument("--steps", type=int, default=steps, help=steps_help or f"optimization steps (default {steps})")
    parser.add_argument("--size", type=int, default=size, help=f"image side in pixels (default {size})")
    return parser


def model_names(text: str) -> list[str]:
    """``"a, b,"`` -> ["a", "b"]."""
    return [name.strip() for name in text.split(",") if name.strip()]


def bench_model(name: str, device: torch.device) -> torch.nn.Module:
    """The model a benchmark renders: its real weights, except InceptionV1's random ones (its pretrained file
    cannot be downloaded here, so its rows measure speed only)."""
    from featviz_core.models import load_model, random_model

    if name == "inceptionv1":
        return random_model(name, seed=0).to(device)
    return load_model(name, device)


def default_layer(name: str) -> str:
    """The layer a benchmark renders: the model's default (mixed4a, _blocks.10)."""
    from featviz_core.models import get_spec

    return get_spec(name).default_layer
