"""Writers and readers under each key layout: partition rollover, read-back, pruning, follow."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from objlog import reader
from objlog._codec import decode_batch
from objlog.config import store_layout
from objlog.stores import open_store
from objlog.stores.local import LocalStore
from objlog.stores.memory import MemoryStore
from objlog.typing import ObjectStore
from objlog.writer import ObjectStoreWriter
from s3harness import S3Target
from writer_helpers import FakeClock

T0 = dt.datetime(2026, 11, 21, 10, 59, 58, tzinfo=dt.timezone.utc)
PRESETS = ("kfp", "hive")


class Wall:
    """A wall clock (epoch seconds) that moves with a `FakeClock`."""

    def __init__(self, clock: FakeClock, start: dt.datetime) -> None:
        self.clock, self.base, self.origin = clock, start.timestamp(), clock.now

    def __call__(self) -> float:
        return self.base + (self.clock.now - self.origin)

    def iso(self) -> str:
        return dt.datetime.fromtimestamp(self(), dt.timezone.utc).isoformat()


def _write(writer: ObjectStoreWriter, wall: Wall, n: int) -> None:
    writer.write(json.dumps({"timestamp": wall.iso(), "n": n}))


def _writer(
    store: ObjectStore, layout: str, task: str, start: dt.datetime
) -> tuple[ObjectStoreWriter, FakeClock, Wall]:
    clock = FakeClock()
    wall = Wall(clock, start)
    writer = ObjectStoreWriter(
        store,
        pipelinerun="run-1",
        task=task,
        layout=layout,
        max_age=3600,  # only the hour may seal here
        clock=clock,
        wall_clock=wall,
    )
    return writer, clock, wall


def test_a_writer_crossing_an_hour_writes_two_partitions() -> None:
    """hive: records before and after 11:00 go to two objects in hour=10 and hour=11."""
    store = MemoryStore()
    writer, clock, wall = _writer(store, "hive", "train", T0)
    _write(writer, wall, 1)
    clock.advance(1.0)
    _write(writer, wall, 2)
    clock.advance(1.5)  # 11:00:00.5: the batch keyed 10:59:58 is due
    _write(writer, wall, 3)
    writer.close()
    keys = sorted(store.keys())
    assert 2 == len(keys)
    assert "/hour=10/" in keys[0] and "dt=2026-11-21" in keys[0]
    assert "/hour=11/" in keys[1]
    first = [
        json.loads(x)["n"] for x in decode_batch(store.get_object(keys[0]), keys[0]).splitlines()
    ]
    second = [
        json.loads(x)["n"] for x in decode_batch(store.get_object(keys[1]), keys[1]).splitlines()
    ]
    assert ([1, 2], [3]) == (first, second)


def test_kfp_does_not_seal_at_the_hour() -> None:
    """kfp has no partitions: the same writes stay one batch (max_age rules alone)."""
    store = MemoryStore()
    writer, clock, wall = _writer(store, "kfp", "train", T0)
    _write(writer, wall, 1)
    clock.advance(2.5)
    _write(writer, wall, 2)
    writer.close()
    assert 1 == len(store.keys())


def _three_hours(store: ObjectStore, layout: str) -> None:
    """Two tasks, records every 20 minutes from 10:59:58 for about 3 hours."""
    for task in ("train", "eval"):
        writer, clock, wall = _writer(store, layout, task, T0)
        for n in range(10):
            _write(writer, wall, n)
            # One batch per record, keyed now: with the clock jumping 20 minutes, a write
            # racing the age timer could wait in the inbox and be keyed much later.
            writer.flush()
            clock.advance(1200.0)
        writer.close()


def _check_readback(store: ObjectStore, layout: str | None) -> None:
    assert ["run-1"] == reader.list_runs(store, layout=layout)
    assert ["eval", "train"] == reader.list_tasks(store, "run-1", layout=layout)
    assert list(range(10)) == [
        r["n"] for r in reader.read_records(store, "run-1", "train", layout=layout)
    ]
    merged = list(reader.read_run_records(store, "run-1", layout=layout))
    assert 20 == len(merged)
    assert [t for t, _ in merged[:2]] == ["eval", "train"]  # same times: tasks in name order
    found = reader.list_task_objects(store, "run-1", "train", layout=layout)
    keys = store_layout(store, layout)
    assert found.logs
    assert all(keys.parse(store.prefix, o.key) is not None for o in found.logs)
    assert T0 == reader.first_log_time(store, "run-1", layout=layout)
    assert T0 == reader.first_log_time(store, "run-1", "eval", layout=layout)


@pytest.mark.parametrize("layout", PRESETS)
def test_read_back_on_the_memory_store(layout: str) -> None:
    """Runs, tasks, objects, first times and records read back the same under each preset."""
    store = MemoryStore(prefix="team")
    _three_hours(store, layout)
    hive_keys = [k for k in store.keys() if "/dt=" in k]  # noqa: SIM118
    assert (layout == "hive") == bool(hive_keys)
    _check_readback(store, layout)


@pytest.mark.parametrize("layout", PRESETS)
def test_read_back_on_the_local_store_from_the_url(layout: str, tmp_path: Path) -> None:
    """A file URL's ?layout= reaches the writer; the reader given the same URL's layout agrees."""
    url = (tmp_path / "store").as_uri() + f"?layout={layout}"
    store = open_store(url)
    assert isinstance(store, LocalStore)
    _three_hours(store, store_layout(url).template)
    _check_readback(store, store_layout(url).template)


@pytest.fixture
def s3_store(
    s3_target: S3Target,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[ObjectStore]:
    """A store on the S3 server whose URL names the layout (``?layout=``)."""
    for name, value in s3_target.env().items():
        monkeypatch.setenv(name, value)
    store = open_store(f"s3://{s3_bucket}/p?layout={request.param}")
    yield store
    store.close()


@pytest.mark.parametrize("s3_store", PRESETS, indirect=True)
def test_read_back_on_s3_with_the_layout_in_the_url(s3_store: ObjectStore) -> None:
    """On S3, the store's config carries ?layout=: writer and reader need no layout argument."""
    layout = store_layout(s3_store)
    for task in ("train", "eval"):
        clock = FakeClock()
        wall = Wall(clock, T0)
        writer = ObjectStoreWriter(
            s3_store, pipelinerun="run-1", task=task, max_age=3600, clock=clock, wall_clock=wall
        )
        assert layout == writer.layout
        for n in range(10):
            _write(writer, wall, n)
            writer.flush()
            clock.advance(1200.0)
        writer.close()
    _check_readback(s3_store, None)


