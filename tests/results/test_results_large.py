"""
Large results on a real S3 server, with boto3 and minio: ranged downloads, SHA-256 checks, memory.
"""

from __future__ import annotations

import hashlib
import os
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from objlog.errors import PermanentStoreError, TransientStoreError
from objlog.results import RANGE_BYTES, ResultWriter
from objlog.stores import open_store
from objlog.stores._common import SHA256_META
from objlog.typing import ObjectStore

if TYPE_CHECKING:
    from s3harness import S3Target

MIB = 1024**2


@pytest.fixture(params=["boto3", "minio"])
def s3_store(request: pytest.FixtureRequest, s3_target: S3Target, s3_bucket: str) -> Iterator[Any]:
    """The store of each client on a fresh bucket, 5 MiB parts, 3 parts at once."""
    store = open_store(
        f"s3://{s3_bucket}",
        client=request.param,
        endpoint_url=s3_target.endpoint,
        access_key=s3_target.access_key,
        secret_key=s3_target.secret_key,
        region=s3_target.region,
        multipart_threshold_bytes=5 * MIB,
        part_size_bytes=5 * MIB,
        part_concurrency=3,
    )
    yield store
    store.close()


class RecordingStore:
    """A real store whose ranged GETs are recorded, and fail transiently as told."""

    def __init__(self, inner: ObjectStore, fail_ranges: dict[int, int] | None = None) -> None:
        self._inner = inner
        self.ranges: list[tuple[int, int]] = []
        self.fail_ranges = dict(fail_ranges or {})
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_object(self, key: str, *, byte_range: tuple[int, int] | None = None) -> bytes:
        if byte_range is not None:
            with self._lock:
                self.ranges.append(byte_range)
                left = self.fail_ranges.get(byte_range[0], 0)
                self.fail_ranges[byte_range[0]] = left - 1
            if left > 0:
                raise TransientStoreError("reset", bucket="b", key=key, reason="ConnectionReset")
        return self._inner.get_object(key, byte_range=byte_range)


def _raw(target: S3Target) -> Any:
    return target.boto3_client()


def test_large_result_is_read_with_ordered_ranged_gets(s3_store: Any, tmp_path: Path) -> None:
    """A 20 MiB result comes back through 8 MiB ranges covering the object; progress counts it."""
    payload = os.urandom(20 * MIB + 77)
    source = tmp_path / "weights.bin"
    source.write_bytes(payload)
    ref = ResultWriter(s3_store, compresslevel=0).write("pr-1", "train", "weights", source)
    assert ref.parts > 1
    recording = RecordingStore(s3_store)
    counted: list[int] = []
    reader = ResultWriter(recording, part_concurrency=3)  # type: ignore[arg-type]
    assert payload == reader.read("pr-1", "train", "weights", progress=counted.append)
    expected = [
        (first, min(first + RANGE_BYTES, ref.size) - 1) for first in range(0, ref.size, RANGE_BYTES)
    ]
    assert expected == sorted(recording.ranges)
    assert ref.size == sum(counted)


def test_a_failing_range_is_fetched_again_on_its_own(s3_store: Any, tmp_path: Path) -> None:
    """The second range fails twice, transiently: only it is asked again; extract still works."""
    payload = os.urandom(18 * MIB)
    (tmp_path / "data.bin").write_bytes(payload)
    ResultWriter(s3_store, compresslevel=0).write("pr-1", "train", "data", tmp_path / "data.bin")
    recording = RecordingStore(s3_store, fail_ranges={RANGE_BYTES: 2})
    waits: list[float] = []
    reader = ResultWriter(recording, part_concurrency=2, sleep=waits.append)  # type: ignore[arg-type]
    created = reader.extract("pr-1", "train", "data", tmp_path / "out")
    assert [tmp_path / "out" / "data.bin"] == created
    assert payload == created[0].read_bytes()
    firsts = [first for first, _ in recording.ranges]
    assert 3 == firsts.count(RANGE_BYTES)
    assert all(1 == firsts.count(f) for f in set(firsts) - {RANGE_BYTES})
    assert 2 == len(waits)


