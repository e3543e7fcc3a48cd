"""
The one place the benchmarks touch objlog's API, so a part that has not landed yet
(or changed shape) turns into a figure marked unavailable instead of a crash.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks._common import S3Target


class Unavailable(Exception):
    """An objlog part the figure needs is missing; the message says which."""


#: What a missing or unfinished objlog part raises: catch these to mark a figure n/a.
MISSING = (Unavailable, ImportError, NotImplementedError)


def _attr(module: str, name: str) -> Any:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise Unavailable(f"{module} not importable ({exc})") from exc
    try:
        return getattr(mod, name)
    except AttributeError:
        raise Unavailable(f"{module}.{name} does not exist yet") from None


def writer_class() -> Any:
    """Return `objlog.writer.ObjectStoreWriter`."""
    return _attr("objlog.writer", "ObjectStoreWriter")


def handler_class() -> Any:
    """Return `objlog.stdlib.ObjectStoreHandler`."""
    return _attr("objlog.stdlib", "ObjectStoreHandler")


def json_formatter() -> Any:
    """Return an instance of objlog's default `JsonFormatter` (used by the baselines too)."""
    return _attr("objlog.stdlib", "JsonFormatter")()


def structlog_factory_class() -> Any:
    """Return `objlog.structlog.ObjectStoreLoggerFactory`."""
    return _attr("objlog.structlog", "ObjectStoreLoggerFactory")


def result_writer_class() -> Any:
    """Return `objlog.results.ResultWriter`."""
    return _attr("objlog.results", "ResultWriter")


def install_signal_handlers() -> Callable[..., Any]:
    """Return objlog's `install_signal_handlers` (top level, else the writer module)."""
    try:
        return _attr("objlog", "install_signal_handlers")  # type: ignore[no-any-return]
    except Unavailable:
        return _attr("objlog.writer", "install_signal_handlers")  # type: ignore[no-any-return]


def memory_store(**kwargs: Any) -> Any:
    """Return a fresh `MemoryStore`."""
    return _attr("objlog.stores.memory", "MemoryStore")(**kwargs)


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


def open_s3_store(target: S3Target, prefix: str = "", *, endpoint: str | None = None) -> Any:
    """
    Open objlog's boto3 store on the run's bucket under `prefix`.

    Configuration goes through the ``AWS_*`` variables (the documented precedence), so
    this does not depend on the names of `open_store`'s keyword overrides. `endpoint`
    replaces the target's endpoint (e.g. a closed port for the isolation figure).
    """
    open_store = _attr("objlog.stores", "open_store")
    env = target.env()
    if endpoint is not None:
        env["AWS_ENDPOINT_URL"] = endpoint
    url = f"s3://{target.bucket}/{prefix}" if prefix else f"s3://{target.bucket}"
    with _env(env):
        try:
            store = open_store(url)
        except NotImplementedError:
            raise Unavailable("objlog.stores.open_store is still a placeholder") from None
    return store


def writer_stats(writer: Any) -> dict[str, Any]:
    """Return the writer's `stats` as a plain dict (whatever shape it has)."""
    stats = getattr(writer, "stats", None)
    if callable(stats):
        stats = stats()
    if stats is None:
        return {}
    if isinstance(stats, dict):
        out = dict(stats)
    elif hasattr(stats, "_asdict"):
        out = dict(stats._asdict())
    else:
        import dataclasses

        try:
            out = dataclasses.asdict(stats)
        except TypeError:
            out = {k: getattr(stats, k) for k in dir(stats) if not k.startswith("_")}
    out.setdefault("dropped", out.get("dropped_records"))
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
        return getattr(self._inner, name)

    @property
    def bucket(self) -> Any:
        """The inner store's bucket."""
        return self._inner.bucket

    @property
    def prefix(self) -> Any:
        """The inner store's prefix."""
        return self._inner.prefix

    @property
    def url(self) -> Any:
        """The inner store's URL."""
        return self._inner.url

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
