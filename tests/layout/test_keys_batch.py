"""Batch key layout: fixed width, unique, lexically ordered per writer."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog._layout import (
    SEQ_DIGITS,
    BatchNamer,
    batch_key,
    child_writer_id,
    format_batch_timestamp,
    new_writer_id,
    parse_batch_key,
    validate_writer_id,
)
from objlog.errors import ConfigError

PREFIX = "p/logs/run-1/task-a/"
_MAX_US = 253402300799999999  # 9999-12-31T23:59:59.999999Z


def test_timestamp_is_fixed_width_utc() -> None:
    """The timestamp is 23 characters, UTC, microseconds."""
    assert "20261121T114030.123456Z" == format_batch_timestamp(1795261230123456)
    assert "19700101T000000.000000Z" == format_batch_timestamp(0)


def test_batch_key_layout() -> None:
    """A key is prefix + timestamp - writer id - 8-digit sequence + suffix."""
    key = batch_key(PREFIX, 0, "abc_1", 7, ".jsonl.gz")
    assert PREFIX + "19700101T000000.000000Z-abc_1-00000007.jsonl.gz" == key
    assert ("19700101T000000.000000Z", "abc_1", 7, ".jsonl.gz") == parse_batch_key(key)


def test_parse_rejects_other_keys() -> None:
    """Keys that are not batch keys parse to None."""
    assert parse_batch_key("logs/a/b/notes.txt") is None
    assert parse_batch_key("artifacts/a/b/x.tgz") is None


def test_writer_ids_are_valid_and_distinct() -> None:
    """Generated ids pass validation, carry the pid and do not repeat."""
    ids = {new_writer_id() for _ in range(1000)}
    assert 1000 == len(ids)
    for wid in ids:
        assert wid == validate_writer_id(wid)
        assert re.fullmatch(r"[0-9a-f]{10}p\d+", wid)


@given(st.text(alphabet="abcXYZ019_", min_size=1, max_size=80))
def test_child_writer_id_is_valid_and_parses(base: str) -> None:
    """A forked child's id (base + fresh id) stays a valid id that batch keys parse back."""
    child = child_writer_id(base)
    assert child == validate_writer_id(child)
    assert child.startswith(base[:40])
    key = BatchNamer(PREFIX, child, ".jsonl.gz").next_key()
    parsed = parse_batch_key(key)
    assert parsed is not None
    assert child == parsed[1]


@pytest.mark.parametrize("bad", ["", "a-b", "a/b", "x" * 81, "ü"])
def test_bad_writer_id_is_refused(bad: str) -> None:
    """A writer id with a dash, slash or other character is a ConfigError."""
    with pytest.raises(ConfigError):
        validate_writer_id(bad)


@given(st.lists(st.integers(min_value=0, max_value=_MAX_US), min_size=1, max_size=60))
def test_keys_sort_in_issue_order_whatever_the_clock(walls: list[int]) -> None:
    """Keys are unique and lexically increasing even when the wall clock jumps backwards."""
    it = iter(walls)
    namer = BatchNamer(PREFIX, "w1", ".jsonl.gz", wall_us=lambda: next(it))
    keys = [namer.next_key() for _ in walls]
    assert sorted(set(keys)) == keys
    for key in keys:
        assert key.startswith(PREFIX)
        assert parse_batch_key(key) is not None


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=1, max_value=5))
def test_sequence_wrap_keeps_order(start: int, extra: int) -> None:
    """When the sequence wraps at 10**8 the timestamp moves on, so order and uniqueness hold."""
    namer = BatchNamer(PREFIX, "w1", ".jsonl", wall_us=lambda: start)
    namer._seq = 10**SEQ_DIGITS - 2
    keys = [namer.next_key() for _ in range(2 + extra)]
    assert sorted(set(keys)) == keys


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=_MAX_US),
            st.integers(min_value=0, max_value=10**SEQ_DIGITS - 1),
        ),
        min_size=2,
        max_size=30,
    )
)
def test_fixed_width_makes_lexical_order_numeric(parts: list[tuple[int, int]]) -> None:
    """For one writer, lexical key order equals (time, sequence) order."""
    keys = [batch_key(PREFIX, us, "w1", seq, ".jsonl") for us, seq in parts]
    assert [k for _, k in sorted(zip(parts, keys, strict=True))] == sorted(keys)
