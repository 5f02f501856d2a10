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


class Holds:
    """Points of a download (fractions of the file) where the server stops sending until the test lets it go
    on, so that a test sees the download at each of them however slow the machine is.

    ``reached(i)`` waits until the server holds at point ``i`` and returns how many bytes it sent before it;
    ``release(i)`` lets it go on. A hold nobody releases ends by itself after ``timeout_s``.
    """

    def __init__(self, *fractions: float, timeout_s: float = 120.0) -> None:
        self.fractions = sorted(fractions)
        self.timeout_s = timeout_s
        self.sent: list[int | None] = [None] * len(self.fractions)
        self._held = [threading.Event() for _ in self.fractions]
        self._go = [threading.Event() for _ in self.fractions]

    def before_sending(self, start: int, size: int) -> None:
        """The server is about to send the bytes from ``start`` of a ``size``-byte file."""
        for i, fraction in enumerate(self.fractions):
            if self.sent[i] is None and start >= fraction * size:
                self.sent[i] = start
                self._held[i].set()
                self._go[i].wait(self.timeout_s)

    def reached(self, i: int, timeout_s: float = 120.0) -> int:
        if not self._held[i].wait(timeout_s):
            raise AssertionError(f"the download did not reach {self.fractions[i]:.0%} within {timeout_s:g} s")
        return self.sent[i]

    def release(self, i: int) -> None:
        self._go[i].set()

    def release_all(self) -> None:
        for go in self._go:
            go.set()


def _handler(file_body: bytes, seconds: float, holds: Holds | None = None, routes: dict[str, bytes] | None = None):
    pause = seconds / max(1, len(file_body) // CHUNK_BYTES)

    class Handler(http.server.BaseHTTPRequestHandler):
        requests: list[str] = []

        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):
            Handler.requests.append(self.path)
            body = (routes or {}).get(self.path.partition("?")[0], file_body)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for start in range(0, len(body), CHUNK_BYTES):
                if holds is not None:
                    holds.before_sending(start, len(body))
                self.wfile.write(body[start:start + CHUNK_BYTES])
                self.wfile.flush()
                time.sleep(pause)

    return Handler


@contextlib.contextmanager
def serve_file(path: Path, *, seconds: float = 3.0, holds: Holds | None = None, routes: dict[str, bytes] | None = None):
    """Serve ``path``'s bytes at any address of the yielded base URL, spread over about ``seconds`` (and held
    at each of ``holds``' points until the test releases it); ``routes`` maps paths (without the query) to
    other bodies served there instead (a listing beside the file)."""
    handler = _handler(Path(path).read_bytes(), seconds, holds, routes)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler.requests
    finally:
        if holds is not None:
            holds.release_all()
        httpd.shutdown()
        httpd.server_close()


def closed_port_url(filename: str = "inception5h.pth") -> str:
    """An address on localhost where nothing listens: connecting is refused, as offline."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{filename}"
