"""The streaming decode side of objlog._codec: decode_stream and split_records."""

from __future__ import annotations

import gzip
import itertools
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from objlog._codec import (
    CorruptBatchError,
    CutLine,
    decode_batch,
    decode_stream,
    split_records,
)

MIB = 1024**2


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """Cut `data` at the given offsets (any order, repeats and out-of-range ones ignored)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


_lines = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30)


@settings(max_examples=150, deadline=None)
@given(
    lines=_lines,
    members=st.integers(1, 3),
    padding=st.integers(0, 3),
    cuts=st.lists(st.integers(0, 4000), max_size=8),
    chunk_bytes=st.integers(1, 64),
)
def test_decode_stream_equals_decode_batch(
    lines: list[bytes], members: int, padding: int, cuts: list[int], chunk_bytes: int
) -> None:
    """Any chunking of any multi-member gzip (zero-padded) decodes to decode_batch's bytes."""
    raw = b"".join(line + b"\n" for line in lines)
    step = -(-len(raw) // members) or 1
    body = b"".join(
        gzip.compress(raw[i : i + step]) + b"\0" * padding for i in range(0, len(raw) or 1, step)
    )
    out = list(decode_stream(_chunked(body, cuts), "x.jsonl.gz", chunk_bytes=chunk_bytes))
    assert raw == b"".join(out) == decode_batch(body, "x.jsonl.gz")
    assert all(0 < len(piece) <= chunk_bytes for piece in out)


@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=5))
def test_plain_data_passes_through(data: bytes, cuts: list[int]) -> None:
    """Data without the gzip magic comes out unchanged, as decode_batch returns it."""
    if data.startswith(b"\x1f\x8b"):
        data = b"plain" + data
    assert data == b"".join(decode_stream(_chunked(data, cuts), "k.jsonl", chunk_bytes=7))


def test_magic_without_gzip_under_plain_key_is_plain() -> None:
    """Plain data that merely starts with the magic bytes is returned as is (not .gz key)."""
    data = b"\x1f\x8b not gzip\nsecond line\n"
    assert data == b"".join(decode_stream([data[:1], data[1:5], data[5:]], "logs/x.jsonl"))


def test_corrupt_gzip_raises_after_the_good_part() -> None:
    """A truncated member yields what decompresses, then CorruptBatchError (a ValueError)."""
    raw = b"".join(b"line %d\n" % n for n in range(50000))
    body = gzip.compress(raw)[:-100]
    got = bytearray()
    with pytest.raises(CorruptBatchError) as info:
        for piece in decode_stream([body], "logs/a/b/x.jsonl.gz"):
            got += piece
    assert isinstance(info.value, ValueError)
    assert "CorruptBatch" == info.value.reason
    assert 0 < len(got) < len(raw)
    assert raw.startswith(bytes(got))


def test_bad_header_under_gz_key_raises() -> None:
    """Magic bytes and then garbage under a .gz key: CorruptBatchError before any output."""
    with pytest.raises(CorruptBatchError):
        list(decode_stream([b"\x1f\x8b broken"], "logs/a/b/x.jsonl.gz"))


def test_bomb_streams_in_bounded_memory() -> None:
    """100 MiB from ~100 KiB of gzip: pieces of at most chunk_bytes, peak memory far below."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * MIB
    body = b"".join(z.compress(block) for _ in range(100)) + z.flush()
    assert len(body) < MIB
    tracemalloc.start()
    try:
        total = 0
        for piece in decode_stream([body], "bomb.jsonl.gz", chunk_bytes=64 * 1024):
            assert len(piece) <= 64 * 1024
            total += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 100 * MIB == total
    assert peak < 2 * MIB


def _flat(batches: list[list[bytes]]) -> list[tuple[bytes, int]]:
    """(line, full length) of every line of `split_records` output."""
    return [
        (bytes(line), line.length if isinstance(line, CutLine) else len(line))
        for batch in batches
        for line in batch
    ]


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"_")), max_size=20),
    last_newline=st.booleans(),
    cuts=st.lists(st.integers(0, 700), max_size=10),
    limit=st.integers(1, 40),
)
def test_split_records_properties(
    lines: list[bytes], last_newline: bool, cuts: list[int], limit: int
) -> None:
    """Any chunking gives each line's first `limit` bytes and its full length, in order."""
    data = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    got = list(split_records(_chunked(data, cuts), limit))
    expected = []
    for line in data.split(b"\n")[: -1 if data.endswith(b"\n") else None] if data else []:
        expected.append((line[:limit], len(line)))
    assert expected == _flat(got)
    for batch in got:
        for line in batch:
            # Only lines over the limit are CutLines, and they hold exactly the limit.
            if isinstance(line, CutLine):
                assert (limit, True) == (len(line), line.length > limit)
            else:
                assert len(line) <= limit


def test_split_records_one_huge_line_holds_only_the_limit() -> None:
    """A line spread over many chunks comes out as one CutLine of `limit` bytes and its length."""
    chunks = [b"a\n" + b"x" * 100, *([b"x" * 1000] * 50), b"\nb"]
    got = _flat(list(split_records(chunks, 10)))
    assert [(b"a", 1), (b"x" * 10, 50100), (b"b", 1)] == got


def test_split_records_bad_limit() -> None:
    """A limit below 1 is refused."""
    with pytest.raises(ValueError, match="max_line_bytes"):
        list(split_records([b"a\n"], 0))
