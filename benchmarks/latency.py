"""
Group ``latency`` (issue 14): the drain when every request to the store takes 50 ms more.

The S3 server sits behind `DelayProxy`, a loopback TCP proxy in this process that
holds each HTTP request `PROXY_DELAY` seconds before forwarding it. It parses just
enough HTTP/1.1 to find where each request ends on a keep-alive connection (the head
up to the blank line, then a ``Content-Length`` body or ``chunked`` chunks), so every
request on a connection is delayed, not only the first; responses pass through
untouched. Connections are independent (one thread per direction), so requests on
different connections wait at the same time, as they would for a store far away.

objlog logs `Sizes.latency_bytes` of 1 KiB JSON lines with ``compression="none"`` and
`LATENCY_BATCH_BYTES` batches (the round trip, not compression or bandwidth, is what
this group measures) and ``max_concurrency`` = N; the clock runs from the first
``write`` until ``sync()`` returns. The baseline reads the objects objlog stored back
and puts them again through the same proxy with a `ThreadPoolExecutor` of N threads
calling plain boto3 ``put_object`` (one client, the same batch sizes and count).
ratio = baseline seconds / objlog seconds. Target (N = objlog's default): >= 0.9x;
the other N are printed for contrast and to choose that default. The details add a
second, informational pool whose requests carry what objlog's store sends
(``Content-MD5`` and the ``objlog-sha256`` metadata): ``shaped_logged_mib_s``.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import hashlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks._common import (
    Figure,
    KiB,
    MiB,
    S3Target,
    Sizes,
    Target,
    bench_client,
    cycle_lines,
    empty_prefix,
    line_pool,
    list_objects,
    new_name,
)
from benchmarks._stores import CountingStore, open_s3_store, writer_stats
from objlog import ObjectStoreWriter
from objlog._settings import DEFAULT_MAX_CONCURRENCY

#: Seconds the proxy holds each HTTP request before forwarding it.
PROXY_DELAY = 0.050
#: Batch size of the group's writer (and so of the baseline's objects), bytes.
LATENCY_BATCH_BYTES = 1 * MiB
#: Uploads in flight, objlog's and the baseline pool's.
CONCURRENCIES = (1, 2, 4, 8)


class DelayProxy:
    """
    Forward TCP from ``127.0.0.1:<port>`` to `upstream`, holding each HTTP request `delay` s.

    Args:
        upstream: ``(host, port)`` of the S3 server.
        delay: Seconds each request waits before its first byte is forwarded.

    Thread safety: one accept thread, two threads per connection; `close` from any thread.
    """

    def __init__(self, upstream: tuple[str, int], delay: float = PROXY_DELAY) -> None:
        self.upstream = upstream
        self.delay = delay
        self.requests = 0
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._closed = False
        threading.Thread(target=self._accept, name="delay-proxy", daemon=True).start()

    def close(self) -> None:
        """Stop accepting and cut every connection."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            socks, self._socks = list(self._socks), set()
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def __enter__(self) -> DelayProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._socks.update((client, server))
            threading.Thread(target=self._requests, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        """Responses: copy bytes as they come."""
        try:
            while data := src.recv(256 * KiB):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._cut(src, dst)

    def _requests(self, client: socket.socket, server: socket.socket) -> None:
        """Requests: wait `delay`, then forward one request (head and body); repeat."""
        reader = _Reader(client)
        try:
            while True:
                head = reader.until(b"\r\n\r\n")
                if head is None:
                    return
                with self._lock:
                    self.requests += 1
                time.sleep(self.delay)
                server.sendall(head)
                _forward_body(reader, server, head)
        except OSError:
            pass
        finally:
            self._cut(client, server)

    def _cut(self, *socks: socket.socket) -> None:
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._socks.discard(s)


class _Reader:
    """Buffered reads from a socket: up to a delimiter, or n bytes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _fill(self) -> bool:
        data = self.sock.recv(256 * KiB)
        self.buf += data
        return bool(data)

    def until(self, delimiter: bytes) -> bytes | None:
        """Bytes up to and including `delimiter`; None at a clean end of stream."""
        while (i := self.buf.find(delimiter)) < 0:
            if not self._fill():
                if self.buf:
                    raise OSError("connection closed inside a request")
                return None
        out = bytes(self.buf[: i + len(delimiter)])
        del self.buf[: i + len(delimiter)]
        return out

    def copy(self, n: int, dst: socket.socket) -> None:
        """Forward exactly `n` bytes to `dst`."""
        while n > 0:
            if not self.buf and not self._fill():
                raise OSError("connection closed inside a body")
            chunk = self.buf[:n]
            dst.sendall(chunk)
            n -= len(chunk)
            del self.buf[: len(chunk)]


def _forward_body(reader: _Reader, server: socket.socket, head: bytes) -> None:
    """Forward the body of the request whose head is `head` (Content-Length or chunked)."""
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            fields[name.strip().lower()] = value.strip().lower()
    if b"chunked" in fields.get(b"transfer-encoding", b""):
        while True:
            size_line = reader.until(b"\r\n")
            if size_line is None:
                raise OSError("connection closed inside a chunked body")
            server.sendall(size_line)
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while (trailer := reader.until(b"\r\n")) not in (None, b"\r\n"):
                    server.sendall(trailer)
                server.sendall(b"\r\n")
                return
            reader.copy(size + 2, server)  # the chunk and its CRLF
    reader.copy(int(fields.get(b"content-length", b"0")), server)


def _upstream(endpoint: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)


def latency_run(
    target: S3Target, proxy: DelayProxy, total_bytes: int, concurrency: int, batch_bytes: int
) -> dict[str, Any]:
    """
    Drain `total_bytes` through objlog (``max_concurrency=concurrency``), then the pool.

    Returns:
        Absolute numbers: objlog's seconds and MiB/s logged, its objects and PUTs,
        the baseline pool's seconds and MiB/s, and the proxy's request count.
    """
    pool = line_pool(KiB)
    prefix = new_name(f"latency-c{concurrency}")
    store = CountingStore(open_s3_store(target, prefix, endpoint=proxy.endpoint))
    writer = ObjectStoreWriter(
        store,
        pipelinerun="bench",
        task="latency",
        compression="none",
        max_size_bytes=batch_bytes,
        max_buffer_bytes=max(64 * MiB, 2 * concurrency * batch_bytes),
        when_full="block",
        block_timeout=600.0,
        max_concurrency=concurrency,
    )
    logged = 0
    requests_before = proxy.requests
    try:
        t0 = time.perf_counter()
        for line in cycle_lines(pool, total_bytes):
            writer.write(line)
            logged += len(line)
        t_written = time.perf_counter()
        writer.sync(600.0)
        seconds = time.perf_counter() - t0
        stats = writer_stats(writer)
    finally:
        writer.close(60.0)
    objlog_requests = proxy.requests - requests_before
    direct = target.client()
    objects = list_objects(direct, target.bucket, prefix)
    bodies = [direct.get_object(Bucket=target.bucket, Key=o["Key"])["Body"].read() for o in objects]
    baseline = _pool_put(target, proxy, bodies, concurrency)
    shaped = _pool_put(target, proxy, bodies, concurrency, shaped=True)
    empty_prefix(direct, target.bucket, prefix)
    store.close()
    return {
        "concurrency": concurrency,
        "batch_bytes": batch_bytes,
        "logged_bytes": logged,
        "seconds": seconds,
        "write_seconds": t_written - t0,
        "logged_mib_s": logged / MiB / seconds,
        "objects": len(objects),
        "seam_put_calls": store.put_calls,
        "proxy_requests": objlog_requests,
        "baseline_seconds": baseline,
        "baseline_logged_mib_s": logged / MiB / baseline if baseline > 0 else float("nan"),
        "shaped_seconds": shaped,
        "shaped_logged_mib_s": logged / MiB / shaped if shaped > 0 else float("nan"),
        "stats": {k: v for k, v in stats.items() if isinstance(v, (int, float, str)) or v is None},
    }


def _pool_put(
    target: S3Target,
    proxy: DelayProxy,
    bodies: list[bytes],
    concurrency: int,
    *,
    shaped: bool = False,
) -> float:
    """
    Seconds for a pool of `concurrency` threads to put `bodies` through the proxy.

    `shaped`: each request also carries what objlog's store sends (``Content-MD5``, the
    ``objlog-sha256`` metadata, both hashed in the putting thread): the informational
    second baseline that tells the per-request cost apart from the concurrency.
    """
    client = bench_client(proxy.endpoint, target.access_key, target.secret_key, target.region)
    prefix = new_name(f"latency-pool-c{concurrency}")

    def put(i: int) -> None:
        body = bodies[i]
        extra: dict[str, Any] = {}
        if shaped:
            md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
            extra = {
                "ContentMD5": md5,
                "ContentType": "application/x-ndjson",
                "Metadata": {"objlog-sha256": hashlib.sha256(body).hexdigest()},
            }
        client.put_object(Bucket=target.bucket, Key=f"{prefix}/{i:08d}", Body=body, **extra)

    client.head_bucket(Bucket=target.bucket)  # connect and sign once, outside the clock
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as executor:
        t0 = time.perf_counter()
        for future in [executor.submit(put, i) for i in range(len(bodies))]:
            future.result()
        seconds = time.perf_counter() - t0
    empty_prefix(target.client(), target.bucket, prefix)
    return seconds


def latency_figures(target: S3Target, sizes: Sizes, log: Callable[[str], None]) -> list[Figure]:
    """Group ``latency``: drain MiB/s behind a 50 ms proxy vs a boto3 pool, per concurrency."""
    batch_bytes = min(LATENCY_BATCH_BYTES, max(16 * KiB, sizes.latency_bytes // 16))
    figures: list[Figure] = []
    with DelayProxy(_upstream(target.endpoint)) as proxy:
        for n in CONCURRENCIES:
            log(f"latency, max_concurrency={n}, {PROXY_DELAY * 1000:.0f} ms per request")
            default = n == DEFAULT_MAX_CONCURRENCY
            fig = Figure(
                id=f"latency.c{n}",
                group="latency",
                title=(
                    f"drain MiB/s, {PROXY_DELAY * 1000:.0f} ms per request,"
                    f" max_concurrency={n}{' (default)' if default else ''}"
                ),
                unit="MiB/s",
                baseline_name=f"ThreadPoolExecutor({n}) of boto3 put_object, same objects",
                target=Target(kind="ratio_min", value=0.9, text=">= 0.9x") if default else None,
            )
            d = latency_run(target, proxy, sizes.latency_bytes, n, batch_bytes)
            fig.objlog = d["logged_mib_s"]
            fig.baseline = d["baseline_logged_mib_s"]
            fig.details["objlog"] = d
            figures.append(fig.settle())
    return figures
