"""Weight files from strangers: only plain tensors are ever loaded, and only after their checksum matched.

The InceptionV1 fetch that the Docker build runs (``python -m featviz_core fetch-weights``) is exercised end
to end against an HTTP server on localhost: recorded digest, enforced digest, wrong digest, a dropped
connection resumed with a Range request, and a checkpoint that carries code.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from featviz_core.errors import WeightsUnavailable
from featviz_core.models import get_spec, load_model, load_state_dict_safely, random_model, resolve_weights

ROOT = Path(__file__).resolve().parents[2]


class Payload:
    """Runs code when unpickled (what a hostile checkpoint would do): it writes a marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code ran')",))


def hostile_checkpoint(path: Path, marker: Path) -> Path:
    """A torch checkpoint that looks like a state dict but carries a code payload."""
    torch.save({"weight": torch.zeros(2, 3, 1, 1), "bias": torch.zeros(2), "extra": Payload(marker)}, path)
    return path


def test_the_hostile_checkpoint_really_runs_code_when_loaded_unsafely(tmp_path):
    """Control: without weights_only the payload runs (in a child process), so the refusal below is real."""
    marker = tmp_path / "unsafe-marker"
    path = hostile_checkpoint(tmp_path / "evil.pth", marker)
    code = f"import torch; torch.load({str(path)!r}, weights_only=False)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
    assert marker.read_text() == "code ran"


def test_hostile_checkpoint_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "marker"
    path = hostile_checkpoint(tmp_path / "evil.pth", marker)
    with pytest.raises(WeightsUnavailable, match=r"refusing to load .*evil\.pth: it is not a plain tensor checkpoint"):
        load_state_dict_safely(path)
    assert not marker.exists()


