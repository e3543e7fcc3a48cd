"""
Concurrent uploads (``max_concurrency``): several PUTs in flight, keys in write order.

The stores here are real ones (moto on loopback, or the in-memory store)
behind `SlowStore`, a thin wrapper that holds each PUT (a fixed latency, or
until a test lets it go) and records how many were in flight at once. No
wall-clock thresholds: overlap is counted, not timed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from objlog import reader
from objlog._engine.batch import SealedBatch
from objlog._engine.budget import MemoryBudget, WhenFull
from objlog._engine.pipeline import MAX_CONCURRENCY_LIMIT, check_max_concurrency
from objlog._engine.queue import BatchQueue
from objlog._engine.stats import Counters
from objlog._layout import parse_batch_key
from objlog._settings import DEFAULT_MAX_CONCURRENCY, resolve_writer_settings
from objlog.errors import ConfigError, TransientStoreError
from objlog.retry import RetryPolicy
from objlog.stdlib import ObjectStoreHandler
from objlog.stores.memory import MemoryStore
from objlog.typing import ObjectStore
from objlog.writer import ObjectStoreWriter
from writer_helpers import spool_files, stored_lines, wait_until

MakeWriter = Callable[..., ObjectStoreWriter]
NO_WAIT = RetryPolicy(max_attempts=3, initial_backoff=0.0, max_backoff=0.0, cooldown=60.0)


class SlowStore:
    """
    An `ObjectStore` that forwards to `inner`, holding each PUT first.

    Args:
        inner: The real store.
        latency: Seconds each PUT waits before it is forwarded.
        hold: Called before each PUT (after the latency) with the key; may
            block or raise (a fault).
    """

    def __init__(
        self,
        inner: ObjectStore,
        latency: float = 0.0,
        hold: Callable[[str], None] | None = None,
    ) -> None:
        self.inner = inner
        self.latency = latency
        self.hold = hold
        self.in_flight = 0
        self.max_in_flight = 0
        self.attempts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put_object(self, key: str, body: bytes, **kwargs: Any) -> Any:
        """PUT `body` after the latency and the hold; counts the PUTs in flight."""
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.attempts[key] += 1
        try:
            if self.latency:
                time.sleep(self.latency)
            if self.hold is not None:
                self.hold(key)
            return self.inner.put_object(key, body, **kwargs)
        finally:
            with self._lock:
                self.in_flight -= 1


def _write_batches(writer: ObjectStoreWriter, batches: int, per_batch: int = 4) -> list[str]:
    """Write `batches` full batches of `per_batch` JSON records; return the messages in order."""
    messages = []
    for i in range(batches * per_batch):
        message = f"m{i:05d}"
        writer.write(json.dumps({"message": message, "pad": "x" * 200}))
        messages.append(message)
    return messages


# -- on a real S3 server -----------------------------------------------------------------
def test_uploads_overlap_on_a_slow_store_and_read_back_in_order(s3_store: ObjectStore) -> None:
    """50 ms per PUT: several PUTs in flight at once; keys and records keep write order."""
    slow = SlowStore(s3_store, latency=0.05)
    writer = ObjectStoreWriter(
        slow, pipelinerun="run-1", task="task-a", max_size_bytes=1024, max_concurrency=4
    )
    messages = _write_batches(writer, 40)
    writer.sync()
    writer.close()
    assert 1 < slow.max_in_flight <= 4
    assert 4 == writer.max_concurrency
    keys = [o.key for o in reader.list_task_objects(s3_store, "run-1", "task-a").logs]
    seqs = [parsed[2] for parsed in map(parse_batch_key, keys) if parsed]
    assert list(range(len(slow.attempts))) == seqs  # key order is seal order
    read = [r["message"] for r in reader.read_records(s3_store, "run-1", "task-a")]
    assert messages == read


def test_one_upload_at_a_time_with_max_concurrency_1(s3_store: ObjectStore) -> None:
    """max_concurrency=1 keeps today's engine: one uploader thread, never two PUTs at once."""
    slow = SlowStore(s3_store, latency=0.05)
    writer = ObjectStoreWriter(
        slow, pipelinerun="run-1", task="task-a", max_size_bytes=1024, max_concurrency=1
    )
    messages = _write_batches(writer, 12)
    writer.sync()
    assert 1 == writer._pipeline.uploaders
    writer.close()
    assert 1 == slow.max_in_flight
    read = [r["message"] for r in reader.read_records(s3_store, "run-1", "task-a")]
    assert messages == read


