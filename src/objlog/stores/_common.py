"""
Machinery shared by the store backends: checksums, part splitting, metadata.

Private: nothing here is a public API.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Mapping
from typing import BinaryIO

from objlog.errors import PermanentStoreError
from objlog.typing import MAX_PARTS

__all__ = [
    "SHA256_META",
    "content_md5",
    "iter_parts",
    "read_exact",
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
