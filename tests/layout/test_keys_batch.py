"""Batch key layout: fixed width, unique, lexically ordered per writer."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog._codec import CODECS
from objlog._layout import (
    SEQ_DIGITS,
    BatchKey,
    BatchNamer,
    batch_key,
    batch_listing_start,
    batch_sealed_at,
    batch_writer,
    child_writer_id,
    format_batch_timestamp,
    new_writer_id,
    parse_batch_key,
    validate_writer_id,
)
from objlog.errors import ConfigError

PREFIX = "p/logs/run-1/task-a/"
_MAX_US = 253402300799999999  # 9999-12-31T23:59:59.999999Z
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

epochs_us = st.integers(min_value=0, max_value=_MAX_US)
writer_ids = st.text(alphabet="abcXYZ019_", min_size=1, max_size=80)
seqs = st.integers(min_value=0, max_value=10**SEQ_DIGITS - 1)
suffixes = st.sampled_from(sorted(kind.suffix for kind in CODECS.values()))


def test_timestamp_is_fixed_width_utc() -> None:
    """The timestamp is 23 characters, UTC, microseconds."""
    assert "20261121T114030.123456Z" == format_batch_timestamp(1795261230123456)
    assert "19700101T000000.000000Z" == format_batch_timestamp(0)


def test_batch_key_layout() -> None:
    """A key is prefix + timestamp - writer id - 8-digit sequence + suffix."""
    key = batch_key(PREFIX, 0, "abc_1", 7, ".jsonl.gz")
    assert PREFIX + "19700101T000000.000000Z-abc_1-00000007.jsonl.gz" == key
    assert ("19700101T000000.000000Z", "abc_1", 7, ".jsonl.gz") == parse_batch_key(key)


def test_every_codec_suffix_parses_back() -> None:
    """Keys of every codec (zstd's .jsonl.zst too) parse back to their suffix."""
    assert ".jsonl.zst" in {kind.suffix for kind in CODECS.values()}
    for kind in CODECS.values():
        key = batch_key(PREFIX, 0, "abc_1", 7, kind.suffix)
        assert ("19700101T000000.000000Z", "abc_1", 7, kind.suffix) == parse_batch_key(key)


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


@given(epochs_us, writer_ids, seqs, suffixes)
def test_format_then_parse_gives_the_same_fields(
    epoch_us: int, writer_id: str, seq: int, suffix: str
) -> None:
    """parse_batch_key(batch_key(...)) returns every field batch_key was given."""
    key = batch_key(PREFIX, epoch_us, writer_id, seq, suffix)
    expected = BatchKey(format_batch_timestamp(epoch_us), writer_id, seq, suffix)
    parsed = parse_batch_key(key)
    assert expected == parsed
    assert parsed is not None
    assert epoch_us == parsed.epoch_us
    assert _EPOCH + dt.timedelta(microseconds=epoch_us) == parsed.sealed_at
    assert writer_id == batch_writer(key)
    assert parsed.sealed_at == batch_sealed_at(key)


@given(
    st.lists(writer_ids, min_size=2, max_size=2, unique=True),
    st.tuples(epochs_us, seqs, suffixes),
    st.tuples(epochs_us, seqs, suffixes),
)
def test_keys_of_different_writers_never_collide(
    ids: list[str], first: tuple[int, int, str], second: tuple[int, int, str]
) -> None:
    """Two writers with different ids never produce the same key, whatever time and sequence."""
    us1, seq1, suffix1 = first
    us2, seq2, suffix2 = second
    assert batch_key(PREFIX, us1, ids[0], seq1, suffix1) != batch_key(
        PREFIX, us2, ids[1], seq2, suffix2
    )


@given(epochs_us, epochs_us, writer_ids, seqs, suffixes)
def test_listing_start_splits_keys_at_their_seal_time(
    key_us: int, start_us: int, writer_id: str, seq: int, suffix: str
) -> None:
    """A key sealed at or after the time sorts after batch_listing_start, an earlier one before."""
    key = batch_key(PREFIX, key_us, writer_id, seq, suffix)
    start = batch_listing_start(PREFIX, _EPOCH + dt.timedelta(microseconds=start_us))
    assert (key_us >= start_us) == (key > start)


def test_listing_start_takes_naive_time_as_utc() -> None:
    """A naive datetime is UTC; another zone is converted to UTC."""
    naive = dt.datetime(2026, 11, 21, 11, 40, 30, 123456)
    plus_one = dt.datetime(
        2026, 11, 21, 12, 40, 30, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )
    assert PREFIX + "20261121T114030.123456Z" == batch_listing_start(PREFIX, naive)
    assert PREFIX + "20261121T114030.123456Z" == batch_listing_start(PREFIX, plus_one)


def test_writer_and_seal_time_of_other_key_shapes() -> None:
    """Keys of other shapes: ids with dashes are found, keys without a timestamp have none."""
    legacy = "logs/r/t/20261121T114030.123456Z-host-a-1-00000003.jsonl.gz"
    assert parse_batch_key(legacy) is None
    assert "host-a-1" == batch_writer(legacy)
    assert dt.datetime(2026, 11, 21, 11, 40, 30, 123456, tzinfo=dt.timezone.utc) == (
        batch_sealed_at(legacy)
    )
    assert "logs/r/t/notes-1.txt" == batch_writer("logs/r/t/notes-1.txt")
    assert batch_sealed_at("logs/r/t/notes-1.txt") is None


def test_parse_refuses_a_timestamp_that_is_no_time() -> None:
    """A key of the right shape whose month is 13 is not a batch key."""
    assert parse_batch_key("logs/r/t/20261321T114030.123456Z-w1-00000000.jsonl") is None
