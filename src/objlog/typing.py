"""
Protocols and value types shared by every layer of objlog.

The `ObjectStore` Protocol is the one seam between objlog and a storage
backend. It speaks S3's own verbs; every backend (boto3, minio, a local
directory, memory) implements it, and the contract suite in
``tests/stores/test_contract.py`` holds all of them to the same behaviour.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

__all__ = [
    "MAX_OBJECT_BYTES",
    "MAX_PARTS",
    "MAX_PART_BYTES",
    "MAX_SINGLE_PUT_BYTES",
    "MIN_PART_BYTES",
    "PART_GROWTH_EVERY",
    "BodyDigests",
    "Clock",
    "ObjectInfo",
    "ObjectRef",
    "ObjectStore",
    "Sleep",
    "fitted_part_bytes",
    "stream_part_bytes",
]

# S3 limits (AWS "Amazon S3 multipart upload limits"): the one place objlog keeps them.
#: Smallest part of a multipart upload but the last (5 MiB).
MIN_PART_BYTES = 5 * 1024**2
#: Largest part of a multipart upload (5 GiB).
MAX_PART_BYTES = 5 * 1024**3
#: Most parts one multipart upload may have.
MAX_PARTS = 10_000
#: Largest object (5 TiB).
MAX_OBJECT_BYTES = 5 * 1024**4
#: Largest body of one PutObject (5 GiB).
MAX_SINGLE_PUT_BYTES = 5 * 1024**3
#: A stream of unknown size doubles its part size every this many parts
#: (1,000 of S3's 10,000), capped at `MAX_PART_BYTES`; see `stream_part_bytes`.
PART_GROWTH_EVERY = 1_000

_MIB = 1024**2


def fitted_part_bytes(size_bytes: int, part_size_bytes: int, *, max_parts: int = MAX_PARTS) -> int:
    """
    Return the part size for an object of known size: the configured one, or larger to fit.

    rclone's rule (``fs/chunksize``): the configured size when `size_bytes`
    fits in `max_parts` parts of it, else the smallest size that fits,
    rounded up to a whole MiB.

    Args:
        size_bytes: The object's size in bytes (0 .. `MAX_OBJECT_BYTES`).
        part_size_bytes: The configured part size in bytes.
        max_parts: The part limit (default S3's 10,000; tests use less).

    Returns:
        The part size in bytes, never above `MAX_PART_BYTES`.

    Raises:
        ValueError: `size_bytes` is negative or above `MAX_OBJECT_BYTES`.

    Thread safety: pure.
    """
    if not 0 <= size_bytes <= MAX_OBJECT_BYTES:
        raise ValueError(f"object size {size_bytes} is outside 0..{MAX_OBJECT_BYTES} (5 TiB)")
    if size_bytes <= part_size_bytes * max_parts:
        return part_size_bytes
    needed = -(-size_bytes // max_parts)
    return min(MAX_PART_BYTES, -(-needed // _MIB) * _MIB)


def stream_part_bytes(number: int, part_size_bytes: int, *, max_parts: int = MAX_PARTS) -> int:
    """
    Return the size of part `number` (from 1) of a stream of unknown size.

    The part size doubles every ``max_parts // 10`` parts (every 1,000 of
    S3's 10,000: `PART_GROWTH_EVERY`), capped at `MAX_PART_BYTES`. rclone
    and s3transfer keep a fixed part size for streams, so a stream stops at
    10,000 parts (156 GiB at 16 MiB); growing keeps memory at the
    configured size for the first 1,000 parts and still reaches 5 TiB:
    1,000 x (1 + 2 + ... + 512) x 16 MiB = 16 TiB (4.9 TiB at the 5 MiB
    minimum).

    Args:
        number: The part number, 1 .. `max_parts`.
        part_size_bytes: The configured part size in bytes.
        max_parts: The part limit (default S3's 10,000; tests use less).

    Returns:
        The part's size in bytes.

    Thread safety: pure.
    """
    every = max(1, max_parts // 10)
    doublings = min((number - 1) // every, 40)
    return min(MAX_PART_BYTES, part_size_bytes << doublings)


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyDigests:
    """
    Digests of an object body, computed once by whoever holds the body.

    Passed to `ObjectStore.put_object` so that a store need not hash the
    body again on the uploading thread (the writer's encoder thread
    computes them beside the uploads).

    Attributes:
        md5: Base64 MD5 of the body, as sent in the ``Content-MD5`` header
            (RFC 1864; S3 rejects a body that does not match with BadDigest).
        sha256: Hex SHA-256 of the body, kept as ``objlog-sha256`` metadata.
    """

    md5: str
    sha256: str

    @classmethod
    def of(cls, body: bytes | memoryview) -> BodyDigests:
        """Hash `body` (both digests; hashlib releases the GIL for large bodies)."""
        md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest())
        return cls(md5=md5.decode("ascii"), sha256=hashlib.sha256(body).hexdigest())


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectRef:
    """
    What a store reports after an object was stored.

    Attributes:
        bucket: The bucket ("" for stores without buckets).
        key: The full key, prefix included.
        size: Stored size in bytes.
        sha256: Hex SHA-256 of the stored bytes, computed by objlog while
            uploading (never derived from the ETag, which is not an MD5 for
            multipart uploads, on AIStore, or after Ceph RGW's
            CompleteMultipartUpload).
        etag: The ETag the store returned, unquoted; may be "" (Ceph RGW
            multipart) and is informational only.
        parts: Number of parts (1 for a single PUT).
    """

    bucket: str
    key: str
    size: int
    sha256: str
    etag: str = ""
    parts: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectInfo:
    """
    One object as listed or HEADed.

    Attributes:
        key: The full key.
        size: Size in bytes.
        last_modified: When the store last wrote it (timezone-aware, UTC).
        etag: The store's ETag, unquoted (informational, see `ObjectRef`).
        metadata: User metadata (``x-amz-meta-*`` without the prefix, keys
            lower-case); empty in listings, filled by `head_object`.
        content_type: Content-Type, "" in listings.
        content_encoding: Content-Encoding, "" when absent or in listings.
    """

    key: str
    size: int
    last_modified: _dt.datetime
    etag: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    content_type: str = ""
    content_encoding: str = ""


class ObjectStore(Protocol):
    """
    **Protocol:** a bucket (plus an optional key prefix) in an object store.

    Keys passed to and returned by every method are full keys within
    `bucket`; callers that lay out keys (the writer, the result writer)
    prepend `prefix` themselves via ``objlog._layout``.

    Every method may raise `TransientStoreError` (retry may help) or
    `PermanentStoreError` (it will not); `get_object`, `open_object` and
    `head_object` raise `ObjectNotFoundError` for a missing key. Store
    objects are safe to share between threads.
    """

    @property
    def bucket(self) -> str:
        """The bucket name ("" for a local directory store)."""
        ...

    @property
    def prefix(self) -> str:
        """Key prefix from the store URL, no leading or trailing "/" ("" if none)."""
        ...

    @property
    def url(self) -> str:
        """The store URL, e.g. ``s3://bucket/prefix`` or ``file:///dir``; no secret."""
        ...

    def put_object(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        content_encoding: str | None = None,
        metadata: Mapping[str, str] | None = None,
        digests: BodyDigests | None = None,
    ) -> ObjectRef:
        """
        Store `body` under `key`, replacing any object there.

        Sends Content-MD5 and keeps objlog's own SHA-256 in the metadata
        (``objlog-sha256``). Uses a multipart upload above the store's
        multipart threshold. Never leaves a partial object visible.

        Args:
            key: The full key.
            body: The bytes.
            content_type: Content-Type (default ``application/octet-stream``).
            content_encoding: Content-Encoding, e.g. ``"gzip"`` (default None).
            metadata: User metadata (``x-amz-meta-*``); keys are lower-cased.
            digests: The body's MD5 and SHA-256 when the caller has them
                (default None: the store hashes the body). Part of the
                protocol: every store accepts it, and the writer passes it
                to any store. A store uses them instead of hashing again and
                refuses a body they do not match, as S3 does for Content-MD5.

        Returns:
            An `ObjectRef` with the size, SHA-256 and the store's ETag.

        Raises:
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, bad credentials, no such bucket, an
                invalid key, ``BadDigest`` (`digests` not the body's; nothing
                is stored).
        """
        ...

    def put_stream(
        self,
        key: str,
        stream: BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        content_encoding: str | None = None,
        metadata: Mapping[str, str] | None = None,
        size_bytes: int | None = None,
    ) -> ObjectRef:
        """
        Store a stream read until EOF, in bounded memory.

        A stream shorter than the multipart threshold becomes one PUT, a
        longer one a multipart upload (aborted on failure) with the store's
        parts in flight at once, each read one part at a time. Part sizes
        fit S3's limits: `fitted_part_bytes` of `size_bytes` when given,
        else growing with the part count (`stream_part_bytes`).

        Args:
            key: The full key.
            stream: Read with ``read(n)`` until it returns b"".
            content_type: Content-Type (default ``application/octet-stream``).
            content_encoding: Content-Encoding (default None).
            metadata: User metadata (``x-amz-meta-*``); keys are lower-cased.
            size_bytes: An upper bound of the stream's size in bytes, when
                known (default None): picks the part size before the upload
                and refuses more than `MAX_OBJECT_BYTES` before any byte.

        Returns:
            An `ObjectRef` with the size and SHA-256 of the bytes read.

        Raises:
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, no such bucket, an invalid key;
                ``EntityTooLarge`` above 5 TiB; ``TooManyParts`` when a
                stream exceeds its `size_bytes` so far that parts run out.
            Exception: What reading `stream` raises, unchanged.
        """
        ...

    def get_object(self, key: str, *, byte_range: tuple[int, int] | None = None) -> bytes:
        """
        Return the object's bytes, or the inclusive ``(first, last)`` byte range.
        """
        ...

    def open_object(self, key: str) -> BinaryIO:
        """
        Return a readable binary stream of the object; the caller closes it.
        """
        ...

    def head_object(self, key: str) -> ObjectInfo:
        """
        Return size, time, ETag, content headers and user metadata of `key`.
        """
        ...

    def list_objects(
        self, prefix: str = "", *, start_after: str | None = None
    ) -> Iterator[ObjectInfo]:
        """
        Yield every object whose key starts with `prefix`, in lexical key order.

        Paginates transparently. With `start_after`, only keys sorting after it.
        """
        ...

    def list_prefixes(self, prefix: str = "", *, delimiter: str = "/") -> Iterator[str]:
        """
        Yield the common prefixes directly below `prefix` (S3 ``CommonPrefixes``).

        Each yielded prefix ends with `delimiter`, in lexical order.
        """
        ...

    def delete_object(self, key: str) -> None:
        """
        Delete `key`; deleting a missing key is not an error (S3 semantics).
        """
        ...

    def ensure_bucket(self) -> None:
        """
        Create the bucket if it does not exist; an existing bucket is fine.
        """
        ...

    def close(self) -> None:
        """
        Release connections; the store may not be used afterwards.
        """
        ...


class Clock(Protocol):
    """
    **Protocol:** a monotonic clock in seconds, e.g. `time.monotonic`.
    """

    def __call__(self) -> float: ...


class Sleep(Protocol):
    """
    **Protocol:** sleep for the given seconds, e.g. `time.sleep`.
    """

    def __call__(self, seconds: float, /) -> None: ...
