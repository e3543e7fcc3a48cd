"""
Machinery shared by the store backends: checksums, part splitting, metadata.

Private: nothing here is a public API.
"""

from __future__ import annotations

import abc
import base64
import contextlib
import dataclasses
import encodings.idna  # noqa: F401 - imported here on purpose, see below
import hashlib
import io
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO, cast

from objlog._streams import PrependReader as _Prepend
from objlog._streams import read_exact
from objlog.config import StoreConfig
from objlog.errors import (
    ObjectNotFoundError,
    PermanentStoreError,
    StoreError,
    TransientStoreError,
)
from objlog.typing import MAX_PARTS, BodyDigests, ObjectRef

# Why `encodings.idna` is imported above: the first connection of an SDK
# client encodes the host name with the "idna" codec, which imports that
# module then, on the uploader thread. An ``os.fork()`` during that import
# leaves the child with the module's import lock held by a thread that does
# not exist there, and the child's uploader hangs on its first connection.
# Importing it here does it on the thread that opens the store.

__all__ = [
    "SHA256_META",
    "MappedStream",
    "ObjectHeaders",
    "S3StoreBase",
    "UploadCalls",
    "check_part_count",
    "classify_s3_error",
    "content_md5",
    "iter_parts",
    "read_exact",
    "scrub",
    "upload_body",
    "upload_stream",
    "user_metadata",
]

#: User-metadata key holding objlog's own checksum (hex SHA-256 of the body).
SHA256_META = "objlog-sha256"


def check_digests(
    digests: BodyDigests | None, md5: bytes, sha256: str, *, bucket: str, key: str
) -> None:
    """
    Refuse a body whose MD5 or SHA-256 is not what the caller's `digests` say.

    For stores that hash the body themselves (local, memory), so that a
    wrong `digests` fails there as it does on S3 (which checks Content-MD5).

    Raises:
        PermanentStoreError: Reason ``BadDigest``.
    """
    if digests is None:
        return
    if digests.md5 != base64.b64encode(md5).decode("ascii") or digests.sha256 != sha256:
        raise PermanentStoreError(
            "put_object: the body does not match the digests given (BadDigest)",
            bucket=bucket,
            key=key,
            reason="BadDigest",
        )