def test_plain_pickle_with_code_is_refused(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "legacy.pth"
    path.write_bytes(pickle.dumps({"weight": Payload(marker)}, protocol=2))
    with pytest.raises(WeightsUnavailable, match="refusing to load"):
        load_state_dict_safely(path)
    assert not marker.exists()


@pytest.mark.parametrize("content, message", [
    ({"weight": torch.zeros(1), "note": "hello"}, "does not hold a dictionary of tensors"),
    ([torch.zeros(1)], "does not hold a dictionary of tensors"),
])
def test_checkpoints_that_are_not_a_dict_of_tensors_are_refused(tmp_path, content, message):
    path = tmp_path / "odd.pth"
    torch.save(content, path)
    with pytest.raises(WeightsUnavailable, match=message):
        load_state_dict_safely(path)


def test_truncated_checkpoint_is_refused(tmp_path):
    path = tmp_path / "cut.pth"
    torch.save({"weight": torch.zeros(64, 64)}, path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(WeightsUnavailable, match="refusing to load"):
        load_state_dict_safely(path)


def test_load_model_refuses_a_hostile_local_file_named_by_the_environment(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    path = hostile_checkpoint(tmp_path / "inception5h.pth", marker)
    monkeypatch.setenv("FEATVIZ_INCEPTIONV1_WEIGHTS", str(path))
    with pytest.raises(WeightsUnavailable, match="refusing to load"):
        load_model("inceptionv1", "cpu")
    assert not marker.exists()


def test_a_local_file_with_the_wrong_checksum_is_never_unpickled(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    path = hostile_checkpoint(tmp_path / "inception5h.pth", marker)
    monkeypatch.setenv("FEATVIZ_INCEPTIONV1_WEIGHTS", str(path))
    monkeypatch.setenv("FEATVIZ_INCEPTIONV1_SHA256", "ab" * 32)
    with pytest.raises(WeightsUnavailable, match="refusing to load .* its SHA-256 is"):
        load_model("inceptionv1", "cpu")
    assert not marker.exists()


# ----- the fetch the Docker build runs, against a localhost server ------------------------------------------
@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """name -> bytes served: a real InceptionV1-shaped checkpoint (random weights) and a hostile one."""
    buffer = io.BytesIO()
    torch.save(random_model("inceptionv1", seed=3).state_dict(), buffer)
    marker = tmp_path_factory.mktemp("marker") / "fetched-code-ran"
    evil = io.BytesIO()
    torch.save({"weight": torch.zeros(1), "extra": Payload(marker)}, evil)
    return {"good": buffer.getvalue(), "evil": evil.getvalue(), "marker": marker}


class WeightServer(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    log: list[tuple[str, str | None]] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        mode, _, name = self.path.strip("/").partition("/")
        body = self.files[name]
        WeightServer.log.append((self.path, self.headers.get("Range")))
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if mode == "drop" and start == 0:  # send a third, then hang up
            self.wfile.write(body[: len(body) // 3])
            self.close_connection = True
            return
        if mode == "stall" and start == 0:  # send a third, then go silent
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            time.sleep(4)
            return
        self.wfile.write(body[start:])


@pytest.fixture(scope="module")
def weight_server(checkpoints):
    WeightServer.files = {"inception5h.pth": checkpoints["good"], "evil.pth": checkpoints["evil"]}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), WeightServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def fetch(cache: Path, url: str, sha256: str = "", timeout: float = 10.0) -> subprocess.CompletedProcess:
    env = {**os.environ, "FEATVIZ_CACHE_DIR": str(cache), "FEATVIZ_INCEPTIONV1_URL": url,
           "FEATVIZ_INCEPTIONV1_SHA256": sha256}
    env.pop("FEATVIZ_INCEPTIONV1_WEIGHTS", None)
    return subprocess.run([sys.executable, "-m", "featviz_core", "fetch-weights", "--model", "inceptionv1",
                           "--timeout", str(timeout)], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=180)


def one_error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def test_fetch_without_a_digest_records_and_prints_it(tmp_path, weight_server, checkpoints, monkeypatch):
    digest = hashlib.sha256(checkpoints["good"]).hexdigest()
    done = fetch(tmp_path, f"{weight_server}/good/inception5h.pth")
    assert done.returncode == 0, done.stderr
    path = tmp_path / "weights" / "inception5h.pth"
    assert done.stdout.splitlines() == [
        str(path),
        f"sha256 {digest} (recorded in {path}.sha256; pin it with FEATVIZ_INCEPTIONV1_SHA256={digest})",
    ]
    assert (tmp_path / "weights" / "inception5h.pth.sha256").read_text().split()[0] == digest
    assert path.read_bytes() == checkpoints["good"]
    # Later loads check the file against the recorded digest: a changed file is refused unread.
    monkeypatch.setenv("FEATVIZ_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("FEATVIZ_INCEPTIONV1_SHA256", raising=False)
    assert resolve_weights(get_spec("inceptionv1"), allow_download=False) == path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsUnavailable, match="refusing to load"):
        resolve_weights(get_spec("inceptionv1"), allow_download=False)


def test_fetch_with_the_right_digest_is_verified(tmp_path, weight_server, checkpoints):
    digest = hashlib.sha256(checkpoints["good"]).hexdigest()
    done = fetch(tmp_path, f"{weight_server}/good/inception5h.pth", sha256=digest.upper())
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == f"sha256 {digest} (verified against FEATVIZ_INCEPTIONV1_SHA256)"


def test_fetch_with_a_wrong_digest_fails_and_leaves_nothing(tmp_path, weight_server):
    done = fetch(tmp_path, f"{weight_server}/good/inception5h.pth", sha256="0" * 64)
    line = one_error_line(done)
    assert f"expected SHA-256 {'0' * 64}" in line and "the file was discarded" in line
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == []


def test_fetch_of_a_dropped_connection_fails_then_resumes_with_range(tmp_path, weight_server, checkpoints):
    digest = hashlib.sha256(checkpoints["good"]).hexdigest()
    size = len(checkpoints["good"])
    first = fetch(tmp_path, f"{weight_server}/drop/inception5h.pth", sha256=digest)
    assert f"dropped after {size // 3} of {size} bytes; run again to resume" in one_error_line(first)
    part = tmp_path / "weights" / "inception5h.pth.part"
    assert part.stat().st_size == size // 3 and not (tmp_path / "weights" / "inception5h.pth").exists()
    WeightServer.log.clear()
    second = fetch(tmp_path, f"{weight_server}/drop/inception5h.pth", sha256=digest)
    assert second.returncode == 0, second.stderr
    assert WeightServer.log == [("/drop/inception5h.pth", f"bytes={size // 3}-")]
    assert (tmp_path / "weights" / "inception5h.pth").read_bytes() == checkpoints["good"]
    assert not part.exists()


def test_a_stalled_download_times_out_and_the_cache_holds_no_weight_file(tmp_path, weight_server, monkeypatch):
    from featviz_core.models.loading import _negative

    monkeypatch.setenv("FEATVIZ_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("FEATVIZ_INCEPTIONV1_URL", f"{weight_server}/stall/inception5h.pth")
    monkeypatch.delenv("FEATVIZ_INCEPTIONV1_SHA256", raising=False)
    _negative.clear()
    started = time.monotonic()
    try:
        with pytest.raises(WeightsUnavailable, match=r"stalled for 0.5 s after \d+ bytes; run again to resume"):
            resolve_weights(get_spec("inceptionv1"), timeout_s=0.5)
        assert time.monotonic() - started < 3.5
        assert not (tmp_path / "weights" / "inception5h.pth").exists()
        assert (tmp_path / "weights" / "inception5h.pth.part").exists()
        # The failure is remembered for a while, so page reruns do not hammer a dead server.
        with pytest.raises(WeightsUnavailable, match="stalled"):
            resolve_weights(get_spec("inceptionv1"), timeout_s=0.5)
    finally:
        _negative.clear()


def test_fetch_refuses_a_hostile_checkpoint_without_running_it(tmp_path, weight_server, checkpoints):
    done = fetch(tmp_path, f"{weight_server}/good/evil.pth")
    assert "refusing to load" in one_error_line(done)
    assert not checkpoints["marker"].exists()
    assert list((tmp_path / "weights").iterdir()) == []  # removed, so the next try fetches again


def test_mirror_address_must_be_http(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATVIZ_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("FEATVIZ_INCEPTIONV1_URL", "file:///etc/passwd")
    with pytest.raises(WeightsUnavailable, match="must be an http:// or https:// address"):
        resolve_weights(get_spec("inceptionv1"))
