"""featviz keeps a render's freed CPU memory for the next step (glibc's malloc settings, featviz_core.device)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from featviz_core.device import env_flag

# A small real render in a thread, as the app's render service runs one: page faults of each step after the
# second (the first steps map the memory either way).
_PROBE = textwrap.dedent("""
    import json, resource, threading
    import torch
    from featviz_core.device import keep_cpu_memory
    from featviz_core.models import random_model
    from featviz_core.render import render_iter
    from featviz_core.request import RenderRequest, parse_channels

    model = random_model("efficientnet-lite0", seed=0)
    request = RenderRequest(model="efficientnet-lite0", layer="_blocks.4", channels=parse_channels("0-5"), steps=10,
                            size=64, memory_format="channels_last")
    faults = []

    def render():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in render_iter(request, model=model, device=torch.device("cpu"), snapshot_every=1):
            now = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            faults.append(now - before)
            before = now

    thread = threading.Thread(target=render)
    thread.start()
    thread.join()
    print(json.dumps({"said": keep_cpu_memory(), "faults": faults}))
""")


def _probe(keep: str) -> dict:
    env = {**os.environ, "FEATVIZ_KEEP_CPU_MEMORY": keep}
    done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_freed_step_memory_is_reused_instead_of_mapped_again():
    glibc = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION")
    kept, default = _probe("1"), _probe("0")
    assert default["said"] == "glibc's defaults kept (FEATVIZ_KEEP_CPU_MEMORY=0)"
    if not glibc:  # nothing to set there, and it says so
        assert "not glibc" in kept["said"]
        return
    assert kept["said"] == "glibc keeps freed memory for reuse"
    assert len(kept["faults"]) == len(default["faults"]) == 10
    # kept: the steps after the second reuse their memory (a few faults in all); glibc's defaults map fresh
    # pages for much of every step (about 16,000 faults a step here)
    assert sum(kept["faults"][2:]) < 2_000, kept
    assert sum(default["faults"][2:]) > 10 * max(sum(kept["faults"][2:]), 100), (kept, default)


def test_the_setting_accepts_yes_and_no_and_says_what_is_allowed(monkeypatch):
    for raw, want in (("1", True), ("on", True), ("0", False), ("No", False), ("", True)):
        monkeypatch.setenv("FEATVIZ_KEEP_CPU_MEMORY", raw)
        assert env_flag("FEATVIZ_KEEP_CPU_MEMORY", True) is want
    monkeypatch.setenv("FEATVIZ_KEEP_CPU_MEMORY", "sometimes")
    with pytest.raises(ValueError, match="FEATVIZ_KEEP_CPU_MEMORY must be 1 or 0, got 'sometimes'"):
        env_flag("FEATVIZ_KEEP_CPU_MEMORY", True)


def test_a_bad_value_is_refused_when_the_service_starts_and_never_fails_a_render(monkeypatch):
    from featviz_core.config import ServiceSettings
    from featviz_core.device import keep_cpu_memory

    monkeypatch.setenv("FEATVIZ_KEEP_CPU_MEMORY", "sometimes")
    with pytest.raises(ValueError, match="FEATVIZ_KEEP_CPU_MEMORY must be 1 or 0, got 'sometimes'"):
        ServiceSettings.from_env()
    keep_cpu_memory.cache_clear()
    try:
        said = keep_cpu_memory()
    finally:
        keep_cpu_memory.cache_clear()
    assert said == "environment variable FEATVIZ_KEEP_CPU_MEMORY must be 1 or 0, got 'sometimes'; glibc's defaults kept"
