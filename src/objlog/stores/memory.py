"""
An in-memory object store with fault injection, for tests and examples.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from objlog.errors import (
    ObjectNotFoundError,
    PermanentStoreError,
    StoreError,
    TransientStoreError,
)
from objlog.stores._common import ObjectHeaders, StoreBase, check_digests, common_prefixes
from objlog.typing import BodyDigests, ObjectInfo, ObjectRef

__all__ = ["MemoryStore"]


@dataclass(slots=True)
class _Stored:
    data: bytes
    info: ObjectInfo


class MemoryStore(StoreBase):
    """
    Keep objects in a dict; inject failures and latency on demand.

    Faults apply to the write and read verbs (put, get, head, list, delete):
    `fail_next` makes the next N requests raise, `down_for` makes every
    request raise until a deadline on `clock`, `latency` makes each request
    sleep, and `fault` may be any callable deciding per request.

    Args:
        bucket: Bucket name reported in refs and errors (default ``"memory"``).
        prefix: Key prefix, as from a store URL (default "").
        clock: Seconds, monotonic; used by `down_for` (default `time.monotonic`).
        sleep: Used for `latency` (default `time.sleep`).

    Thread safety: every method may be called from any thread.
    """

    def __init__(
        self,
        *,
        bucket: str = "memory",
        prefix: str = "",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._objects: dict[str, _Stored] = {}
        self._fail_next = 0
        self._fail_exc: Callable[[str], StoreError] | None = None
        self._down_until = 0.0
        self.latency = 0.0
        #: Optional per-request fault: called with (verb, key); may raise.
        self.fault: Callable[[str, str], None] | None = None
        #: Number of requests per verb, including failed ones.
        self.requests: dict[str, int] = {}
        self.closed = False

    # -- fault injection -------------------------------------------------
    def fail_next(self, n: int = 1, exc: Callable[[str], StoreError] | None = None) -> None:
        """
        Make the next `n` requests fail with ``exc(key)`` (default: transient 503).
        """
        with self._lock:
            self._fail_next = n
            self._fail_exc = exc

    def down_for(self, seconds: float) -> None:
        """
        Refuse every request for `seconds` on the store's clock (transient error).
        """
        with self._lock:
            self._down_until = self._clock() + seconds

    def _enter(self, verb: str, key: str) -> None:
        with self._lock:
            self.requests[verb] = self.requests.get(verb, 0) + 1
            if self._fail_next > 0:
                self._fail_next -= 1
                factory = self._fail_exc
                raise (factory(key) if factory else self._transient("injected 503 SlowDown", key))
            if self._clock() < self._down_until:
                raise self._transient("injected outage: connection refused", key)
        if self.fault is not None:
            self.fault(verb, key)
        if self.latency > 0:
            self._sleep(self.latency)

    def _transient(self, message: str, key: str) -> TransientStoreError:
        return TransientStoreError(message, bucket=self._bucket, key=key, reason="Injected")

    # -- ObjectStore -------------------------------------------------------
    @property
    def bucket(self) -> str:
        """The bucket name."""
        return self._bucket

    @property
    def prefix(self) -> str:
        """Key prefix, no leading or trailing "/"."""
        return self._prefix

    @property
    def url(self) -> str:
        """``memory://BUCKET[/PREFIX]``."""
        tail = f"/{self._prefix}" if self._prefix else ""
        return f"memory://{self._bucket}{tail}"

    def __repr__(self) -> str:
        return f"MemoryStore(url={self.url!r}, objects={len(self._objects)})"

    def _check_key(self, key: str) -> None:
        if not key or len(key.encode()) > 1024:
            raise PermanentStoreError(
                "invalid key: must be 1 to 1024 bytes (S3 limit)",
                bucket=self._bucket,
                key=key,
                reason="KeyTooLongError",
            )

    def _store_body(
        self, key: str, body: bytes, headers: ObjectHeaders, digests: BodyDigests | None
    ) -> ObjectRef:
        """
        Store `body` under `key`; counted as a ``put`` request.

        Hashes the body itself and refuses it (PermanentStoreError,
        ``BadDigest``) when `digests` is given and does not match.
        """
        self._check_key(key)
        self._enter("put", key)
        data = bytes(body)
        digest = hashlib.sha256(data).hexdigest()
        md5 = hashlib.md5(data, usedforsecurity=False)
        check_digests(digests, md5.digest(), digest, bucket=self._bucket, key=key)
        etag = md5.hexdigest()
        info = ObjectInfo(
            key=key,
            size=len(data),
            last_modified=_dt.datetime.now(_dt.timezone.utc),
            etag=etag,
            metadata=headers.with_sha256(digest).metadata,
            content_type=headers.content_type,
            content_encoding=headers.content_encoding or "",
        )
        with self._lock:
            self._objects[key] = _Stored(data, info)
        return ObjectRef(bucket=self._bucket, key=key, size=len(data), sha256=digest, etag=etag)

    def _store_stream(
        self, key: str, stream: BinaryIO, headers: ObjectHeaders, size_bytes: int | None
    ) -> ObjectRef:
        """Read `stream` to EOF (`size_bytes` unused), then store it as `_store_body` does."""
        chunks = []
        while chunk := stream.read(1024 * 1024):
            chunks.append(chunk)
        return self._store_body(key, b"".join(chunks), headers, None)

    def _get(self, key: str) -> _Stored:
        with self._lock:
            stored = self._objects.get(key)
        if stored is None:
            raise ObjectNotFoundError(
                "no such key", bucket=self._bucket, key=key, reason="NoSuchKey"
            )
        return stored

    def get_object(self, key: str, *, byte_range: tuple[int, int] | None = None) -> bytes:
        """Return the object's bytes or an inclusive byte range."""
        self._enter("get", key)
        data = self._get(key).data
        if byte_range is None:
            return data
        first, last = byte_range
        if first < 0 or last < first or first >= len(data):
            # As S3: a range starting at or past the end is HTTP 416 InvalidRange.
            raise PermanentStoreError(
                f"invalid byte range {first}-{last} for {len(data)} bytes",
                bucket=self._bucket,
                key=key,
                reason="InvalidRange",
            )
        return data[first : last + 1]

    def open_object(self, key: str) -> BinaryIO:
        """Return a stream over the object's bytes."""
        return io.BytesIO(self.get_object(key))

    def head_object(self, key: str) -> ObjectInfo:
        """Return the object's info with metadata."""
        self._enter("head", key)
        return self._get(key).info

    def list_objects(
        self, prefix: str = "", *, start_after: str | None = None
    ) -> Iterator[ObjectInfo]:
        """Yield objects under `prefix` in key order."""
        self._enter("list", prefix)
        with self._lock:
            infos = sorted(
                (s.info for k, s in self._objects.items() if k.startswith(prefix)),
                key=lambda i: i.key,
            )
        for info in infos:
            if start_after is None or info.key > start_after:
                yield ObjectInfo(
                    key=info.key,
                    size=info.size,
                    last_modified=info.last_modified,
                    etag=info.etag,
                )

    def list_prefixes(self, prefix: str = "", *, delimiter: str = "/") -> Iterator[str]:
        """Yield the common prefixes directly below `prefix`."""
        self._enter("list", prefix)
        with self._lock:
            keys = [k for k in self._objects if k.startswith(prefix)]
        yield from common_prefixes(keys, prefix, delimiter)

    def delete_object(self, key: str) -> None:
        """Delete `key` if present."""
        self._enter("delete", key)
        with self._lock:
            self._objects.pop(key, None)

    def ensure_bucket(self) -> None:
        """Nothing to create in memory."""

    def close(self) -> None:
        """Mark the store closed; data stays readable for assertions."""
        self.closed = True

    # -- test helpers --------------------------------------------------------
    def keys(self) -> list[str]:
        """Return every stored key, sorted."""
        with self._lock:
            return sorted(self._objects)