def content_md5(data: bytes | memoryview) -> str:
    """Return the base64 MD5 digest for a ``Content-MD5`` header."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def iter_parts(first: bytes, stream: BinaryIO | None, part_size_bytes: int) -> Iterator[bytes]:
    """
    Yield `first` followed by the rest of `stream` in parts of `part_size_bytes`.

    Every part but the last has exactly `part_size_bytes`; none is empty.
    `first` is cut with memoryview offsets (one part-sized copy per part,
    none when `first` is exactly one part), and `stream` is read one aligned
    part at a time, so besides `first` at most one part is held here. The
    caller should drop its own references to `first` and to each part it
    has sent, so that memory holds about one part.
    """
    size = len(first)
    whole = size - size % part_size_bytes
    if whole == part_size_bytes == size:
        yield first
    elif whole:
        view = memoryview(first)
        for offset in range(0, whole, part_size_bytes):
            yield bytes(view[offset : offset + part_size_bytes])
        view.release()
    tail = first[whole:] if whole else first
    del first
    if stream is None:
        if tail:
            yield tail
        return
    while True:
        more = read_exact(stream, part_size_bytes - len(tail))
        piece = tail + more if tail and more else (tail or more)
        tail = more = b""
        if not piece:
            return
        yield piece
        if len(piece) < part_size_bytes:
            return
        del piece


def check_part_count(number: int, *, bucket: str, key: str, part_size_bytes: int) -> None:
    """
    Raise if part `number` would exceed S3's 10,000-part limit.

    Raises:
        PermanentStoreError: Too many parts; the message says to raise the part size.
    """
    if number > MAX_PARTS:
        raise PermanentStoreError(
            f"object needs more than {MAX_PARTS} parts of {part_size_bytes} bytes "
            "(S3 limit); raise part_size_bytes",
            bucket=bucket,
            key=key,
            reason="TooManyParts",
        )


def user_metadata(metadata: Mapping[str, str] | None, sha256: str | None) -> dict[str, str]:
    """
    Return user metadata with lower-case keys and ``objlog-sha256`` when known.
    """
    meta = {str(k).lower(): str(v) for k, v in (metadata or {}).items()}
    if sha256 is not None:
        meta[SHA256_META] = sha256
    return meta


# -- error classification shared by the SDK seams -------------------------------

_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
    "AuthorizationHeaderMalformed",
    "InvalidSecurity",
}
_THROTTLE_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequests",
    "RequestThrottled",
    "ServiceUnavailable",
}
_TIMEOUT_CODES = {"RequestTimeout", "RequestTimeoutException"}
_SERVER_CODES = {"InternalError", "InternalServerError", "BadGateway", "GatewayTimeout"}


def classify_s3_error(
    code: str,
    status: int,
    server_message: str,
    *,
    verb: str,
    bucket: str,
    key: str | None,
) -> StoreError:
    """
    Map an S3 error response (code, HTTP status) to objlog's error tree.

    Args:
        code: The S3 error code, e.g. ``"NoSuchKey"`` ("" when the response had
            no body, as for HEAD).
        status: The HTTP status.
        server_message: The server's message (never holds a secret; truncated).
        verb: What objlog was doing, e.g. ``"put_object"``.
        bucket: The bucket.
        key: The key, or None for bucket-level requests.

    Returns:
        A `TransientStoreError`, `PermanentStoreError` or `ObjectNotFoundError`
        whose ``reason`` is a short cause.
    """
    detail = f" ({server_message[:200]})" if server_message else ""
    label = f"{verb} failed: {code or 'HTTP'} {status}{detail}"
    if code in {"NoSuchKey", "NoSuchVersion"} or (
        status == 404 and key is not None and code in {"", "404", "NotFound"}
    ):
        return ObjectNotFoundError(
            f"{verb}: no such key", bucket=bucket, key=key, reason="NoSuchKey"
        )
    if code == "NoSuchBucket" or (
        status == 404 and key is None and code in {"", "404", "NotFound"}
    ):
        return PermanentStoreError(
            f"{verb}: bucket does not exist", bucket=bucket, key=key, reason="NoSuchBucket"
        )
    if code in _CREDENTIAL_CODES:
        reason = (
            "ExpiredToken"
            if code in {"ExpiredToken", "TokenRefreshRequired"}
            else ("InvalidCredentials")
        )
        return PermanentStoreError(
            f"{verb} failed: credentials rejected ({code}); check the access key, "
            "secret key and session token",
            bucket=bucket,
            key=key,
            reason=reason,
        )
    if code in {"AccessDenied", "AllAccessDisabled"} or status == 403:
        return PermanentStoreError(
            f"{verb} failed: access denied ({code or status})",
            bucket=bucket,
            key=key,
            reason="AccessDenied",
        )
    if code == "InvalidBucketName":
        return PermanentStoreError(label, bucket=bucket, key=key, reason="InvalidBucketName")
    if code in _THROTTLE_CODES or status in {429, 503}:
        return TransientStoreError(label, bucket=bucket, key=key, reason="SlowDown")
    if code in _TIMEOUT_CODES or status == 408:
        return TransientStoreError(label, bucket=bucket, key=key, reason="Timeout")
    if code in _SERVER_CODES or status >= 500:
        return TransientStoreError(label, bucket=bucket, key=key, reason="ServerError")
    return PermanentStoreError(label, bucket=bucket, key=key, reason=code or f"HTTP{status}")


def scrub(text: str, secrets: tuple[str | None, ...]) -> str:
    """Replace every occurrence of a secret in `text` with ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class MappedStream(io.RawIOBase):
    """
    A raw binary stream over an SDK body whose read errors become StoreErrors.

    Wrapped in `io.BufferedReader` by the backends so callers get a `BinaryIO`.
    """

    def __init__(
        self,
        read: Callable[[int], bytes],
        close: Callable[[], None],
        map_error: Callable[[BaseException], StoreError],
    ) -> None:
        super().__init__()
        self._read = read
        self._close = close
        self._map_error = map_error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._read(len(view))
        except StoreError:
            raise
        except Exception as exc:
            raise self._map_error(exc) from exc
        n = len(data)
        view[:n] = data
        return n

    def readall(self) -> bytes:
        # RawIOBase.readall would ask the SDK for 8 KiB at a time.
        chunks: list[bytes] = []
        while True:
            try:
                chunk = self._read(1024 * 1024)
            except StoreError:
                raise
            except Exception as exc:
                raise self._map_error(exc) from exc
            if not chunk:
                return b"".join(chunks)
            chunks.append(bytes(chunk))

    def close(self) -> None:
        if not self.closed:
            try:
                self._close()
            finally:
                super().close()