# -- held PUTs (in-memory store) ----------------------------------------------------------
def test_sync_waits_for_every_upload_in_flight(store: MemoryStore, make_writer: MakeWriter) -> None:
    """sync returns only once every PUT in flight has landed, not when the first one has."""
    release = threading.Event()
    slow = SlowStore(store, hold=lambda key: release.wait(60))
    writer = make_writer(store=slow, max_size_bytes=1024, max_concurrency=4)
    messages = _write_batches(writer, 8)
    wait_until(lambda: slow.in_flight >= 2)
    synced = threading.Event()
    thread = threading.Thread(target=lambda: (writer.sync(timeout=60), synced.set()))
    thread.start()
    time.sleep(0.2)  # sync would have returned by now if it did not wait for them
    assert not synced.is_set() and [] == store.keys()
    release.set()
    thread.join(60)
    assert synced.is_set()
    assert 8 == len(store.keys())
    assert [json.loads(line)["message"] for line in stored_lines(store)] == messages


def test_cooldown_pauses_every_uploader(store: MemoryStore, make_writer: MakeWriter) -> None:
    """One uploader gives up: the others put their batches back, no retries on a dead store."""
    first_four = threading.Barrier(4)
    gave_up = threading.Event()
    down = threading.Event()
    down.set()
    seen: list[str] = []

    def hold(key: str) -> None:
        if not down.is_set():
            return
        if key not in seen:
            seen.append(key)
            first_four.wait(30)  # four batches in flight at once
        if key == min(seen):
            raise TransientStoreError("put_object: down", bucket="b", key=key)
        gave_up.wait(30)  # the others fail only after the oldest batch gave up
        raise TransientStoreError("put_object: down", bucket="b", key=key)

    slow = SlowStore(store, hold=hold)
    writer = make_writer(
        store=slow,
        max_size_bytes=1024,
        max_concurrency=4,
        retry=NO_WAIT,
        on_error=lambda exc: gave_up.set(),
    )
    messages = _write_batches(writer, 8)
    wait_until(lambda: sum(slow.attempts.values()) >= 6 and slow.in_flight == 0)
    time.sleep(0.2)  # no uploader may try again during the 60 s cooldown
    oldest = min(seen)
    assert {oldest: 3} | {k: 1 for k in seen if k != oldest} == dict(slow.attempts)
    assert 1 == writer.stats.failures
    down.clear()
    writer.close(timeout=30)  # ends the cooldown
    assert [json.loads(line)["message"] for line in stored_lines(store)] == messages


def test_close_on_a_failing_store_loses_nothing_with_a_spool(
    store: MemoryStore, make_writer: MakeWriter, tmp_path: Path
) -> None:
    """Every batch is spooled by close; the next writer on the spool uploads them in order."""

    def fail(key: str) -> None:
        raise TransientStoreError("put_object: down", bucket="b", key=key)

    failing = SlowStore(store, hold=fail)
    writer = make_writer(
        store=failing, max_size_bytes=1024, max_concurrency=4, retry=NO_WAIT, spool_dir=tmp_path
    )
    messages = _write_batches(writer, 10)
    writer.close(timeout=2)
    assert [] == store.keys()
    assert 10 == len(spool_files(tmp_path))
    assert writer.stats.unsaved_records == 0
    # The last uploader to exit (one may still be spooling) releases the spool's lock.
    wait_until(lambda: not writer._pipeline.running)

    next_writer = make_writer(max_concurrency=4, spool_dir=tmp_path)
    next_writer.close(timeout=30)
    assert [json.loads(line)["message"] for line in stored_lines(store)] == messages


def test_a_quiet_writer_keeps_one_uploader(store: MemoryStore, make_writer: MakeWriter) -> None:
    """Uploaders beyond the first start only on a backlog."""
    writer = make_writer(max_concurrency=8)
    for i in range(5):
        writer.write(f"r{i}")
        writer.sync()
    assert 1 == writer._pipeline.uploaders


