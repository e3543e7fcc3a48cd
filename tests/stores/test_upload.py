"""The shared upload routine: part splitting, single PUT or multipart, the part limit, memory."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog.errors import PermanentStoreError, StoreError, TransientStoreError
from objlog.stores._common import SHA256_META, ObjectHeaders, content_md5
from objlog.stores._upload import UploadCalls, Uploader, check_part_count, iter_parts
from objlog.typing import stream_part_bytes

#: Headers of an upload whose content type and metadata do not matter.
PLAIN = ObjectHeaders.of("", None, None)


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


def test_part_limit() -> None:
    """Part 10,000 is allowed, 10,001 is a permanent TooManyParts error (S3 limit)."""
    check_part_count(10_000, bucket="b", key="k", part_size_bytes=5)
    with pytest.raises(PermanentStoreError) as info:
        check_part_count(10_001, bucket="b", key="k", part_size_bytes=5)
    assert "TooManyParts" == info.value.reason


# -- the shared upload routine, driven by function-backed fake SDK calls ------------


class FakeSDK:
    """Function-backed SDK calls that keep what an S3 server would keep."""

    def __init__(self, fail_part: int | None = None, keep: bool = True) -> None:
        self.objects: dict[str, tuple[bytes, ObjectHeaders]] = {}
        self.uploads: dict[str, tuple[str, ObjectHeaders, dict[int, bytes]]] = {}
        self.aborted: list[str] = []
        self.part_sizes: list[int] = []
        self.fail_part = fail_part
        self.keep = keep

    def put(self, key: str, body: bytes, md5: str, headers: ObjectHeaders) -> str:
        """PutObject: checks Content-MD5, stores the object."""
        assert content_md5(body) == md5
        self.objects[key] = (body if self.keep else b"", headers)
        return '"etag-single"'

    def create(self, key: str, headers: ObjectHeaders) -> str:
        """CreateMultipartUpload."""
        upload_id = f"up-{len(self.uploads)}"
        self.uploads[upload_id] = (key, headers, {})
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, body: bytes, md5: str) -> str:
        """UploadPart: checks Content-MD5; fails on `fail_part`."""
        assert content_md5(body) == md5
        assert isinstance(body, bytes)
        if number == self.fail_part:
            raise ConnectionResetError("reset by peer")
        self.part_sizes.append(len(body))
        self.uploads[upload_id][2][number] = body if self.keep else b""
        return f'"etag-{number}"'

    def complete(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> str:
        """CompleteMultipartUpload: assembles the parts in order."""
        _, headers, stored = self.uploads.pop(upload_id)
        assert [n for n, _ in parts] == sorted(stored)
        self.objects[key] = (b"".join(stored[n] for n, _ in parts), headers)
        return ""

    def abort(self, key: str, upload_id: str) -> None:
        """AbortMultipartUpload."""
        self.uploads.pop(upload_id, None)
        self.aborted.append(upload_id)

    def map_error(self, exc: BaseException, verb: str, key: str | None) -> StoreError:
        """Every SDK failure is transient here; the verb goes into the message."""
        return TransientStoreError(verb, bucket="b", key=key, reason="ConnectionReset")

    def uploader(self, threshold: int, part: int) -> Uploader:
        """An Uploader to bucket "b" through these fakes."""
        calls = UploadCalls(
            put=self.put,
            create=self.create,
            upload_part=self.upload_part,
            complete=self.complete,
            abort=self.abort,
            map_error=self.map_error,
        )
        return Uploader(
            calls=calls, bucket="b", multipart_threshold_bytes=threshold, part_size_bytes=part
        )


class CountingStream(Trickle):
    """A Trickle that records the largest read request."""

    max_request = 0

    def read(self, n: int = -1) -> bytes:
        self.max_request = max(self.max_request, n)
        return super().read(n)


@given(
    size=st.integers(0, 4000),
    threshold=st.integers(1, 1500),
    part=st.integers(1, 700),
    chunk=st.integers(1, 900),
)
def test_upload_stream_decides_by_threshold_and_aligns_parts(
    size: int, threshold: int, part: int, chunk: int
) -> None:
    """Up to the threshold one PUT with sha metadata, above it aligned parts; reads stay bounded."""
    data = bytes(i % 251 for i in range(size))
    sdk = FakeSDK()
    stream = CountingStream(data, chunk)
    headers = ObjectHeaders.of("text/plain", None, {"Kind": "x"})
    ref = sdk.uploader(threshold, part).stream("k", stream, headers)  # type: ignore[arg-type]
    body, headers = sdk.objects["k"]
    assert data == body
    assert (hashlib.sha256(data).hexdigest(), size) == (ref.sha256, ref.size)
    multipart = size > threshold
    assert multipart == (ref.parts != 1 or bool(sdk.part_sizes))
    if multipart:
        # A stream of unknown size: part sizes grow with the part count.
        count = len(sdk.part_sizes)
        assert [stream_part_bytes(n, part) for n in range(1, count)] == sdk.part_sizes[:-1]
        assert 0 < sdk.part_sizes[-1] <= stream_part_bytes(count, part)
        assert count == ref.parts
        assert {"kind": "x"} == dict(headers.metadata)
    else:
        assert {"kind": "x", SHA256_META: ref.sha256} == dict(headers.metadata)
    assert stream.max_request <= max(threshold, stream_part_bytes(ref.parts, part))
    assert [] == sdk.aborted


@given(size=st.integers(0, 4000), threshold=st.integers(1, 1500), part=st.integers(1, 700))
def test_upload_body_decides_by_threshold_and_keeps_sha(
    size: int, threshold: int, part: int
) -> None:
    """put_object bodies above the threshold go up in exact parts, with objlog-sha256 metadata."""
    data = bytes(i % 13 for i in range(size))
    sdk = FakeSDK()
    ref = sdk.uploader(threshold, part).body("k", data, ObjectHeaders.of("", "gzip", None))
    body, headers = sdk.objects["k"]
    assert data == body
    assert {SHA256_META: hashlib.sha256(data).hexdigest()} == dict(headers.metadata)
    assert ("application/octet-stream", "gzip") == (headers.content_type, headers.content_encoding)
    expected_parts = -(-size // part) if size > threshold else 1
    assert expected_parts == ref.parts
    assert all(part == n for n in sdk.part_sizes[:-1])


def test_failed_part_is_mapped_and_aborts() -> None:
    """An SDK error in part 2 becomes the mapper's StoreError and the upload is aborted."""
    sdk = FakeSDK(fail_part=2)
    with pytest.raises(TransientStoreError) as info:
        sdk.uploader(100, 100).stream("k", io.BytesIO(b"x" * 1000), PLAIN)
    assert ("upload_part", ["up-0"], {}) == (str(info.value).split()[0], sdk.aborted, sdk.uploads)
    assert isinstance(info.value.__cause__, ConnectionResetError)


