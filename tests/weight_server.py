"""A real HTTP server on localhost that serves a weight file slowly enough for a progress bar to be seen,
and a port where nothing listens (a machine without internet). Used by the app and browser tests of the
in-app weights download."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from pathlib import Path

CHUNK_BYTES = 1 << 20


def _handler(body: bytes, seconds: float):
    pause = seconds / max(1, len(body) // CHUNK_BYTES)

    class Handler(http.server.BaseHTTPRequestHandler):
        requests: list[str] = []

        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):
            Handler.requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for start in range(0, len(body), CHUNK_BYTES):
                self.wfile.write(body[start:start + CHUNK_BYTES])
                self.wfile.flush()
                time.sleep(pause)

    return Handler


@contextlib.contextmanager
def serve_file(path: Path, *, seconds: float = 3.0):
    """Serve ``path``'s bytes at any address of the yielded base URL, spread over about ``seconds``."""
    handler = _handler(Path(path).read_bytes(), seconds)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler.requests
    finally:
        httpd.shutdown()
        httpd.server_close()


def closed_port_url(filename: str = "inception5h.pth") -> str:
    """An address on localhost where nothing listens: connecting is refused, as offline."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{filename}"