# -- the upload routine shared by the S3 backends ---------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ObjectHeaders:
    """Content headers and user metadata of an object being uploaded."""

    content_type: str
    content_encoding: str | None
    metadata: Mapping[str, str]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class UploadCalls:
    """
    The SDK requests an upload is made of; each raises the SDK's own errors.

    Attributes:
        put: ``put(key, body, content_md5, headers) -> etag``: one PutObject.
        create: ``create(key, headers) -> upload_id``: CreateMultipartUpload.
        upload_part: ``upload_part(key, upload_id, number, body, content_md5)
            -> etag``: UploadPart.
        complete: ``complete(key, upload_id, [(number, etag), ...]) -> etag``
            ("" when the server sends none): CompleteMultipartUpload.
        abort: ``abort(key, upload_id)``: AbortMultipartUpload.
        map_error: ``map_error(exc, verb, key) -> StoreError``: the backend's
            error mapper.
    """

    put: Callable[[str, bytes, str, ObjectHeaders], str]
    create: Callable[[str, ObjectHeaders], str]
    upload_part: Callable[[str, str, int, bytes, str], str]
    complete: Callable[[str, str, list[tuple[int, str]]], str]
    abort: Callable[[str, str], None]
    map_error: Callable[[BaseException, str, str | None], StoreError]


def _headers(
    content_type: str,
    content_encoding: str | None,
    metadata: Mapping[str, str] | None,
    sha256: str | None,
) -> ObjectHeaders:
    return ObjectHeaders(
        content_type=content_type or "application/octet-stream",
        content_encoding=content_encoding or None,
        metadata=user_metadata(metadata, sha256),
    )


def _single_put(
    calls: UploadCalls,
    bucket: str,
    key: str,
    body: bytes,
    headers: ObjectHeaders,
    sha256: str,
    md5: str | None = None,
) -> ObjectRef:
    try:
        etag = calls.put(key, body, md5 or content_md5(body), headers)
    except Exception as exc:
        raise calls.map_error(exc, "put_object", key) from exc
    return ObjectRef(bucket=bucket, key=key, size=len(body), sha256=sha256, etag=etag.strip('"'))


