"""
Part sizes for any size S3 allows: the pure rules, and an upload through a store that records parts.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog.errors import PermanentStoreError
from objlog.results import ResultWriter
from objlog.stores._common import ObjectHeaders
from objlog.stores._upload import UploadCalls, Uploader
from objlog.typing import (
    MAX_OBJECT_BYTES,
    MAX_PART_BYTES,
    MAX_PARTS,
    MIN_PART_BYTES,
    fitted_part_bytes,
    stream_part_bytes,
)

MIB = 1024**2
PLAIN = ObjectHeaders.of("application/octet-stream", None, None)
part_sizes = st.integers(MIN_PART_BYTES, MAX_PART_BYTES)


@given(size=st.integers(0, MAX_OBJECT_BYTES), part=part_sizes)
def test_known_size_fits_ten_thousand_parts_up_to_5_tib(size: int, part: int) -> None:
    """Any size up to 5 TiB gets a part size within S3's limits that fits in 10,000 parts."""
    chosen = fitted_part_bytes(size, part)
    assert MIN_PART_BYTES <= chosen <= MAX_PART_BYTES
    assert -(-size // chosen) <= MAX_PARTS
    # The configured size is kept when it fits; else the smallest whole MiB that fits.
    if size <= part * MAX_PARTS:
        assert part == chosen
    else:
        assert 0 == chosen % MIB
        assert -(-size // (chosen - MIB)) > MAX_PARTS


def test_known_size_above_5_tib_is_refused() -> None:
    """One byte over 5 TiB is not an S3 object."""
    with pytest.raises(ValueError, match="5 TiB"):
        fitted_part_bytes(MAX_OBJECT_BYTES + 1, 16 * MIB)


@given(part=st.integers(16 * MIB, MAX_PART_BYTES))
def test_growing_parts_reach_5_tib_within_ten_thousand_parts(part: int) -> None:
    """From 16 MiB up, a stream's growing parts hold 5 TiB in 10,000 parts, none above 5 GiB."""
    sizes = [stream_part_bytes(n, part) for n in range(1, MAX_PARTS + 1)]
    assert sum(sizes) >= MAX_OBJECT_BYTES
    assert all(part <= s <= MAX_PART_BYTES for s in sizes)
    assert sizes == sorted(sizes)
    assert [part] * 1000 == sizes[:1000]


def test_growing_parts_from_the_minimum_reach_about_4_9_tib() -> None:
    """At S3's minimum part size the growth rule still holds 4.88 TiB (the docstring's figure)."""
    total = sum(stream_part_bytes(n, MIN_PART_BYTES) for n in range(1, MAX_PARTS + 1))
    assert 4.87 < total / 1024**4 < 4.89


class RecordingCalls:
    """SDK calls that record each part's size and hash instead of storing it."""

    def __init__(self, delay: float = 0.0) -> None:
        self.part_sizes: dict[int, int] = {}
        self.sha: dict[int, bytes] = {}
        self.created = 0
        self.completed: list[tuple[int, str]] = []
        self.delay = delay

    def calls(self) -> UploadCalls:
        return UploadCalls(
            put=lambda key, body, md5, headers: "single",
            create=self._create,
            upload_part=self._part,
            complete=self._complete,
            abort=lambda key, upload_id: None,
            map_error=lambda exc, verb, key: PermanentStoreError(verb, bucket="b", key=key),
        )

    def _create(self, key: str, headers: ObjectHeaders) -> str:
        self.created += 1
        return "upload"

    def _part(self, key: str, upload_id: str, number: int, body: bytes, md5: str) -> str:
        if self.delay:
            time.sleep(self.delay)
        self.part_sizes[number] = len(body)
        self.sha[number] = hashlib.sha256(body).digest()
        return f"etag-{number}"

    def _complete(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> str:
        self.completed = parts
        return "done"


class Zeros(io.RawIOBase):
    """`size` zero bytes, read in any sizes, without holding them."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


def _uploader(calls: RecordingCalls, *, max_parts: int, concurrency: int = 3) -> Uploader:
    return Uploader(
        calls=calls.calls(),
        bucket="b",
        multipart_threshold_bytes=MIB,
        part_size_bytes=MIB,
        part_concurrency=concurrency,
        max_parts=max_parts,
    )


@pytest.mark.parametrize("known", [True, False])
def test_recorded_parts_fit_the_part_limit(known: bool) -> None:
    """With a limit of 20 parts, 60 MiB goes up in <= 20 parts, fitted (known size) or growing."""
    calls = RecordingCalls()
    size = 60 * MIB + 5
    ref = _uploader(calls, max_parts=20).stream(
        "k",
        Zeros(size),  # type: ignore[arg-type]
        PLAIN,
        size_bytes=size if known else None,
    )
    sizes = [calls.part_sizes[n] for n in sorted(calls.part_sizes)]
    assert size == sum(sizes) == ref.size
    assert len(sizes) <= 20
    assert [(n, f"etag-{n}") for n in range(1, len(sizes) + 1)] == calls.completed
    if known:
        assert [3 * MIB + MIB] * (len(sizes) - 1) == sizes[:-1]  # ceil(60 MiB / 20) rounded to MiB
    else:
        assert [stream_part_bytes(n, MIB, max_parts=20) for n in range(1, len(sizes))] == sizes[:-1]


def test_stream_beyond_its_part_limit_fails_with_too_many_parts() -> None:
    """A stream longer than its size hint runs out of parts: TooManyParts, not a cut object."""
    calls = RecordingCalls()
    with pytest.raises(PermanentStoreError) as info:
        _uploader(calls, max_parts=5).stream("k", Zeros(20 * MIB), PLAIN, size_bytes=5 * MIB)  # type: ignore[arg-type]
    assert "TooManyParts" == info.value.reason
    assert [] == calls.completed


def test_size_above_5_tib_fails_before_any_request() -> None:
    """A size hint over 5 TiB is refused before the upload is created or a byte is read."""
    calls = RecordingCalls()
    stream = Zeros(10)
    with pytest.raises(PermanentStoreError) as info:
        _uploader(calls, max_parts=MAX_PARTS).stream(
            "k",
            stream,  # type: ignore[arg-type]
            PLAIN,
            size_bytes=MAX_OBJECT_BYTES + 1,
        )
    assert ("EntityTooLarge", 0, 10) == (info.value.reason, calls.created, stream.left)


def test_result_of_a_6_tib_sparse_file_fails_before_any_request(tmp_path: Path) -> None:
    """ResultWriter bounds the archive first: a 6 TiB (sparse) file fails before any request."""
    big = tmp_path / "huge.bin"
    try:
        with big.open("wb") as f:
            f.truncate(6 * 1024**4)
    except OSError as exc:  # pragma: no cover - a file system without sparse 6 TiB files
        pytest.skip(f"no sparse 6 TiB file here: {exc}")

    class Untouched:
        """A store that must not be asked for anything."""

        bucket = "b"
        prefix = ""
        url = "s3://b"

        def put_stream(self, key: str, stream: io.RawIOBase, **options: object) -> object:
            raise AssertionError("put_stream must not be called")

    with pytest.raises(PermanentStoreError) as info:
        ResultWriter(Untouched()).write("pr", "t", "huge", big)  # type: ignore[arg-type]
    assert "EntityTooLarge" == info.value.reason


def test_concurrent_parts_hold_at_most_part_concurrency_parts() -> None:
    """With 3 slots and slow part uploads, memory holds about 3 parts (tracemalloc), never more."""
    part = 2 * MIB
    calls = RecordingCalls(delay=0.05)
    uploader = Uploader(
        calls=calls.calls(),
        bucket="b",
        multipart_threshold_bytes=part,
        part_size_bytes=part,
        part_concurrency=3,
    )
    source = io.BytesIO(os.urandom(24 * part))
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        uploader.stream("k", source, PLAIN)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert 24 == len(calls.part_sizes)
    # 3 parts held, plus the head's probe at the start (the threshold equals the part).
    assert peak < 4.5 * part, peak / MIB


def test_part_concurrency_comes_from_the_environment_and_is_checked() -> None:
    """OBJLOG_PART_CONCURRENCY sets it (default 4); 0, 65 and non-numbers are ConfigErrors."""
    from objlog.config import StoreConfig
    from objlog.errors import ConfigError

    assert 4 == StoreConfig.resolve("s3://b-1", environ={}).part_concurrency
    env = {"OBJLOG_PART_CONCURRENCY": "9"}
    assert 9 == StoreConfig.resolve("s3://b-1", environ=env).part_concurrency
    for bad in ("0", "65", "many"):
        with pytest.raises(ConfigError, match=r"(?i)part_concurrency"):
            StoreConfig.resolve("s3://b-1", environ={"OBJLOG_PART_CONCURRENCY": bad})
