"""
objlog stores as the benchmarks open them, and counters at the store seam.

Kept apart from `benchmarks._common` so the baseline child processes, which import
`_common`, never load objlog (their peak RSS is the baseline's).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks._common import S3Target
from objlog import ObjectStoreWriter
from objlog.stores import open_store
from objlog.typing import ObjectStore


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def open_s3_store(
    target: S3Target, prefix: str = "", *, endpoint: str | None = None
) -> ObjectStore:
    """
    Open objlog's boto3 store on the run's bucket under `prefix`.

    Configuration goes through the ``AWS_*`` variables (the documented precedence), as a
    pipeline step's would. `endpoint` replaces the target's endpoint (e.g. a closed port
    for the isolation figure).
    """
    env = target.env()
    if endpoint is not None:
        env["AWS_ENDPOINT_URL"] = endpoint
    url = f"s3://{target.bucket}/{prefix}" if prefix else f"s3://{target.bucket}"
    with _env(env):
        return open_store(url)


def writer_stats(writer: ObjectStoreWriter) -> dict[str, Any]:
    """Return the writer's `stats` as a plain dict, with ``dropped`` = ``dropped_records``."""
    out = dataclasses.asdict(writer.stats)
    out["dropped"] = out["dropped_records"]
    return out


def find_boto3_client(store: Any) -> Any | None:
    """Return the botocore client inside an objlog store, if one can be found (for counting)."""
    for name in ("client", "_client", "s3", "_s3"):
        client = getattr(store, name, None)
        if client is not None and hasattr(client, "meta") and hasattr(client.meta, "events"):
            return client
    return None


class CountingStore:
    """
    Delegate to an objlog store, counting the write calls made at the seam.

    Thread safety: counters are updated under the GIL with single bytecode increments
    guarded by a lock, so concurrent upload threads are counted exactly.
    """

    def __init__(self, inner: Any) -> None:
        import threading

        self._inner = inner
        self._lock = threading.Lock()
        self.put_calls = 0
        self.put_bytes = 0

    def __getattr__(self, name: str) -> Any:
        # bucket, prefix, url and every other call go to the inner store unchanged.
        return getattr(self._inner, name)

    def put_object(self, key: str, body: bytes, **kwargs: Any) -> Any:
        """Count and delegate."""
        with self._lock:
            self.put_calls += 1
            self.put_bytes += len(body)
        return self._inner.put_object(key, body, **kwargs)

    def put_stream(self, key: str, stream: Any, **kwargs: Any) -> Any:
        """Count and delegate."""
        with self._lock:
            self.put_calls += 1
        return self._inner.put_stream(key, stream, **kwargs)


class RequestCounter:
    """Count HTTP requests a botocore client sends, by method (retries included)."""

    def __init__(self, client: Any) -> None:
        self.by_method: dict[str, int] = {}
        self._client = client
        client.meta.events.register("before-send.s3", self._count)

    def _count(self, request: Any, **_: Any) -> None:
        method = getattr(request, "method", "?")
        self.by_method[method] = self.by_method.get(method, 0) + 1

    def close(self) -> None:
        """Stop counting."""
        self._client.meta.events.unregister("before-send.s3", self._count)

    @property
    def writes(self) -> int:
        """PUT and POST requests (PutObject, UploadPart, Create/CompleteMultipartUpload)."""
        return self.by_method.get("PUT", 0) + self.by_method.get("POST", 0)
