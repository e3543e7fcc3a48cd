"""
Machinery shared by the store backends: checksums, part splitting, metadata.

Private: nothing here is a public API.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO

from objlog.errors import (
    ObjectNotFoundError,
    PermanentStoreError,
    StoreError,
    TransientStoreError,
)
from objlog.typing import MAX_PARTS

__all__ = [
    "SHA256_META",
    "MappedStream",
    "check_part_count",
    "classify_s3_error",
    "content_md5",
    "iter_parts",
    "read_exact",
    "scrub",
    "user_metadata",
]

#: User-metadata key holding objlog's own checksum (hex SHA-256 of the body).
SHA256_META = "objlog-sha256"


def content_md5(data: bytes | memoryview) -> str:
    """Return the base64 MD5 digest for a ``Content-MD5`` header."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def read_exact(stream: BinaryIO, n: int) -> bytes:
    """
    Read up to `n` bytes, looping over short reads; fewer only at EOF.
    """
    if n <= 0:
        return b""
    chunks: list[bytes] = []
    remaining = n
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def iter_parts(first: bytes, stream: BinaryIO, part_size_bytes: int) -> Iterator[bytes]:
    """
    Yield `first` followed by the rest of `stream` in parts of `part_size_bytes`.

    Every part but the last has exactly `part_size_bytes`; at most one part
    (plus what `first` held) is in memory at a time.
    """
    buf = first
    while True:
        if len(buf) < part_size_bytes:
            more = read_exact(stream, part_size_bytes - len(buf))
            buf = buf + more if buf else more
            if len(buf) < part_size_bytes:
                if buf:
                    yield buf
                return
        yield buf[:part_size_bytes]
        buf = buf[part_size_bytes:]


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