def test_since_and_until_prune_hive_partitions() -> None:
    """cat --since/--until list only the partitions they cover, and lose no record."""
    store = MemoryStore()
    _three_hours(store, "hive")
    since = T0 + dt.timedelta(minutes=100)  # 12:39:58
    until = T0 + dt.timedelta(minutes=140)  # 13:19:58
    before = store.requests.get("list", 0)
    got = [
        (t, r["n"])
        for t, r in reader.read_run_records(store, "run-1", since=since, until=until, layout="hive")
    ]
    pruned = store.requests.get("list", 0) - before
    # n=5 is at since and n=7 at until, both kept; equal times go to tasks in name order.
    assert [(t, n) for n in (5, 6, 7) for t in ("eval", "train")] == got
    before = store.requests.get("list", 0)
    assert 20 == len(list(reader.read_run_records(store, "run-1", layout="hive")))
    assert pruned < store.requests.get("list", 0) - before


def test_follow_finds_a_new_partition() -> None:
    """follow under hive picks up a batch written in a later hour."""
    store = MemoryStore()
    # Near the real present: follow walks the partitions from when it began on.
    now = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    writer, clock, wall = _writer(store, "hive", "train", now + dt.timedelta(seconds=3598))
    _write(writer, wall, 1)
    writer.sync()
    stop = threading.Event()
    guard = threading.Timer(60, stop.set)  # a failure ends the test instead of hanging it
    guard.start()
    got: list[int] = []

    def _more() -> None:
        clock.advance(3.0)  # 11:00:01: a new partition
        _write(writer, wall, 2)
        writer.sync()

    records = reader.read_records(
        store,
        "run-1",
        "train",
        follow=True,
        poll_interval=0.01,
        stop=stop,
        layout="hive",
        on_caught_up=_more,
    )
    for record in records:
        got.append(record["n"])
        if len(got) == 2:
            stop.set()
    guard.cancel()
    writer.close()
    assert [1, 2] == got
    assert 2 == len({k.split("/")[2] for k in store.keys()})  # noqa: SIM118 - two hours