def _multipart(
    calls: UploadCalls,
    bucket: str,
    key: str,
    parts: Iterator[bytes],
    headers: ObjectHeaders,
    part_size_bytes: int,
) -> ObjectRef:
    try:
        upload_id = calls.create(key, headers)
    except Exception as exc:
        raise calls.map_error(exc, "create_multipart_upload", key) from exc
    sha = hashlib.sha256()
    size = 0
    sent: list[tuple[int, str]] = []
    verb: str | None = None
    try:
        while True:
            verb = None  # reading the caller's stream: its errors stay its own
            part = next(parts, None)
            if part is None:
                break
            number = len(sent) + 1
            check_part_count(number, bucket=bucket, key=key, part_size_bytes=part_size_bytes)
            verb = "upload_part"
            etag = calls.upload_part(key, upload_id, number, part, content_md5(part))
            sent.append((number, etag))
            sha.update(part)
            size += len(part)
            del part  # the next read must not hold two parts
        verb = "complete_multipart_upload"
        done = calls.complete(key, upload_id, sent)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            calls.abort(key, upload_id)
        if verb is not None and isinstance(exc, Exception):
            raise calls.map_error(exc, verb, key) from exc
        raise
    finally:
        # Free what the part iterator holds (e.g. a failed stream's buffers).
        close = getattr(parts, "close", None)
        if close is not None:
            close()
    # Ceph RGW answers CompleteMultipartUpload with an empty ETag: informational only.
    return ObjectRef(
        bucket=bucket,
        key=key,
        size=size,
        sha256=sha.hexdigest(),
        etag=done.strip('"'),
        parts=len(sent),
    )


def upload_body(
    calls: UploadCalls,
    key: str,
    body: bytes,
    *,
    bucket: str,
    content_type: str,
    content_encoding: str | None,
    metadata: Mapping[str, str] | None,
    multipart_threshold_bytes: int,
    part_size_bytes: int,
    digests: BodyDigests | None = None,
) -> ObjectRef:
    """
    Upload `body`: one PUT up to the threshold, else a multipart upload.

    The SHA-256 is known first, so it goes into ``objlog-sha256`` either
    way. Parts are cut from `body` by offset: memory beyond `body` is one part.
    A single PUT takes both digests from `digests` when given (the server
    checks the MD5); a multipart upload hashes `body` itself, since each
    part needs its own MD5 anyway.

    Raises:
        TransientStoreError: As mapped by ``calls.map_error``.
        PermanentStoreError: As mapped (``BadDigest`` when `digests` is not
            the body's), or more than 10,000 parts.
    """
    if digests is not None and len(body) <= multipart_threshold_bytes:
        headers = _headers(content_type, content_encoding, metadata, digests.sha256)
        return _single_put(calls, bucket, key, body, headers, digests.sha256, digests.md5)
    digest = hashlib.sha256(body).hexdigest()
    headers = _headers(content_type, content_encoding, metadata, digest)
    if len(body) <= multipart_threshold_bytes:
        return _single_put(calls, bucket, key, body, headers, digest)
    parts = iter_parts(body, None, part_size_bytes)
    ref = _multipart(calls, bucket, key, parts, headers, part_size_bytes)
    if ref.sha256 != digest:  # pragma: no cover - defensive
        raise PermanentStoreError(
            "multipart upload hashed differently than its body", bucket=bucket, key=key
        )
    return ref


def upload_stream(
    calls: UploadCalls,
    key: str,
    stream: BinaryIO,
    *,
    bucket: str,
    content_type: str,
    content_encoding: str | None,
    metadata: Mapping[str, str] | None,
    multipart_threshold_bytes: int,
    part_size_bytes: int,
) -> ObjectRef:
    """
    Upload `stream` read to EOF: one PUT up to the threshold, else multipart.

    Reads are aligned on parts. With a threshold below the part size, one
    part is read and decides; otherwise the threshold is read, then the
    bytes completing the part it ends in: nothing more means one PUT (with
    ``objlog-sha256``), anything more a multipart upload (the SHA-256 is
    then known only afterwards: in the ref, not the metadata). Memory:
    two parts while the first part goes up when the threshold equals the
    part size (the default), one part with a smaller threshold, the
    threshold plus two parts with a larger one; about one part after that.

    Raises:
        TransientStoreError: As mapped by ``calls.map_error``.
        PermanentStoreError: As mapped, or more than 10,000 parts.
        Exception: Whatever reading `stream` raises, unchanged (the upload
            is aborted).
    """
    threshold, part = multipart_threshold_bytes, part_size_bytes
    rest: BinaryIO = stream
    if threshold < part:
        head = read_exact(stream, part)
        single = len(head) <= threshold
    else:
        head = read_exact(stream, threshold)
        single = len(head) < threshold
        if not single:
            probe = read_exact(stream, part - threshold % part)
            single = not probe
            if probe:
                rest = cast(BinaryIO, _Prepend(probe, stream))
            del probe
    if single:
        digest = hashlib.sha256(head).hexdigest()
        headers = _headers(content_type, content_encoding, metadata, digest)
        return _single_put(calls, bucket, key, head, headers, digest)
    parts = iter_parts(head, rest, part)
    del head, rest  # the part iterator holds them only as long as it needs them
    headers = _headers(content_type, content_encoding, metadata, None)
    return _multipart(calls, bucket, key, parts, headers, part)


