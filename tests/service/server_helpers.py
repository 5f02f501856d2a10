"""A real ``streamlit run app.py`` server on a free localhost port, its /proc figures, and a health poller."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
from local_servers import CHROMIUM, CHROMIUM_ARGS, free_port  # noqa: F401  (re-exported for the tests here)


class AppServer:
    """``streamlit run app.py`` in its own process, stopped (and checked stopped) by :meth:`stop`."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "server.log"
        # The Streamlit settings of the Docker image (see Dockerfile), so the server is the deployed one.
        full_env = {**os.environ, "FEATVIZ_DEVICE": "cpu", "FEATVIZ_CACHE_DIR": str(workdir / "cache"),
                    "STREAMLIT_RUNNER_POST_SCRIPT_GC": "false", "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
                    **env}
        self.env = full_env
        self._log = open(self.log_path, "w")
        args = ["streamlit", "run", "app.py", "--server.port", str(self.port), "--server.address", "127.0.0.1",
                "--server.headless", "true", "--browser.gatherUsageStats", "false"]
        # `streamlit run`, plus a way to see every thread's stack on demand (SIGUSR1 -> the log) when a
        # test needs to know where the server is stuck.
        launcher = ("import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
                    f"sys.argv = {args!r}; from streamlit.web.cli import main; main()")
        self.process = subprocess.Popen([sys.executable, "-c", launcher], cwd=ROOT, env=full_env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_healthy(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"the server did not answer /_stcore/health within {timeout_s:g} s:\n{self.log()}")

    def status(self) -> dict[str, int]:
        """Threads, VmRSS and VmHWM (kB) of the server process, from /proc."""
        values = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("Threads", "VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
        return values

    def thread_dump(self, only: tuple[str, ...] = ()) -> str:
        """Every thread's stack, written by the server into its log; with ``only``, the threads whose stack
        names one of those words (say "scriptrunner", for the scripts running)."""
        before = self.log_path.stat().st_size
        os.kill(self.process.pid, signal.SIGUSR1)
        time.sleep(1.0)
        self._log.flush()
        dump = self.log_path.read_text()[before:]
        if only:
            threads = dump.split("\n\n")
            dump = "\n\n".join(t for t in threads if any(word in t for word in only)) or "(none)"
        return dump[-8000:]

    def counters(self) -> str:
        """The service's counters (its FEATVIZ_STATS_FILE), as the server last wrote them."""
        path = self.env.get("FEATVIZ_STATS_FILE")
        try:
            return Path(path).read_text() if path else "(no FEATVIZ_STATS_FILE)"
        except OSError as exc:
            return f"(unreadable: {exc})"

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(20)
        self._log.close()


@dataclass
class HealthPoller:
    """Polls /_stcore/health (and samples the server's RSS and threads) until stopped."""

    server: AppServer
    interval_s: float = 0.25
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(f"{self.server.url}/_stcore/health", timeout=15) as response:
                    body = response.read()
                    if response.status != 200 or body.strip() != b"ok":
                        self.failures.append(f"status {response.status}: {body[:80]!r}")
            except OSError as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
            self.latencies.append(time.perf_counter() - started)
            try:
                status = self.server.status()
                self.rss_kb.append(status["VmRSS"])
                self.threads.append(status["Threads"])
            except OSError:
                pass
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "HealthPoller":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)
