"""objlog._streams: read_exact through short reads, PrependReader, fsync_dir."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog._streams import PrependReader, fsync_dir, read_exact


class Trickle:
    """A stream whose reads return at most `chunk` bytes (like a socket or a pipe)."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self._data = io.BytesIO(data)
        self._chunk = chunk

    def read(self, size: int = -1, /) -> bytes:
        """Return at most `chunk` bytes."""
        return self._data.read(self._chunk if size < 0 else min(size, self._chunk))


@given(st.binary(max_size=500), st.integers(-1, 600), st.integers(1, 50))
def test_read_exact_reads_through_short_reads(data: bytes, n: int, chunk: int) -> None:
    """read_exact returns the first max(0, n) bytes however short the underlying reads are."""
    assert data[: max(0, n)] == read_exact(Trickle(data, chunk), n)


@given(
    st.binary(max_size=200),
    st.binary(max_size=200),
    st.lists(st.integers(-1, 80), max_size=20),
)
def test_prepend_reader_yields_head_then_rest(head: bytes, rest: bytes, sizes: list[int]) -> None:
    """Whatever the read sizes, PrependReader gives head + rest in order, each read <= size."""
    reader = PrependReader(head, io.BytesIO(rest))
    out = b""
    for size in sizes:
        piece = reader.read(size)
        if size >= 0:
            assert len(piece) <= size
        out += piece
    out += reader.read()
    assert head + rest == out
    assert b"" == reader.read(10)


@given(st.binary(max_size=200), st.binary(max_size=200))
def test_read_exact_over_prepend_reader(head: bytes, rest: bytes) -> None:
    """read_exact over a PrependReader joins the head and the rest of the stream."""
    n = len(head) + len(rest) // 2
    assert (head + rest)[:n] == read_exact(PrependReader(head, Trickle(rest, 7)), n)


def test_prepend_reader_read_none_reads_all() -> None:
    """read(None), as io's API allows, returns everything left."""
    assert b"abcdef" == PrependReader(b"abc", io.BytesIO(b"def")).read(None)
    assert b"def" == PrependReader(b"", io.BytesIO(b"def")).read(None)


def test_fsync_dir_syncs_a_directory_and_raises_for_a_missing_one(tmp_path: Path) -> None:
    """fsync_dir works on a directory and raises OSError when there is none."""
    fsync_dir(tmp_path)
    with pytest.raises(OSError):
        fsync_dir(tmp_path / "missing")
