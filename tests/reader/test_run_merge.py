"""objlog.reader.read_run_records on the in-memory store: tasks merged in time order."""

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
from objlog.errors import ConfigError, ObjectNotFoundError
from objlog.stores.memory import MemoryStore

T0 = dt.datetime(2026, 11, 21, 11, 40, 0, tzinfo=dt.timezone.utc)


def _ts(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _put_batch(
    store: MemoryStore,
    task: str,
    writer: str,
    seq: int,
    records: list[dict[str, Any]],
    *,
    sealed: float = 0.0,
    pr: str = "pr",
) -> str:
    """Store one gzip batch the way the writer names it."""
    stamp = (T0 + dt.timedelta(seconds=sealed)).strftime("%Y%m%dT%H%M%S.%fZ")
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    key = _layout.logs_prefix(store.prefix, pr, task) + f"{stamp}-{writer}-{seq:08d}.jsonl.gz"
    store.put_object(key, gzip.compress(body))
    return key


def _ids(pairs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [f"{task}:{record['n']}" for task, record in pairs]


def test_tasks_interleave_by_time_and_ties_go_to_the_first_task() -> None:
    """Three tasks merge by timestamp; equal times come out in task-name order, then in order."""
    store = MemoryStore()
    _put_batch(store, "b", "w1", 0, [{"timestamp": _ts(1), "n": 1}, {"timestamp": _ts(3), "n": 3}])
    _put_batch(store, "a", "w2", 0, [{"timestamp": _ts(0), "n": 0}, {"timestamp": _ts(3), "n": 3}])
    _put_batch(store, "c", "w3", 0, [{"timestamp": _ts(2), "n": 2}, {"timestamp": _ts(3), "n": 4}])
    got = _ids(list(reader.read_run_records(store, "pr")))
    assert ["a:0", "b:1", "c:2", "a:3", "b:3", "c:4"] == got


def test_untimed_record_keeps_its_place_in_its_task() -> None:
    """A record without a timestamp follows the record before it in its own task."""
    store = MemoryStore()
    _put_batch(store, "a", "w1", 0, [{"timestamp": _ts(1), "n": 1}, {"n": "untimed"}])
    _put_batch(store, "b", "w2", 0, [{"timestamp": _ts(2), "n": 2}])
    assert ["a:1", "a:untimed", "b:2"] == _ids(list(reader.read_run_records(store, "pr")))


def test_only_tasks_with_logs_and_explicit_tasks() -> None:
    """A task with results only is not read; `tasks` picks a subset; a run without logs raises."""
    store = MemoryStore()
    _put_batch(store, "a", "w1", 0, [{"timestamp": _ts(1), "n": 1}])
    _put_batch(store, "b", "w2", 0, [{"timestamp": _ts(0), "n": 0}])
    store.put_object(_layout.artifact_key("", "pr", "z", "metrics"), b"x")
    assert ["b:0", "a:1"] == _ids(list(reader.read_run_records(store, "pr")))
    assert ["a:1"] == _ids(list(reader.read_run_records(store, "pr", ["a"])))
    with pytest.raises(ObjectNotFoundError) as info:
        list(reader.read_run_records(store, "nope"))
    assert "NoSuchRun" == info.value.reason
    with pytest.raises(ObjectNotFoundError):
        list(reader.read_run_records(store, "pr", ["z"]))


def test_since_and_until_bound_the_records() -> None:
    """since keeps records at or after it, until at or before it; untimed ones in between pass."""
    store = MemoryStore()
    _put_batch(
        store,
        "a",
        "w1",
        0,
        [{"timestamp": _ts(s), "n": s} for s in (1, 2, 3)] + [{"n": "untimed"}],
        sealed=3,
    )
    _put_batch(store, "b", "w2", 0, [{"timestamp": _ts(s), "n": s} for s in (2, 4)], sealed=4)
    got = reader.read_run_records(
        store, "pr", since=T0 + dt.timedelta(seconds=2), until=T0 + dt.timedelta(seconds=3)
    )
    assert ["a:2", "b:2", "a:3", "a:untimed"] == _ids(list(got))


def test_until_stops_fetching_a_task() -> None:
    """Once a task is past until, its later batches are never fetched."""
    store = MemoryStore()
    for seq in range(12):
        records = [{"timestamp": _ts(seq * 10 + i), "n": seq * 10 + i} for i in range(3)]
        _put_batch(store, "a", "w1", seq, records, sealed=seq * 10 + 3)
    got = reader.read_run_records(store, "pr", until=T0 + dt.timedelta(seconds=11))
    assert ["a:0", "a:1", "a:2", "a:10", "a:11"] == _ids(list(got))
    # Batches are fetched up to 4 ahead of the one read; the last six are never asked for.
    assert store.requests["get"] <= 6


def test_until_with_follow_and_bad_max_line_bytes_are_config_errors() -> None:
    """until has no meaning when following; max_line_bytes must be >= 1."""
    store = MemoryStore()
    _put_batch(store, "a", "w1", 0, [{"n": 0}])
    with pytest.raises(ConfigError):
        next(reader.read_run_records(store, "pr", until=T0, follow=True))
    with pytest.raises(ConfigError):
        next(reader.read_run_records(store, "pr", max_line_bytes=0))


def test_follow_finds_a_task_that_starts_later_and_calls_caught_up_once() -> None:
    """follow yields the backlog, calls on_caught_up, then new batches of old and new tasks."""
    store = MemoryStore()
    _put_batch(store, "a", "w1", 0, [{"timestamp": _ts(0), "n": 0}])
    stop = threading.Event()
    caught_up: list[int] = []
    records = reader.read_run_records(
        store,
        "pr",
        follow=True,
        poll_interval=0.01,
        stop=stop,
        on_caught_up=lambda: caught_up.append(1),
    )
    assert ("a", {"timestamp": _ts(0), "n": 0}) == next(records)
    assert [] == caught_up
    _put_batch(store, "b", "w2", 0, [{"timestamp": _ts(1), "n": 1}], sealed=1)
    assert ("b", {"timestamp": _ts(1), "n": 1}) == next(records)
    assert [1] == caught_up
    _put_batch(store, "a", "w1", 1, [{"timestamp": _ts(2), "n": 2}], sealed=2)
    assert ("a", {"timestamp": _ts(2), "n": 2}) == next(records)
    stop.set()
    assert [] == list(records)
    assert [1] == caught_up


def test_follow_waits_for_a_run_without_logs() -> None:
    """In follow mode a run with no logs yet is waited for, not an error."""
    store = MemoryStore()
    stop = threading.Event()
    records = reader.read_run_records(store, "pr", follow=True, poll_interval=0.01, stop=stop)
    threading.Timer(0.05, lambda: _put_batch(store, "a", "w1", 0, [{"n": "late"}])).start()
    assert ("a", {"n": "late"}) == next(records)
    stop.set()
    assert [] == list(records)


def test_read_records_calls_caught_up_at_the_end() -> None:
    """read_records (one task) calls on_caught_up once its stored records are all yielded."""
    store = MemoryStore()
    _put_batch(store, "a", "w1", 0, [{"n": 0}, {"n": 1}])
    events: list[str] = []
    for record in reader.read_records(
        store, "pr", "a", on_caught_up=lambda: events.append("caught up")
    ):
        events.append(str(record["n"]))
    assert ["0", "1", "caught up"] == events


_task_records = st.lists(
    st.tuples(st.integers(0, 3), st.booleans(), st.integers(0, 2)),  # (step, timed, writer)
    min_size=1,
    max_size=10,
)


@settings(max_examples=60, deadline=None)
@given(tasks=st.lists(_task_records, min_size=1, max_size=4), batch_size=st.integers(1, 4))
def test_run_merge_properties(tasks: list[list[tuple[int, bool, int]]], batch_size: int) -> None:
    """Each task's records come out once, as read_records gives them; times never go backwards."""
    store = MemoryStore()
    for t, recs in enumerate(tasks):
        per_writer: dict[int, list[dict[str, Any]]] = {}
        clock = 0
        for n, (step, timed, writer) in enumerate(recs):
            clock += step
            record: dict[str, Any] = {"n": n}
            if timed:
                record["timestamp"] = _ts(clock)
            per_writer.setdefault(writer, []).append(record)
        for writer, records in per_writer.items():
            for seq in range(0, len(records), batch_size):
                chunk = records[seq : seq + batch_size]
                _put_batch(store, f"t{t}", f"w{t}x{writer}", seq, chunk, sealed=seq)
    got = list(reader.read_run_records(store, "pr"))
    for t in range(len(tasks)):
        mine = [record for task, record in got if task == f"t{t}"]
        assert list(reader.read_records(store, "pr", f"t{t}")) == mine
    # The time a record is sorted by (its task's latest timestamp so far) never goes backwards,
    # and equal times keep task order.
    latest: dict[str, float] = {}
    keys = []
    for task, record in got:
        ts = reader.parse_timestamp(record.get("timestamp"))
        if ts is not None:
            latest[task] = max(latest.get(task, ts), ts)
        keys.append(latest.get(task, float("-inf")))
    assert sorted(keys) == keys
