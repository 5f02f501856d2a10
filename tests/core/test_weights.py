"""The download code against a real HTTP server on localhost: good, corrupt, stalled and dropped files."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time

import pytest
import torch

from featviz_core.models import REGISTRY, ModelSpec, WeightSource, load_state_dict_safely, resolve_weights
from featviz_core.models.weights import ChecksumMismatch, DownloadError, download
from featviz_core.errors import WeightsUnavailable

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    mode = "good"
    requests: list[dict] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        Handler.requests.append({"path": self.path, "range": self.headers.get("Range")})
        mode = self.path.strip("/")
        body = PAYLOAD
        start = 0
        if mode == "resumable" and self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        elif mode == "missing":
            self.send_error(404, "Not Found")
            return
        else:
            self.send_response(200)
        if mode == "corrupt":
            body = b"x" + PAYLOAD[1:]
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if mode == "stall":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            time.sleep(3)
            return
        if mode in ("drop", "resumable") and not self.headers.get("Range"):
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body[start:])


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_good_file_is_downloaded_verified_and_renamed(server, tmp_path):
    dest = tmp_path / "w" / "model.pth"
    seen = []
    assert download(f"{server}/good", dest, sha256=DIGEST, progress=lambda got, total: seen.append((got, total))) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "w" / "model.pth.part").exists()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))


def test_wrong_checksum_is_refused_and_nothing_is_left(server, tmp_path):
    dest = tmp_path / "model.pth"
    with pytest.raises(ChecksumMismatch, match=f"expected SHA-256 {DIGEST}"):
        download(f"{server}/corrupt", dest, sha256=DIGEST)
    assert not dest.exists() and not (tmp_path / "model.pth.part").exists()


def test_stalled_server_times_out_with_a_clear_message(server, tmp_path):
    dest = tmp_path / "model.pth"
    started = time.monotonic()
    with pytest.raises(DownloadError, match="stalled for 0.5 s after 524288 bytes; run again to resume"):
        download(f"{server}/stall", dest, sha256=DIGEST, timeout_s=0.5)
    assert time.monotonic() - started < 2.5
    assert not dest.exists()


def test_dropped_connection_keeps_a_part_file_and_resumes(server, tmp_path):
    dest = tmp_path / "model.pth"
    with pytest.raises(DownloadError, match=r"dropped after 349525 of 1048576 bytes"):
        download(f"{server}/resumable", dest, sha256=DIGEST)
    assert not dest.exists()
    part = tmp_path / "model.pth.part"
    assert part.stat().st_size == len(PAYLOAD) // 3
    Handler.requests.clear()
    download(f"{server}/resumable", dest, sha256=DIGEST)
    assert Handler.requests[-1]["range"] == f"bytes={len(PAYLOAD) // 3}-"
    assert dest.read_bytes() == PAYLOAD and not part.exists()


def test_server_that_ignores_range_restarts_cleanly(server, tmp_path):
    dest = tmp_path / "model.pth"
    (tmp_path / "model.pth.part").write_bytes(b"stale bytes")
    download(f"{server}/good", dest, sha256=DIGEST)
    assert dest.read_bytes() == PAYLOAD


def test_http_error_and_unreachable_host(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{server}/missing", tmp_path / "a.pth", sha256=None)
    with pytest.raises(DownloadError, match="could not download http://127.0.0.1:9/"):
        download("http://127.0.0.1:9/x", tmp_path / "b.pth", sha256=None, timeout_s=2)


def _spec(url: str, sha256: str | None, name: str = "tiny") -> ModelSpec:
    base = REGISTRY["efficientnet-lite0"]
    return ModelSpec(
        name=name, title="Tiny test model", description="", build=lambda: torch.nn.Conv2d(3, 2, 1),
        preprocess=base.preprocess, native_size=224,
        weights=WeightSource(filename=f"{name}.pth", approx_bytes=1000, url=url, sha256=sha256),
        featured_layers=(), default_layer="",
    )


class CheckpointHandler(Handler):
    body = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


def test_resolve_weights_downloads_into_the_cache_and_records_the_digest(tmp_path, monkeypatch):
    import io

    monkeypatch.setenv("FEATVIZ_CACHE_DIR", str(tmp_path))
    buffer = io.BytesIO()
    torch.save(torch.nn.Conv2d(3, 2, 1).state_dict(), buffer)
    CheckpointHandler.body = buffer.getvalue()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CheckpointHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/tiny.pth"
        path = resolve_weights(_spec(url, None))
        assert path == tmp_path / "weights" / "tiny.pth"
        recorded = (tmp_path / "weights" / "tiny.pth.sha256").read_text().strip()
        assert recorded == hashlib.sha256(CheckpointHandler.body).hexdigest()
        assert set(load_state_dict_safely(path)) == {"weight", "bias"}
        data = path.read_bytes()
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # tampered with after download
        with pytest.raises(ChecksumMismatch, match="refusing to load"):
            resolve_weights(_spec(url, None))
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_offline_message_names_the_file_its_size_and_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATVIZ_CACHE_DIR", str(tmp_path))
    with pytest.raises(WeightsUnavailable) as info:
        resolve_weights(_spec("http://127.0.0.1:9/tiny.pth", None, name="offline"), timeout_s=2)
    message = str(info.value)
    assert "offline.pth" in message and "about 0 MB" in message
    assert str(tmp_path / "weights" / "offline.pth") in message


def test_inceptionv1_offline_message(tmp_path, monkeypatch):
    from featviz_core.models import get_spec, offline_help

    monkeypatch.setenv("FEATVIZ_CACHE_DIR", str(tmp_path))
    text = offline_help(get_spec("inceptionv1"), "no network")
    assert "inception5h.pth (about 27 MB)" in text
    assert str(tmp_path / "weights" / "inception5h.pth") in text
    assert "FEATVIZ_INCEPTIONV1_WEIGHTS" in text


def test_local_file_from_environment_is_used_and_checked(tmp_path, monkeypatch):
    from featviz_core.models import build_with_weights, get_spec, random_model

    path = tmp_path / "inception5h.pth"
    torch.save(random_model("inceptionv1", seed=1).state_dict(), path)
    monkeypatch.setenv("FEATVIZ_INCEPTIONV1_WEIGHTS", str(path))
    spec = get_spec("inceptionv1")
    assert resolve_weights(spec) == path
    model = build_with_weights(spec, path)
    assert torch.equal(model.state_dict()["mixed4a_1x1_pre_relu_conv.weight"],
                       torch.load(path, weights_only=True)["mixed4a_1x1_pre_relu_conv.weight"])
    monkeypatch.setenv("FEATVIZ_INCEPTIONV1_SHA256", "0" * 64)
    with pytest.raises(ChecksumMismatch, match="expected 0000"):
        resolve_weights(spec)


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    from featviz_core.models import build_with_weights, get_spec

    path = tmp_path / "other.pth"
    torch.save(torch.nn.Conv2d(3, 2, 1).state_dict(), path)
    with pytest.raises(WeightsUnavailable, match="does not match the InceptionV1"):
        build_with_weights(get_spec("inceptionv1"), path)


@pytest.mark.parametrize("timeout", [-1, 0, float("nan")])
def test_a_timeout_that_is_not_a_positive_number_is_refused_before_connecting(tmp_path, timeout):
    with pytest.raises(DownloadError, match="the timeout must be a number of seconds above 0"):
        download("http://127.0.0.1:9/never", tmp_path / "w.pth", sha256=None, timeout_s=timeout)
    assert not list(tmp_path.iterdir())