# -- options ------------------------------------------------------------------------------
def test_max_concurrency_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """OBJLOG_MAX_CONCURRENCY sets it; an argument wins; unset is the default."""
    assert DEFAULT_MAX_CONCURRENCY == resolve_writer_settings(environ={}).max_concurrency
    env = {"OBJLOG_MAX_CONCURRENCY": " 8 "}
    assert 8 == resolve_writer_settings(environ=env).max_concurrency
    assert 2 == resolve_writer_settings(max_concurrency=2, environ=env).max_concurrency


@pytest.mark.parametrize("text", ["0", "65", "-1", "four", "2.5"])
def test_a_bad_max_concurrency_variable_is_named(text: str) -> None:
    """Out of 1..64 or not a whole number: ConfigError naming the variable and its value."""
    with pytest.raises(ConfigError, match="OBJLOG_MAX_CONCURRENCY"):
        resolve_writer_settings(environ={"OBJLOG_MAX_CONCURRENCY": text})


@pytest.mark.parametrize("value", [0, 65, True, 2.0, "4"])
def test_a_bad_max_concurrency_argument_is_refused(store: MemoryStore, value: object) -> None:
    """The writer refuses an out-of-range or non-int max_concurrency before it starts."""
    with pytest.raises(ConfigError, match="max_concurrency"):
        ObjectStoreWriter(store, pipelinerun="r", task="t", max_concurrency=value)  # type: ignore[arg-type]


def test_the_logging_handler_passes_max_concurrency_on(store: MemoryStore) -> None:
    """ObjectStoreHandler(max_concurrency=...) reaches its writer."""
    handler = ObjectStoreHandler(store, pipelinerun="r", task="t", max_concurrency=3)
    try:
        assert 3 == handler.writer.max_concurrency
        handler.handle(logging.makeLogRecord({"msg": "hello"}))
    finally:
        handler.close()
    assert 1 == len(stored_lines(store))


@given(st.integers(min_value=-1000, max_value=1000))
def test_check_max_concurrency_accepts_exactly_1_to_64(value: int) -> None:
    """Property: accepted iff 1 <= value <= 64, and returned unchanged."""
    if 1 <= value <= MAX_CONCURRENCY_LIMIT:
        assert value == check_max_concurrency(value)
    else:
        with pytest.raises(ConfigError):
            check_max_concurrency(value)


# -- the queue hands each batch to one uploader (pure logic) ------------------------------
def _sealed(n: int) -> SealedBatch:
    record = f"record {n}\n".encode()
    return SealedBatch(
        f"logs/r/t/{n:08d}.jsonl",
        record,
        records=1,
        raw_bytes=len(record),
        index=-1,
        compression="none",
        compresslevel=0,
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["put", "take", "back", "store"]), max_size=60), st.randoms())
def test_take_for_upload_never_hands_out_a_batch_twice(ops: list[str], rnd: Any) -> None:
    """
    Property: over any interleaving of put/take/give back/store, each batch is held by at
    most one uploader, and a take returns the oldest batch nobody holds.
    """
    queue = BatchQueue(
        prefix="logs/r/t/",
        budget=MemoryBudget(10**9, WhenFull.BLOCK, 1.0),
        counters=Counters(),
        stage=None,
        clock=lambda: 0.0,
        uploaders=4,
    )
    queued: list[SealedBatch] = []  # the model: seal order
    held: list[SealedBatch] = []
    made = 0
    for op in ops:
        if op == "put":
            batch = _sealed(made)
            made += 1
            queue.put(batch)
            queued.append(batch)
        elif op == "take":
            idle = [b for b in queued if b not in held]
            if not idle:
                continue  # take_for_upload would wait
            batch = queue.take_for_upload()
            assert batch is idle[0]
            held.append(batch)
        elif held:
            batch = held.pop(rnd.randrange(len(held)))
            if op == "store":
                queue.remove(batch, stored=True)
                queued.remove(batch)
            queue.done_with(batch)
        assert len(set(map(id, held))) == len(held)
        assert len(queued) == len(queue)
