"""The io-style contract of `ObjectStoreWriter.write`: empty writes, inner newlines, counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog._codec import normalize_record
from objlog.stores.memory import MemoryStore
from objlog.writer import ObjectStoreWriter
from writer_helpers import stored_lines

MakeWriter = Callable[..., ObjectStoreWriter]


@pytest.mark.parametrize("empty", ["", b""])
def test_empty_write_stores_nothing(
    make_writer: MakeWriter, store: MemoryStore, empty: str
) -> None:
    """write("") returns 0 and stores nothing: no empty line, no object, no record counted."""
    writer = make_writer()
    assert 0 == writer.write(empty)
    writer.writelines([empty, "x", empty])
    writer.close(timeout=30)
    assert [b"x\n"] == stored_lines(store)
    assert 1 == writer.stats.records


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_records_count_the_lines_stored(
    make_writer: MakeWriter, store: MemoryStore, compression: str
) -> None:
    """A write holding inner newlines stores one record per line; stats.records says so."""
    writer = make_writer(compression=compression)
    assert 5 == writer.write("a\nb\nc")
    writer.write(b"d\n")
    writer.sync(timeout=30)
    assert [b"a\n", b"b\n", b"c\n", b"d\n"] == stored_lines(store)
    assert 4 == writer.stats.records
    writer.close(timeout=30)


@given(st.one_of(st.text(), st.binary()))
def test_normalize_gives_nothing_or_lines_ending_in_one_newline(data: str | bytes) -> None:
    """Empty in, empty out; else the record ends in a newline and holds the input's lines."""
    record = normalize_record(data)
    if not data:
        assert b"" == record
        return
    assert record.endswith(b"\n")
    raw = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
    assert record in (raw, raw + b"\n")