def _second_member_offset(data: bytes) -> int:
    """Offset of the archive's second gzip member."""
    d = zlib.decompressobj(wbits=31)
    d.decompress(data)
    assert d.eof
    return len(data) - len(d.unused_data)


def test_tampered_multipart_result_fails_read_and_extract(
    s3_store: Any, s3_target: S3Target, s3_bucket: str, tmp_path: Path
) -> None:
    """A multipart result changed on the server fails its trailer's SHA-256 in read and extract."""
    payload = os.urandom(12 * MIB)
    ref = ResultWriter(s3_store, compresslevel=0).write("pr-1", "train", "ckpt", payload)
    assert ref.parts > 1
    raw = _raw(s3_target)
    stored = raw.get_object(Bucket=s3_bucket, Key=ref.key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == ref.sha256  # hashed once, by the producer
    assert SHA256_META not in raw.head_object(Bucket=s3_bucket, Key=ref.key)["Metadata"]
    writer = ResultWriter(s3_store)
    assert payload == writer.read("pr-1", "train", "ckpt")

    # The OS byte of the second member's header: gzip does not check it, the trailer does.
    header = bytearray(stored)
    header[_second_member_offset(stored) + 9] ^= 0x01
    raw.put_object(Bucket=s3_bucket, Key=ref.key, Body=bytes(header))
    with pytest.raises(PermanentStoreError) as info:
        writer.read("pr-1", "train", "ckpt")
    assert "ChecksumMismatch" == info.value.reason
    assert ref.key == info.value.key

    # A payload byte: extract checks the download before writing anything.
    flipped = bytearray(stored)
    flipped[len(stored) // 2] ^= 0x01
    raw.put_object(Bucket=s3_bucket, Key=ref.key, Body=bytes(flipped))
    with pytest.raises(PermanentStoreError) as info:
        writer.extract("pr-1", "train", "ckpt", tmp_path / "dest")
    assert "ChecksumMismatch" == info.value.reason
    assert [] == list((tmp_path / "dest").iterdir())


def test_single_put_result_is_checked_against_its_metadata(
    s3_store: Any, s3_target: S3Target, s3_bucket: str
) -> None:
    """A small result carries objlog-sha256; bytes that do not match it fail open()."""
    ref = ResultWriter(s3_store).write("pr-1", "train", "score", b"0.97")
    raw = _raw(s3_target)
    meta = raw.head_object(Bucket=s3_bucket, Key=ref.key)["Metadata"]
    assert ref.sha256 == meta[SHA256_META]
    # Another body under the same metadata: a legacy plain gzip, which has no trailer.
    raw.put_object(
        Bucket=s3_bucket, Key=ref.key, Body=zlib.compress(b"x"), Metadata={SHA256_META: ref.sha256}
    )
    # So short an object ends within open()'s first reads: the check fails there.
    with (
        pytest.raises(PermanentStoreError) as info,
        ResultWriter(s3_store).open("pr-1", "train", "score") as stream,
    ):
        stream.read()
    assert "ChecksumMismatch" == info.value.reason


@pytest.mark.slow
def test_ranged_download_memory_stays_bounded(
    s3_target: S3Target, s3_bucket: str, tmp_path: Path
) -> None:
    """Reading 96 MiB with 3 ranges at once holds a few ranges, not the object (tracemalloc)."""
    store = open_store(
        f"s3://{s3_bucket}",
        endpoint_url=s3_target.endpoint,
        access_key=s3_target.access_key,
        secret_key=s3_target.secret_key,
        region=s3_target.region,
        part_concurrency=3,
    )
    try:
        source = tmp_path / "big.bin"
        with source.open("wb") as out:
            for _ in range(96):
                out.write(os.urandom(MIB))
        ResultWriter(store, compresslevel=0).write("pr-1", "train", "big", source)
        digest = hashlib.sha256()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            with ResultWriter(store).open("pr-1", "train", "big") as stream:
                while chunk := stream.read(MIB):
                    digest.update(chunk)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        assert hashlib.sha256(source.read_bytes()).hexdigest() == digest.hexdigest()
        assert peak < 64 * MIB, peak / MIB
        print(f"96 MiB result read with 3 ranged GETs at once: peak {peak / MIB:.0f} MiB")
    finally:
        store.close()
