"""objlog.reader on the in-memory store: listing, decoding, merging writers, follow."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from objlog import _layout, reader
from objlog.errors import ObjectNotFoundError
from objlog.stores.memory import MemoryStore

T0 = dt.datetime(2026, 11, 21, 11, 40, 0, tzinfo=dt.timezone.utc)


def _ts(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _put_batch(
    store: MemoryStore,
    pr: str,
    task: str,
    writer: str,
    seq: int,
    records: list[dict[str, Any]] | list[str],
    *,
    sealed: float = 0.0,
    gz: bool = True,
) -> str:
    """Store one batch the way the writer names it."""
    stamp = (T0 + dt.timedelta(seconds=sealed)).strftime("%Y%m%dT%H%M%S.%fZ")
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    body = ("\n".join(lines) + "\n").encode()
    suffix = ".jsonl.gz" if gz else ".jsonl"
    key = _layout.logs_prefix(store.prefix, pr, task) + f"{stamp}-{writer}-{seq:08d}{suffix}"
    store.put_object(key, gzip.compress(body) if gz else body)
    return key


def test_list_runs_tasks_and_objects() -> None:
    """Runs and tasks come from both logs/ and artifacts/, objects are split by area."""
    store = MemoryStore(prefix="team")
    _put_batch(store, "pr1", "train", "w1", 0, [{"message": "a"}])
    store.put_object(_layout.artifact_key("team", "pr2", "eval", "metrics"), b"x")
    store.put_object(_layout.artifact_key("team", "pr1", "train", "model"), b"y")
    assert ["pr1", "pr2"] == reader.list_runs(store)
    assert ["train"] == reader.list_tasks(store, "pr1")
    assert [] == reader.list_tasks(store, "nope")
    found = reader.list_task_objects(store, "pr1", "train")
    assert 1 == len(found.logs)
    assert ["team/artifacts/pr1/train/model.tgz"] == [o.key for o in found.artifacts]


def test_read_records_decodes_gzip_plain_and_non_json() -> None:
    """gzip and plain batches decode; a line that is not a JSON object becomes a message."""
    store = MemoryStore()
    _put_batch(store, "pr", "t", "w1", 0, [{"timestamp": _ts(1), "message": "one"}])
    _put_batch(store, "pr", "t", "w1", 1, ["not json", "[1, 2]", ""], sealed=2, gz=False)
    got = list(reader.read_records(store, "pr", "t"))
    expected = [
        {"timestamp": _ts(1), "message": "one"},
        {"message": "not json"},
        {"message": "[1, 2]"},
    ]
    assert expected == got


def test_read_records_unknown_task_raises() -> None:
    """A task without log batches is ObjectNotFoundError with reason NoSuchRun."""
    store = MemoryStore()
    with pytest.raises(ObjectNotFoundError) as info:
        list(reader.read_records(store, "pr", "t"))
    assert "NoSuchRun" == info.value.reason


def test_merge_two_writers_by_timestamp() -> None:
    """Records of two writers interleave by timestamp; untimed records stay with their writer."""
    store = MemoryStore()
    _put_batch(store, "pr", "t", "aaaa", 0, [{"timestamp": _ts(1), "n": "a1"}, {"n": "a-untimed"}])
    _put_batch(store, "pr", "t", "aaaa", 1, [{"timestamp": _ts(5), "n": "a5"}], sealed=5)
    _put_batch(
        store,
        "pr",
        "t",
        "bbbb",
        0,
        [{"timestamp": _ts(2), "n": "b2"}, {"timestamp": _ts(3), "n": "b3"}],
    )
    got = [r["n"] for r in reader.read_records(store, "pr", "t")]
    assert ["a1", "a-untimed", "b2", "b3", "a5"] == got


def test_since_filters_old_records() -> None:
    """--since keeps records at or after the time, and records without a timestamp."""
    store = MemoryStore()
    _put_batch(
        store,
        "pr",
        "t",
        "w1",
        0,
        [{"timestamp": _ts(1), "n": 1}, {"timestamp": _ts(3), "n": 3}, {"n": "x"}],
        sealed=3,
    )
    got = [
        r["n"] for r in reader.read_records(store, "pr", "t", since=T0 + dt.timedelta(seconds=2))
    ]
    assert [3, "x"] == got


def test_since_skips_batches_sealed_before_it() -> None:
    """With since, a batch whose writer opened its next batch over 1 s before it is not fetched."""
    # A key's time is when its batch opened: the batch keyed at 10 may hold
    # records up to 30 (when the next one opened), so only the one at 1 goes.
    store = MemoryStore()
    _put_batch(store, "pr", "t", "w1", 0, [{"timestamp": _ts(1), "n": 1}], sealed=1)
    _put_batch(store, "pr", "t", "w1", 1, [{"timestamp": _ts(21), "n": 21}], sealed=10)
    _put_batch(store, "pr", "t", "w1", 2, [{"timestamp": _ts(30), "n": 30}], sealed=30)
    got = [
        r["n"] for r in reader.read_records(store, "pr", "t", since=T0 + dt.timedelta(seconds=20))
    ]
    assert [21, 30] == got
    assert 2 == store.requests["get"]


def test_bad_batch_is_reported_and_skipped() -> None:
    """A corrupt gzip batch goes to on_bad_object and the rest still reads."""
    store = MemoryStore()
    good = _put_batch(store, "pr", "t", "w1", 1, [{"n": 2}], sealed=1)
    bad = good.replace("00000001", "00000000").replace("T114001", "T114000")
    store.put_object(bad, b"\x1f\x8b broken")
    seen: list[str] = []
    got = list(reader.read_records(store, "pr", "t", on_bad_object=lambda k, e: seen.append(k)))
    assert [{"n": 2}] == got
    assert [bad] == seen


def test_follow_yields_new_batches_until_stopped() -> None:
    """follow=True yields existing records, then a batch added later, and ends when stop is set."""
    store = MemoryStore()
    _put_batch(store, "pr", "t", "w1", 0, [{"n": 0}])
    stop = threading.Event()
    records = reader.read_records(store, "pr", "t", follow=True, poll_interval=0.01, stop=stop)
    assert {"n": 0} == next(records)
    _put_batch(store, "pr", "t", "w1", 1, [{"n": 1}], sealed=1)
    # A late upload from another writer whose key sorts before the newest one is found too.
    _put_batch(store, "pr", "t", "w0", 0, [{"n": "late"}], sealed=0.5)
    got = sorted(str(next(records)["n"]) for _ in range(2))
    assert ["1", "late"] == got
    stop.set()
    assert [] == list(records)


def test_record_level() -> None:
    """Levels come from level/levelname fields or from a JSON line of objlog run."""
    assert 40 == reader.record_level({"level": "error"})
    assert 20 == reader.record_level({"levelname": "INFO"})
    assert 30 == reader.record_level({"stream": "stdout", "line": '{"level": "warning"}'})
    assert None is reader.record_level({"stream": "stdout", "line": "plain information"})
    assert 30 == reader.record_level({"stream": "stderr", "line": "WARNING:root:disk"})
    assert 20 == reader.record_level({"stream": "stdout", "line": "12:00 [info     ] started"})


def test_parse_timestamp_forms() -> None:
    """RFC 3339 with Z or offset, naive (UTC) and numbers parse; junk does not."""
    assert T0.timestamp() == reader.parse_timestamp("2026-11-21T11:40:00Z")
    assert T0.timestamp() == reader.parse_timestamp("2026-11-21T12:40:00+01:00")
    assert T0.timestamp() == reader.parse_timestamp("2026-11-21T11:40:00")
    assert 12.5 == reader.parse_timestamp(12.5)
    assert None is reader.parse_timestamp("yesterday")
    assert None is reader.parse_timestamp(True)


_writer_records = st.lists(
    st.tuples(st.integers(0, 3), st.booleans()),  # (seconds forward, has timestamp)
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(
    writers=st.lists(_writer_records, min_size=1, max_size=4),
    batch_size=st.integers(1, 5),
)
def test_merge_properties(writers: list[list[tuple[int, bool]]], batch_size: int) -> None:
    """Every record comes out once, each writer's order is kept, timestamps never go backwards."""
    store = MemoryStore()
    for w, recs in enumerate(writers):
        clock = 0
        records: list[dict[str, Any]] = []
        for n, (step, timed) in enumerate(recs):
            clock += step
            record: dict[str, Any] = {"id": f"{w}-{n}"}
            if timed:
                record["timestamp"] = _ts(clock)
            records.append(record)
        for seq in range(0, len(records), batch_size):
            _put_batch(store, "pr", "t", f"w{w}", seq, records[seq : seq + batch_size], sealed=seq)
    got = list(reader.read_records(store, "pr", "t"))
    ids = [r["id"] for r in got]
    expected_ids = sorted(f"{w}-{n}" for w, recs in enumerate(writers) for n in range(len(recs)))
    assert expected_ids == sorted(ids)
    for w, recs in enumerate(writers):
        mine = [int(i.split("-")[1]) for i in ids if i.startswith(f"{w}-")]
        assert list(range(len(recs))) == mine
    # Effective time (a writer's latest timestamp so far) is non-decreasing overall.
    latest: dict[str, float] = {}
    effective = []
    for r in got:
        w = r["id"].split("-")[0]
        ts = reader.parse_timestamp(r.get("timestamp"))
        if ts is not None:
            latest[w] = max(latest.get(w, ts), ts)
        effective.append(latest.get(w, float("-inf")))
    assert sorted(effective) == effective
