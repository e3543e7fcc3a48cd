"""
A loopback HTTP proxy in front of an S3 server, for outage tests.

Modes: ``up`` forwards every request; ``refuse`` closes the listening socket
and every open connection (clients get "connection refused" or a reset);
``slowdown`` answers a share of requests with S3's ``503 SlowDown`` and
forwards the rest. Counts what it did per mode.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import random
import socket
import threading
import time
from urllib.parse import urlsplit

_SLOWDOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te"}


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # cut connections are the point of the exercise


class S3Proxy:
    """Forward HTTP from 127.0.0.1:<port> to `upstream`, with switchable faults."""

    def __init__(self, upstream: str, *, slowdown_share: float = 0.3, seed: int = 7) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.slowdown_share = slowdown_share
        self._random = random.Random(seed)
        self.mode = "up"
        self.delay = 0.0  # seconds each PUT waits before it is forwarded
        self.counts = {"forwarded": 0, "slowdown": 0}
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server: _QuietServer | None = None
        self._start()

    # -- switching ----------------------------------------------------------------
    def _start(self) -> None:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._conns.add(self.connection)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._conns.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _any(self) -> None:
                body = self._body()
                with proxy._lock:
                    slow = (
                        proxy.mode == "slowdown" and proxy._random.random() < proxy.slowdown_share
                    )
                    proxy.counts["slowdown" if slow else "forwarded"] += 1
                if self.command == "PUT" and proxy.delay:
                    time.sleep(proxy.delay)
                if slow:
                    self.send_response(503, "Slow Down")
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(_SLOWDOWN)))
                    self.end_headers()
                    self.wfile.write(_SLOWDOWN)
                    return
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    upstream.putrequest(
                        self.command, self.path, skip_host=True, skip_accept_encoding=True
                    )
                    for name, value in self.headers.items():
                        if name.lower() not in _HOP and name.lower() != "content-length":
                            upstream.putheader(name, value)
                    upstream.putheader("Content-Length", str(len(body)))
                    upstream.endheaders(body)
                    response = upstream.getresponse()
                    data = response.read()
                finally:
                    upstream.close()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in _HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        server = _QuietServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def refuse(self) -> None:
        """Stop listening and cut every open connection: 'connection refused'."""
        with self._lock:
            self.mode = "refuse"
            server, self._server = self._server, None
            conns = list(self._conns)
        if server is not None:
            server.shutdown()
            server.server_close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def up(self) -> None:
        """Forward everything again."""
        with self._lock:
            self.mode = "up"
            running = self._server is not None
        if not running:
            self._start()

    def slowdown(self) -> None:
        """Answer a share of requests with 503 SlowDown."""
        self.up()
        with self._lock:
            self.mode = "slowdown"

    def close(self) -> None:
        """Stop the proxy."""
        self.refuse()
