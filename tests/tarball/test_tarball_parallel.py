"""
Parallel gzip members and the SHA-256 trailer of `objlog._tarball`: same bytes at any thread count.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from objlog._tarball import (
    MEMBER_BYTES,
    TRAILER_BYTES,
    Verifier,
    archive_bound,
    plan,
    trailer,
    trailer_digest,
    write_archive,
)


def _payload(size: int, seed: int) -> bytes:
    """`size` bytes, half random and half repeated text, so members compress unevenly."""
    rng = random.Random(seed)
    half = size // 2
    text = b"step 42 loss=0.125 accuracy=0.97\n" * (half // 33 + 1)
    return rng.randbytes(size - half) + text[:half]


def _build(data: bytes, level: int, threads: int) -> bytes:
    sink = io.BytesIO()
    write_archive(plan("model.bin", data), sink, level, None, threads=threads)
    return sink.getvalue()


def _gzip_members(archive: bytes) -> int:
    """Count the gzip members of `archive` (each decompressor stops at a member's end)."""
    import zlib

    count, rest = 0, archive
    while rest:
        d = zlib.decompressobj(wbits=31)
        d.decompress(rest)
        assert d.eof
        rest = d.unused_data
        count += 1
    return count


@settings(max_examples=12, deadline=None)
@given(
    size=st.integers(0, 3 * MEMBER_BYTES + 5000),
    seed=st.integers(0, 2**16),
    level=st.sampled_from([0, 1, 6, 9]),
    threads=st.integers(2, 6),
)
def test_archive_bytes_do_not_depend_on_the_thread_count(
    size: int, seed: int, level: int, threads: int
) -> None:
    """One thread and several threads write the same archive, byte for byte, at any level."""
    data = _payload(size, seed)
    alone = _build(data, level, 1)
    assert alone == _build(data, level, threads)
    with tarfile.open(fileobj=io.BytesIO(alone), mode="r:gz") as tar:
        first = tar.next()
        assert first is not None
        extracted = tar.extractfile(first)
        assert extracted is not None
        assert data == extracted.read()
    assert len(alone) <= archive_bound(plan("model.bin", data))


def test_big_archives_are_cut_into_members_of_fixed_size() -> None:
    """The tar stream is cut every MEMBER_BYTES: 3.5 members of data make 4 members + trailer."""
    archive = _build(_payload(3 * MEMBER_BYTES + MEMBER_BYTES // 2 - 2048, 7), 1, 3)
    # tar: 512-byte header, data padded, 1 KiB of end blocks, padded to a 10 KiB record.
    assert 5 == _gzip_members(archive)


def test_trailer_holds_the_sha256_of_the_bytes_before_it() -> None:
    """The last member is the trailer, over everything before it; it decompresses to nothing."""
    archive = _build(b"payload", 6, 2)
    body, tail = archive[:-TRAILER_BYTES], archive[-TRAILER_BYTES:]
    assert hashlib.sha256(body).digest() == trailer_digest(tail)
    assert b"" == gzip.decompress(trailer(b"\0" * 32))
    assert gzip.decompress(body) == gzip.decompress(archive)
    assert trailer_digest(b"x" * TRAILER_BYTES) is None


def test_gzip_and_tar_commands_read_the_archive(tmp_path: Path) -> None:
    """gzip -t accepts every member (the trailer's extra field too); tar -xzf extracts it."""
    data = _payload(2 * MEMBER_BYTES + 99, 3)
    archive = tmp_path / "r.tgz"
    archive.write_bytes(_build(data, 6, 2))
    subprocess.run(["gzip", "-t", str(archive)], check=True)
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(out)], check=True)
    assert data == (out / "model.bin").read_bytes()


class Mismatch(Exception):
    """What the verifier's callback raises in these tests."""


def _verify(data: bytes, expected: str | None = None) -> Verifier:
    verifier = Verifier(io.BytesIO(data), expected, Mismatch)
    verifier.drain()
    return verifier


def test_verifier_passes_whole_archives_and_catches_any_flipped_byte() -> None:
    """Every byte is covered: flipping one before the trailer or in its digest fails the check."""
    archive = _build(_payload(5000, 1), 6, 2)
    assert _verify(archive).verified
    assert _verify(archive, hashlib.sha256(archive).hexdigest()).verified
    for position in (
        0,
        9,
        len(archive) // 2,
        len(archive) - TRAILER_BYTES - 1,
        len(archive) - 5 - 8,
    ):
        tampered = bytearray(archive)
        tampered[position] ^= 0x40
        with pytest.raises(Mismatch, match="SHA-256"):
            _verify(bytes(tampered))


def test_verifier_checks_metadata_and_passes_legacy_objects() -> None:
    """objlog-sha256 metadata covers the whole object; an object with neither passes unchecked."""
    legacy = gzip.compress(b"plain gzip from the Go original", mtime=0)
    assert not _verify(legacy).verified
    with pytest.raises(Mismatch, match="objlog-sha256"):
        _verify(legacy, hashlib.sha256(b"other").hexdigest())


def test_verifier_reads_in_small_pieces() -> None:
    """Reads of any size, the trailer split across them, give the same bytes and the same check."""
    archive = _build(_payload(3000, 2), 6, 1)
    verifier = Verifier(io.BytesIO(archive), None, Mismatch)
    got = bytearray()
    while chunk := verifier.read(7):
        got += chunk
    assert archive == bytes(got)
    assert verifier.verified


def test_verifier_hashes_in_order_across_big_and_small_reads() -> None:
    """Big reads (hashed on a thread) then small ones (inline before it) hash in stream order."""
    archive = _build(_payload(3 * MEMBER_BYTES, 5), 0, 2)
    verifier = Verifier(io.BytesIO(archive), hashlib.sha256(archive).hexdigest(), Mismatch)
    got = bytearray()
    sizes = [MEMBER_BYTES, 1000, 700 * 1024, 13] * 10
    for size in sizes:
        got += verifier.read(size)
    verifier.drain()
    assert verifier.verified
