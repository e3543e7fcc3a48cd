"""Pure store machinery: part splitting, the part limit, S3 error classification."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog.errors import ObjectNotFoundError, PermanentStoreError, TransientStoreError
from objlog.stores._common import (
    check_part_count,
    classify_s3_error,
    content_md5,
    iter_parts,
    read_exact,
    scrub,
)


class Trickle(io.RawIOBase):
    """A stream returning at most `chunk` bytes per read."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self._data = data
        self._pos = 0
        self._chunk = chunk

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self._chunk if n < 0 else min(n, self._chunk)
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out


@given(
    size=st.integers(0, 5000),
    first_len=st.integers(0, 700),
    part=st.integers(1, 600),
    chunk=st.integers(1, 900),
)
def test_iter_parts_reassembles_in_full_parts(
    size: int, first_len: int, part: int, chunk: int
) -> None:
    """Parts concatenate to the input; all but the last are exactly part_size; none is empty."""
    data = bytes(i % 251 for i in range(size))
    first_len = min(first_len, size)
    parts = list(iter_parts(data[:first_len], Trickle(data[first_len:], chunk), part))
    assert data == b"".join(parts)
    assert all(part == len(p) for p in parts[:-1])
    assert all(parts)


@given(size=st.integers(0, 3000), n=st.integers(0, 3000), chunk=st.integers(1, 500))
def test_read_exact_reads_through_short_reads(size: int, n: int, chunk: int) -> None:
    """read_exact returns min(n, size) bytes however short the underlying reads are."""
    data = bytes(i % 7 for i in range(size))
    assert data[:n] == read_exact(Trickle(data, chunk), n)  # type: ignore[arg-type]


def test_part_limit() -> None:
    """Part 10,000 is allowed, 10,001 is a permanent TooManyParts error (S3 limit)."""
    check_part_count(10_000, bucket="b", key="k", part_size_bytes=5)
    with pytest.raises(PermanentStoreError) as info:
        check_part_count(10_001, bucket="b", key="k", part_size_bytes=5)
    assert "TooManyParts" == info.value.reason


def test_content_md5_is_base64_of_the_digest() -> None:
    """Content-MD5 is the base64 of the binary MD5 (RFC 1864)."""
    assert "XUFAKrxLKna5cZ2REBfFkg==" == content_md5(b"hello")


def test_scrub_removes_secrets() -> None:
    """scrub replaces every secret occurrence and ignores empty ones."""
    assert "a *** b *** c" == scrub("a S b T c", ("S", None, "", "T"))


@pytest.mark.parametrize(
    ("code", "status", "key", "kind", "reason"),
    [
        ("NoSuchKey", 404, "k", ObjectNotFoundError, "NoSuchKey"),
        ("", 404, "k", ObjectNotFoundError, "NoSuchKey"),
        ("404", 404, "k", ObjectNotFoundError, "NoSuchKey"),
        ("NoSuchBucket", 404, "k", PermanentStoreError, "NoSuchBucket"),
        ("", 404, None, PermanentStoreError, "NoSuchBucket"),
        ("AccessDenied", 403, "k", PermanentStoreError, "AccessDenied"),
        ("", 403, "k", PermanentStoreError, "AccessDenied"),
        ("InvalidAccessKeyId", 403, "k", PermanentStoreError, "InvalidCredentials"),
        ("SignatureDoesNotMatch", 403, "k", PermanentStoreError, "InvalidCredentials"),
        ("ExpiredToken", 400, "k", PermanentStoreError, "ExpiredToken"),
        ("InvalidBucketName", 400, None, PermanentStoreError, "InvalidBucketName"),
        ("SlowDown", 503, "k", TransientStoreError, "SlowDown"),
        ("", 503, "k", TransientStoreError, "SlowDown"),
        ("TooManyRequests", 429, "k", TransientStoreError, "SlowDown"),
        ("RequestTimeout", 400, "k", TransientStoreError, "Timeout"),
        ("InternalError", 500, "k", TransientStoreError, "ServerError"),
        ("", 502, "k", TransientStoreError, "ServerError"),
        ("", 504, "k", TransientStoreError, "ServerError"),
        ("InvalidRange", 416, "k", PermanentStoreError, "InvalidRange"),
    ],
)
def test_classify_s3_error(
    code: str, status: int, key: str | None, kind: type, reason: str
) -> None:
    """S3 error codes and statuses map to the right error class and reason."""
    error = classify_s3_error(code, status, "server says no", verb="op", bucket="b", key=key)
    assert (kind, reason) == (type(error), error.reason)
    assert ("b", key) == (error.bucket, error.key)