class S3StoreBase(abc.ABC):
    """
    What the boto3 and minio stores share: properties, uploads, verbs.

    A subclass sets ``_config``, ``_secrets`` and ``_calls`` and implements
    the SDK seams (`_map`, `_open`, `_delete`, `_bucket_exists`,
    `_create_bucket`) plus `head_object`, the listings and `close`.
    """

    _config: StoreConfig
    _secrets: tuple[str | None, ...]
    _calls: UploadCalls

    # -- the SDK seams ---------------------------------------------------------------
    @abc.abstractmethod
    def _map(self, exc: BaseException, verb: str, key: str | None) -> StoreError:
        """Map an SDK exception (the backend's error mapper)."""

    @abc.abstractmethod
    def _open(self, key: str, byte_range: tuple[int, int] | None) -> BinaryIO:
        """GetObject as a stream whose read errors are StoreErrors."""

    @abc.abstractmethod
    def _delete(self, key: str) -> None:
        """DeleteObject; raises the SDK's errors."""

    @abc.abstractmethod
    def _bucket_exists(self) -> bool:
        """HeadBucket; raises the SDK's errors (except a missing bucket)."""

    @abc.abstractmethod
    def _create_bucket(self, location: str | None) -> None:
        """CreateBucket with an optional LocationConstraint; raises the SDK's errors."""

    # -- properties -----------------------------------------------------------------
    @property
    def bucket(self) -> str:
        """The bucket name."""
        return self._config.bucket

    @property
    def prefix(self) -> str:
        """Key prefix from the store URL, no leading or trailing "/"."""
        return self._config.prefix

    @property
    def url(self) -> str:
        """``s3://BUCKET[/PREFIX]``; no secret."""
        return self._config.url

    @property
    def config(self) -> StoreConfig:
        """The configuration this store was built from (secrets redacted in its repr)."""
        return self._config

    def __repr__(self) -> str:
        endpoint = self._config.endpoint_url or "AWS"
        return f"{type(self).__name__}(url={self.url!r}, endpoint={endpoint!r})"

    # -- writing --------------------------------------------------------------------
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
        Store `body` under `key` with Content-MD5 and ``objlog-sha256`` metadata.

        Bodies larger than ``multipart_threshold_bytes`` go up as a multipart
        upload of ``part_size_bytes`` parts (aborted on failure); memory
        beyond `body` is one part.

        Args:
            key: The full key.
            body: The bytes.
            content_type: Content-Type (default application/octet-stream).
            content_encoding: Content-Encoding, e.g. ``"gzip"`` (default None).
            metadata: User metadata (``x-amz-meta-*``); keys lower-cased.
            digests: The body's MD5 and SHA-256 if the caller has them
                (default None: hashed here); a single PUT sends them as they
                are, and the server checks the MD5.

        Returns:
            An `ObjectRef` with size, SHA-256 and the returned ETag.

        Raises:
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, bad credentials, no such bucket,
                ``BadDigest`` (`digests` not the body's), ...

        Thread safety: safe from any thread.
        """
        return upload_body(
            self._calls,
            key,
            bytes(body),
            bucket=self.bucket,
            content_type=content_type,
            content_encoding=content_encoding,
            metadata=metadata,
            multipart_threshold_bytes=self._config.multipart_threshold_bytes,
            part_size_bytes=self._config.part_size_bytes,
            digests=digests,
        )

    def put_stream(
        self,
        key: str,
        stream: BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        content_encoding: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectRef:
        """
        Store `stream` (read to EOF) under `key`, in bounded memory.

        Reads are aligned on ``part_size_bytes``. A stream of at most
        ``multipart_threshold_bytes`` becomes one PUT (with
        ``objlog-sha256``); a longer one a multipart upload read one part at
        a time and aborted on any failure. Memory: two parts while the
        first part goes up with the default threshold (equal to the part
        size), the threshold plus two parts with a larger one, about one
        part afterwards. For a multipart stream the SHA-256 is known only
        afterwards, so it is in the returned ref but not in the object's
        metadata.

        Args:
            key: The full key.
            stream: A binary stream; read by the caller's thread until EOF.
            content_type: Content-Type (default application/octet-stream).
            content_encoding: Content-Encoding, e.g. ``"gzip"`` (default None).
            metadata: User metadata (``x-amz-meta-*``); keys lower-cased.

        Returns:
            An `ObjectRef` (``parts`` is the number of parts).

        Raises:
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, bad credentials, no such bucket,
                more than 10,000 parts (reason ``TooManyParts``), ...

        Errors raised by ``stream.read`` propagate unchanged.

        Thread safety: safe from any thread; the stream is read by the caller's thread.
        """
        return upload_stream(
            self._calls,
            key,
            stream,
            bucket=self.bucket,
            content_type=content_type,
            content_encoding=content_encoding,
            metadata=metadata,
            multipart_threshold_bytes=self._config.multipart_threshold_bytes,
            part_size_bytes=self._config.part_size_bytes,
        )

    # -- reading --------------------------------------------------------------------
    def get_object(self, key: str, *, byte_range: tuple[int, int] | None = None) -> bytes:
        """
        Return the object's bytes, or the inclusive ``(first, last)`` byte range.

        Args:
            key: The full key.
            byte_range: Inclusive ``(first, last)`` byte offsets (default: all).

        Returns:
            The bytes as stored (a Content-Encoding is never undone).

        Raises:
            ObjectNotFoundError: No such key.
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, bad credentials, no such bucket, bad range.

        Thread safety: safe from any thread.
        """
        with self._open(key, byte_range) as stream:
            return stream.read()

    def open_object(self, key: str) -> BinaryIO:
        """
        Return a readable binary stream of the object; the caller closes it.

        Read errors surface from the stream's ``read`` as `StoreError`.

        Raises:
            ObjectNotFoundError: No such key.
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, bad credentials, no such bucket.

        Thread safety: the store is; the returned stream belongs to one thread.
        """
        return self._open(key, None)

    # -- deleting and the bucket ------------------------------------------------------
    def delete_object(self, key: str) -> None:
        """
        Delete `key`; a missing key is not an error (S3 semantics).

        Raises:
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, bad credentials, no such bucket.

        Thread safety: safe from any thread.
        """
        try:
            self._delete(key)
        except Exception as exc:
            error = self._map(exc, "delete_object", key)
            if error.reason == "NoSuchKey":
                return
            raise error from exc

    def ensure_bucket(self) -> None:
        """
        Create the bucket unless it exists (HeadBucket, then CreateBucket).

        A LocationConstraint is sent only outside us-east-1. A bucket that
        already exists and is ours is fine.

        Raises:
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, bad credentials, the name is taken
                by another account (reason ``BucketAlreadyExists``).

        Thread safety: safe from any thread.
        """
        try:
            if self._bucket_exists():
                return
        except Exception as exc:
            raise self._map(exc, "head_bucket", None) from exc
        location = None if self._config.region == "us-east-1" else self._config.region
        try:
            self._create_bucket(location)
        except Exception as exc:
            error = self._map(exc, "create_bucket", None)
            if error.reason == "BucketAlreadyOwnedByYou":
                return
            raise error from exc
