"""
Downloads of large objects: concurrent ranged GETs read back in order, in bounded memory.

`RangedReader` is a readable stream over any `ObjectStore`: it asks for the
object in ranges of `RANGE_BYTES` with ``get_object(byte_range=...)``,
``concurrency`` of them at once, and returns their bytes in order, as
s3transfer's ``download_file`` does for a file but into a stream, so an
extractor or a hash reads it as it comes. Each range is retried on its own.

Private: nothing here is a public API.
"""

from __future__ import annotations

import collections
import concurrent.futures
import io
import time
from collections.abc import Callable
from typing import cast

from objlog.errors import TransientStoreError
from objlog.retry import RetryPolicy, retry_call
from objlog.typing import ObjectStore

__all__ = ["RANGE_BYTES", "RangedReader"]

#: Bytes per ranged GET (s3transfer's default ``multipart_chunksize``, 8 MiB).
RANGE_BYTES = 8 * 1024**2


class RangedReader(io.RawIOBase):
    """
    The object at `key` of `size_bytes`, fetched as ranges in parallel, read in order.

    At most `concurrency` ranges are fetched or waiting at once, plus the one
    being read, so memory holds about ``(concurrency + 1) * range_bytes``.
    A range that fails transiently is fetched again under `retry`; a range
    that keeps failing raises its `StoreError` from ``read``. The caller
    checks the object's integrity (ranges of an object replaced meanwhile
    would mix two objects: the SHA-256 check catches that).

    Args:
        store: The store.
        key: The full key.
        size_bytes: The object's size in bytes (from ``head_object``).
        concurrency: Ranges in flight (>= 1).
        range_bytes: Bytes per range (default `RANGE_BYTES`).
        retry: Retry policy per range (default None: one attempt).
        sleep: Waits between retries (default `time.sleep`).
        progress: Called with each count of bytes received, from the
            reading thread.

    Thread safety: one reading thread; fetches run on a private pool.
    """

    def __init__(
        self,
        store: ObjectStore,
        key: str,
        size_bytes: int,
        *,
        concurrency: int,
        range_bytes: int = RANGE_BYTES,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__()
        self._store = store
        self._key = key
        self._size = size_bytes
        self._range = range_bytes
        self._retry = retry
        self._sleep = sleep
        self._progress = progress
        self._concurrency = max(1, concurrency)
        self._next = 0  # first byte of the next range to request
        self._pending: collections.deque[concurrent.futures.Future[bytes]] = collections.deque()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            self._concurrency, thread_name_prefix="objlog-range"
        )
        self._current = memoryview(b"")
        self._fill()

    def readable(self) -> bool:
        return True

    def _fetch(self, first: int, last: int) -> bytes:
        def attempt() -> bytes:
            data = self._store.get_object(self._key, byte_range=(first, last))
            if len(data) != last - first + 1:
                raise TransientStoreError(
                    f"get_object: range {first}-{last} returned {len(data)} bytes",
                    bucket=self._store.bucket,
                    key=self._key,
                    reason="ShortRange",
                )
            return data

        if self._retry is None:
            return attempt()
        return retry_call(attempt, self._retry, sleep=self._sleep)

    def _fill(self) -> None:
        while len(self._pending) < self._concurrency and self._next < self._size:
            first = self._next
            last = min(first + self._range, self._size) - 1
            self._next = last + 1
            self._pending.append(self._pool.submit(self._fetch, first, last))

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            chunks = []
            while chunk := self.read(self._range):
                chunks.append(chunk)
            return b"".join(chunks)
        if not self._current:
            if not self._pending:
                return b""
            data = self._pending.popleft().result()
            self._fill()
            if self._progress is not None:
                self._progress(len(data))
            self._current = memoryview(data)
        out = bytes(self._current[:size])
        self._current = self._current[size:]
        return out

    def readinto(self, b: object) -> int:
        view = memoryview(cast(bytearray, b)).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pending.clear()
            self._current = memoryview(b"")
        super().close()