def test_failed_stream_propagates_unchanged_and_aborts() -> None:
    """An error reading the caller's stream is not mapped; the upload is aborted."""

    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls > 3:
                raise OSError("the producer died")
            return b"y" * n

    sdk = FakeSDK()
    with pytest.raises(OSError, match="the producer died"):
        sdk.uploader(100, 100).stream("k", Broken(), PLAIN)  # type: ignore[arg-type]
    assert (["up-0"], {}, {}) == (sdk.aborted, sdk.uploads, sdk.objects)


PART = 256 * 1024


def _upload_peak(routine: Callable[..., object], source: object) -> tuple[int, int]:
    """Upload `source` with `routine` in 256 KiB parts; return (parts sent, peak bytes held)."""
    sdk = FakeSDK(keep=False)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        routine(sdk.uploader(PART, PART), "k", source, PLAIN)
        return len(sdk.part_sizes), tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_streamed_multipart_holds_about_two_parts() -> None:
    """Streaming 40 parts holds at most ~2 parts at once (head plus probe), never the object."""
    parts, peak = _upload_peak(Uploader.stream, io.BytesIO(bytes(40 * PART + 17)))
    assert 41 == parts
    assert peak < 2.5 * PART, peak


def test_multipart_put_object_copies_one_part_at_a_time() -> None:
    """put_object of a 40-part body holds at most about one extra part (no quadratic re-slicing)."""
    parts, peak = _upload_peak(Uploader.body, bytes(40 * PART))
    assert 40 == parts
    assert peak < 1.5 * PART, peak
