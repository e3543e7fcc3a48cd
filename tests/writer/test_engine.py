"""The writer engine on the in-memory store: triggers, bounds, order, policies, retries."""
# ruff: noqa: SIM118
# (MemoryStore.keys() is a method returning a sorted list, not dict.keys())

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from objlog._codec import decode_batch
from objlog._engine.queue import PipelineState
from objlog._layout import parse_batch_key
from objlog.errors import (
    ConfigError,
    PermanentStoreError,
    SyncTimeout,
    TransientStoreError,
    WriterClosedError,
)
from objlog.retry import RetryPolicy
from objlog.stores.memory import MemoryStore
from objlog.writer import RECORD_OVERHEAD, ObjectStoreWriter, WriterStats, in_objlog_thread
from writer_helpers import FakeClock, Gate, spool_files, stored_lines, wait_until

#: Memory a 10-byte record (9 characters and the newline) counts against max_buffer_bytes.
REC10 = 10 + RECORD_OVERHEAD

MakeWriter = Callable[..., ObjectStoreWriter]
NO_WAIT = RetryPolicy(max_attempts=4, initial_backoff=0.0, max_backoff=0.0)


def _objects(store: MemoryStore) -> list[bytes]:
    return [decode_batch(store.get_object(k), k) for k in store.keys()]


# -- batching -----------------------------------------------------------------------
def test_records_arrive_in_order_as_lines(store: MemoryStore, make_writer: MakeWriter) -> None:
    """Records come back in write order, each as one newline-terminated line."""
    writer = make_writer(max_size_bytes=64)
    for i in range(200):
        assert len(f"r{i}") == writer.write(f"r{i}")
    writer.write(b"bytes\n")
    writer.sync()
    assert [f"r{i}\n".encode() for i in range(200)] + [b"bytes\n"] == stored_lines(store)


def test_keys_are_laid_out_under_run_and_task(store: MemoryStore, make_writer: MakeWriter) -> None:
    """Batch keys live under logs/<run>/<task>/ and parse as this writer's sequence."""
    writer = make_writer(max_size_bytes=10)
    for i in range(5):
        writer.write(f"record-{i}")
    writer.close()
    keys = store.keys()
    assert 5 == len(keys)
    assert "logs/run-1/task-a/" == writer.prefix
    parsed = [parse_batch_key(k) for k in keys]
    assert all(k.startswith("logs/run-1/task-a/") for k in keys)
    assert [0, 1, 2, 3, 4] == [p[2] for p in parsed if p]
    assert {writer.writer_id} == {p[1] for p in parsed if p}


def test_store_prefix_is_prepended(make_writer: MakeWriter) -> None:
    """A store URL prefix goes in front of logs/."""
    prefixed = MemoryStore(prefix="team/x")
    writer = make_writer(store=prefixed)
    writer.write("a")
    writer.close()
    assert "team/x/logs/run-1/task-a/" == writer.prefix
    assert all(k.startswith("team/x/logs/run-1/task-a/") for k in prefixed.keys())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=40),
    limit=st.integers(min_value=1, max_value=256),
)
def test_batch_bounds(sizes: list[int], limit: int) -> None:
    """Every object holds whole records, at most max_size_bytes unless it is one big record."""
    store = MemoryStore()
    writer = ObjectStoreWriter(
        store, pipelinerun="r", task="t", max_size_bytes=limit, max_buffer_bytes=10**6
    )
    records = [(b"x" * n) + b"\n" for n in sizes]
    for record in records:
        writer.write(record)
    writer.close()
    objects = _objects(store)
    assert b"".join(records) == b"".join(objects)
    assert all(obj for obj in objects)
    for obj in objects:
        lines = obj.splitlines(keepends=True)
        assert len(obj) <= limit or len(lines) == 1


def test_big_record_gets_its_own_object(store: MemoryStore, make_writer: MakeWriter) -> None:
    """A record larger than the batch limit is alone in its object; neighbours are not split."""
    writer = make_writer(max_size_bytes=100)
    writer.write("small-1")
    writer.write("B" * 500)
    writer.write("small-2")
    writer.close()
    assert [b"small-1\n", b"B" * 500 + b"\n", b"small-2\n"] == _objects(store)


def test_never_an_empty_object(store: MemoryStore, make_writer: MakeWriter) -> None:
    """flush, sync and close with nothing written store nothing."""
    writer = make_writer()
    writer.flush()
    writer.sync()
    writer.write("a")
    writer.flush()
    writer.flush()
    writer.sync()
    writer.close()
    assert [b"a\n"] == _objects(store)
    assert 0 == store.requests.get("put", 0) - 1


def test_age_trigger_on_write_with_fake_clock(store: MemoryStore, make_writer: MakeWriter) -> None:
    """A batch older than max_age is sealed by the next write, before it joins."""
    clock = FakeClock()
    writer = make_writer(max_age=5.0, clock=clock)
    writer.write("old")
    clock.advance(4.9)
    writer.write("still")
    clock.advance(0.2)
    writer.write("new")
    wait_until(lambda: 1 == writer.stats.objects)
    assert [b"old\nstill\n"] == _objects(store)


def test_age_trigger_by_uploader_timer(store: MemoryStore, make_writer: MakeWriter) -> None:
    """With no further writes, the uploader thread itself seals an aged batch."""
    writer = make_writer(max_age=0.05)
    writer.write("lonely")
    wait_until(lambda: 1 == writer.stats.objects)
    assert [b"lonely\n"] == _objects(store)


def test_age_trigger_after_an_idle_spell(store: MemoryStore, make_writer: MakeWriter) -> None:
    """A batch started after the uploader went idle is still sealed by age, with no more writes."""
    writer = make_writer(max_age=0.05)
    writer.write("first")
    wait_until(lambda: 1 == writer.stats.objects)
    writer.write("second")
    wait_until(lambda: 2 == writer.stats.objects)
    assert [b"first\n", b"second\n"] == _objects(store)


def test_writelines_keeps_items_before_a_bad_one(
    store: MemoryStore, make_writer: MakeWriter
) -> None:
    """Items before a non-str/bytes item are written; the bad item raises TypeError."""
    writer = make_writer()
    with pytest.raises(TypeError):
        writer.writelines(["a", 3, "never"])  # type: ignore[list-item]
    writer.sync()
    assert [b"a\n"] == _objects(store)


def test_writelines_many_records_in_order(store: MemoryStore, make_writer: MakeWriter) -> None:
    """writelines over more records than one lock round keeps every record, in order."""
    writer = make_writer(max_size_bytes=4096)
    writer.writelines(f"line-{i}" for i in range(3000))
    writer.sync()
    assert [f"line-{i}\n".encode() for i in range(3000)] == stored_lines(store)


def test_threads_keep_their_own_order(store: MemoryStore, make_writer: MakeWriter) -> None:
    """Concurrent writers' records all arrive and each thread's stay in order."""
    writer = make_writer(max_size_bytes=512)

    def work(n: int) -> None:
        for i in range(300):
            writer.write(f"{n}:{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    lines = [line.decode().strip() for line in stored_lines(store)]
    assert 1200 == len(lines)
    for n in range(4):
        assert [f"{n}:{i}" for i in range(300)] == [x for x in lines if x.startswith(f"{n}:")]


def test_object_headers(store: MemoryStore, make_writer: MakeWriter) -> None:
    """gzip batches are application/gzip with no Content-Encoding; plain ones NDJSON."""
    gz_writer = make_writer(task="gz")
    plain_writer = make_writer(task="plain", compression="none")
    gz_writer.write("a")
    plain_writer.write("b")
    gz_writer.close()
    plain_writer.close()
    (gz_key,) = [k for k in store.keys() if "/gz/" in k]
    (plain_key,) = [k for k in store.keys() if "/plain/" in k]
    gz = store.head_object(gz_key)
    plain = store.head_object(plain_key)
    assert (True, "application/gzip", "", "1") == (
        gz_key.endswith(".jsonl.gz"),
        gz.content_type,
        gz.content_encoding,
        gz.metadata["objlog-records"],
    )
    assert (True, "application/x-ndjson", "") == (
        plain_key.endswith(".jsonl"),
        plain.content_type,
        plain.content_encoding,
    )
    assert b"b\n" == store.get_object(plain_key)


# -- memory bound and policies -----------------------------------------------------------
def test_drop_policy_counts_and_bounds(store: MemoryStore, make_writer: MakeWriter) -> None:
    """With the store stuck, "drop" keeps at most max_buffer_bytes and counts the rest."""
    gate = Gate()
    store.fault = gate
    # Room for 30 records (bytes plus RECORD_OVERHEAD each), 10 to a batch.
    writer = make_writer(max_size_bytes=100, max_buffer_bytes=30 * REC10, when_full="drop")
    accepted = sum(1 for _ in range(100) if writer.write("x" * 9))  # 10-byte records
    stats = writer.stats
    assert (30, 70, 700) == (accepted, stats.dropped_records, stats.dropped_bytes)
    gate.open()
    writer.close()
    assert 30 == len(stored_lines(store))


def test_block_policy_waits_then_drops_then_recovers(
    store: MemoryStore, make_writer: MakeWriter
) -> None:
    """ "block" waits block_timeout once, then drops at once until an upload makes room."""
    gate = Gate()
    store.fault = gate
    writer = make_writer(max_size_bytes=10, max_buffer_bytes=2 * REC10, block_timeout=0.05)
    assert [9, 9, 0, 0] == [writer.write("y" * 9) for _ in range(4)]
    assert 2 == writer.stats.dropped_records
    gate.open()
    wait_until(lambda: 0 == writer.stats.queue_depth)
    assert 9 == writer.write("z" * 9)
    writer.close()
    assert [b"y" * 9 + b"\n"] * 2 + [b"z" * 9 + b"\n"] == stored_lines(store)


def test_block_policy_unblocks_when_room_appears(
    store: MemoryStore, make_writer: MakeWriter
) -> None:
    """A blocked write proceeds as soon as an upload frees memory."""
    gate = Gate()
    store.fault = gate
    writer = make_writer(max_size_bytes=10, max_buffer_bytes=2 * REC10, block_timeout=60)
    writer.write("a" * 9)
    writer.write("b" * 9)
    result: list[int] = []
    blocked = threading.Thread(target=lambda: result.append(writer.write("c" * 9)))
    blocked.start()
    gate.waiting.wait(30)
    gate.open()
    blocked.join(60)
    assert [9] == result
    writer.close()
    assert 3 == len(stored_lines(store))


# -- retries and failures -----------------------------------------------------------------
def test_transient_failures_are_retried_without_sleeping(
    store: MemoryStore, make_writer: MakeWriter
) -> None:
    """Three 503s then success: one object, three retries, waits went to the fake sleep."""
    waits: list[float] = []
    store.fail_next(3)
    writer = make_writer(sleep=waits.append, retry=RetryPolicy(max_attempts=5))
    writer.write("a")
    writer.sync()
    stats = writer.stats
    assert (1, 3, 0, 3) == (stats.objects, stats.retries, stats.failures, len(waits))
    assert 4 == store.requests["put"]
    assert [b"a\n"] == _objects(store)


def test_exhausted_retries_keep_the_batch(store: MemoryStore, make_writer: MakeWriter) -> None:
    """After retries run out the batch is kept and stored later under the same key."""
    errors: list[BaseException] = []
    clock = FakeClock()
    store.fail_next(5)
    writer = make_writer(
        retry=RetryPolicy(max_attempts=3), sleep=lambda s: None, clock=clock, on_error=errors.append
    )
    writer.write("precious")
    with pytest.raises(SyncTimeout) as info:
        writer.sync(timeout=0.5)
    assert 1 == info.value.pending_batches
    assert all(isinstance(e, TransientStoreError) for e in errors)
    clock.advance(60)
    writer.sync(timeout=30)
    stats = writer.stats
    assert [b"precious\n"] == _objects(store)
    assert (1, 1, 6) == (stats.failures, stats.objects, store.requests["put"])
    assert stats.last_error is not None and "TransientStoreError" in stats.last_error


def test_permanent_error_is_not_retried_but_set_aside(
    store: MemoryStore, make_writer: MakeWriter
) -> None:
    """A permanent error is not retried: reported once, the batch set aside, the next one stored."""
    errors: list[BaseException] = []
    store.fail_next(1, lambda key: PermanentStoreError("denied", key=key, reason="AccessDenied"))
    writer = make_writer(on_error=errors.append, sleep=lambda s: None)
    writer.write("a")
    writer.sync(timeout=30)  # returns: a dead-lettered batch is not waited for
    writer.write("b")
    writer.sync(timeout=30)
    assert [PermanentStoreError] == [type(e) for e in errors]
    stats = writer.stats
    assert (0, 0, 1) == (stats.retries, stats.failures, stats.dead_lettered)
    assert [b"b\n"] == _objects(store)


def test_failures_reach_stderr_rate_limited(
    store: MemoryStore, make_writer: MakeWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    """Repeated failures print one stderr line per interval, naming the key."""
    clock = FakeClock()
    store.fail_next(100)
    writer = make_writer(retry=RetryPolicy(max_attempts=1), clock=clock, sleep=lambda s: None)
    writer.write("a")
    writer.flush()
    for failures in range(1, 4):
        wait_until(lambda n=failures: writer.stats.failures >= n)  # type: ignore[misc]
        clock.advance(60)
        writer.flush()  # wakes the uploader, which sees the pause is over
    err = capsys.readouterr().err
    assert 1 == err.count("objlog: logs/run-1/task-a/: upload of logs/run-1/task-a/")


def test_uploader_thread_is_marked(store: MemoryStore, make_writer: MakeWriter) -> None:
    """Store calls run on a thread where in_objlog_thread() is true; callers' threads are not."""
    seen: list[bool] = []
    store.fault = lambda verb, key: seen.append(in_objlog_thread())
    writer = make_writer()
    writer.write("a")
    writer.sync()
    assert [True] == seen
    assert not in_objlog_thread()


def test_uploader_survives_a_buggy_store(store: MemoryStore, make_writer: MakeWriter) -> None:
    """An unexpected exception from the store is reported; the batch still arrives."""
    calls: list[str] = []
    clock = FakeClock()

    def fault(verb: str, key: str) -> None:
        calls.append(key)
        if len(calls) == 1:
            raise RuntimeError("store bug")

    store.fault = fault
    errors: list[BaseException] = []
    writer = make_writer(clock=clock, on_error=errors.append)
    writer.write("a")
    writer.flush()
    wait_until(lambda: 1 == len(errors))
    clock.advance(60)
    writer.sync(timeout=30)
    assert [b"a\n"] == _objects(store)
    assert [RuntimeError] == [type(e) for e in errors]


# -- sync and close deadlines ----------------------------------------------------------------
def test_close_with_a_hanging_store_keeps_its_deadline(
    store: MemoryStore, make_writer: MakeWriter
) -> None:
    """close() on a store that never answers gives up at its deadline with SyncTimeout."""
    gate = Gate()
    store.fault = gate
    writer = make_writer()
    writer.write("a")
    with pytest.raises(SyncTimeout) as info:
        writer.close(timeout=0.2)
    assert 1 == info.value.pending_batches
    assert writer.closed
    gate.open()


def test_close_with_many_slow_batches_keeps_one_deadline(make_writer: MakeWriter) -> None:
    """Slow uploads of many batches: close gives up once, counting what is left."""
    slow = MemoryStore()
    slow.latency = 0.2
    writer = make_writer(store=slow, max_size_bytes=1)
    for i in range(50):
        writer.write(f"{i}")
    with pytest.raises(SyncTimeout) as info:
        writer.close(timeout=2.0)  # 50 uploads need 10 s
    assert 0 < info.value.pending_batches < 50


def test_close_is_idempotent_and_final(store: MemoryStore, make_writer: MakeWriter) -> None:
    """close twice is fine; write after close raises; flush after close is a no-op."""
    writer = make_writer()
    with writer:
        writer.write("a")
    writer.close()
    writer.flush()
    with pytest.raises(WriterClosedError):
        writer.write("b")
    assert [b"a\n"] == _objects(store)


def test_stats_snapshot(store: MemoryStore, make_writer: MakeWriter) -> None:
    """stats is a frozen snapshot with byte counts in and out."""
    writer = make_writer(compression="none")
    writer.write("abc")
    writer.write("de")
    writer.sync()
    stats = writer.stats
    assert WriterStats(records=2, bytes_in=7, bytes_stored=7, objects=1, stored_records=2) == stats
    with pytest.raises(AttributeError):
        stats.records = 5  # type: ignore[misc]


def test_repr_names_store_and_prefix(make_writer: MakeWriter) -> None:
    """The repr shows the store URL and prefix."""
    text = repr(make_writer())
    assert "memory://memory" in text and "logs/run-1/task-a/" in text


# -- spool ---------------------------------------------------------------------------------------
def test_spool_holds_batches_while_store_is_down(
    store: MemoryStore, make_writer: MakeWriter, tmp_path: Path
) -> None:
    """With a spool, sync returns once batches are on disk; they are removed once stored."""
    gate = Gate()
    store.fault = gate
    writer = make_writer(spool_dir=tmp_path, max_size_bytes=10)
    for i in range(5):
        writer.write(f"rec-{i:05d}")
    writer.sync(timeout=30)
    assert 5 == writer.stats.spooled
    assert 5 == len(spool_files(tmp_path, f"{writer.writer_id}.*"))
    gate.open()
    writer.close(timeout=60)
    assert [f"rec-{i:05d}\n".encode() for i in range(5)] == stored_lines(store)
    assert [] == spool_files(tmp_path)


def test_spool_instead_of_blocking(
    store: MemoryStore, make_writer: MakeWriter, tmp_path: Path
) -> None:
    """Full memory with a spool: batches go to disk, no record is dropped."""
    gate = Gate()
    store.fault = gate
    writer = make_writer(
        spool_dir=tmp_path, max_size_bytes=50, max_buffer_bytes=100, when_full="drop"
    )
    for i in range(100):
        assert 6 == writer.write(f"r{i:05d}")
    assert 0 == writer.stats.dropped_records
    gate.open()
    writer.close(timeout=60)
    assert [f"r{i:05d}\n".encode() for i in range(100)] == stored_lines(store)


def test_unwritable_spool_is_reported_not_fatal(
    store: MemoryStore, make_writer: MakeWriter, tmp_path: Path
) -> None:
    """A spool that cannot be written is reported; records still reach the store."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    errors: list[BaseException] = []
    writer = make_writer(spool_dir=blocker / "spool", on_error=errors.append)
    writer.write("a")
    writer.close(timeout=30)
    assert [b"a\n"] == _objects(store)
    assert errors and all(isinstance(e, OSError) for e in errors)
    assert writer.stats.last_error is not None


def test_leftovers_are_recovered_under_original_keys(
    store: MemoryStore, make_writer: MakeWriter, tmp_path: Path
) -> None:
    """A new writer on a dead writer's spool uploads its batches under their keys."""
    down = MemoryStore()
    down.fail_next(10**6)
    dead = make_writer(
        store=down, spool_dir=tmp_path, max_size_bytes=10, retry=RetryPolicy(max_attempts=1)
    )
    for i in range(4):
        dead.write(f"old-{i:05d}")
    dead.sync(timeout=30)
    spooled = sorted(p.name.rsplit(".", 1)[0] for p in spool_files(tmp_path))
    assert 4 == len(spooled)
    assert dead._spool is not None
    dead._spool.forget_after_fork()  # its lock goes away as if the process had died
    dead._abort = True

    fresh = make_writer(spool_dir=tmp_path)
    fresh.write("new")
    fresh.close(timeout=60)
    recovered = [k for k in store.keys() if dead.writer_id in k]
    assert spooled == [k.rsplit("/", 1)[1] for k in recovered]
    assert [f"old-{i:05d}\n".encode() for i in range(4)] == [
        line for k in recovered for line in stored_lines(store, k)
    ]
    assert [b"new\n"] == stored_lines(store, fresh.prefix + "2")[-1:]
    assert [] == spool_files(tmp_path)


def test_restart_under_a_fixed_writer_id_recovers_and_spools(
    store: MemoryStore, make_writer: MakeWriter, tmp_path: Path
) -> None:
    """A writer restarted with the same writer_id uploads the dead one's batches and spools."""
    down = MemoryStore()
    down.fail_next(10**6)
    dead = make_writer(
        store=down, spool_dir=tmp_path, writer_id="podA", retry=RetryPolicy(max_attempts=1)
    )
    dead.write("old")
    dead.sync(timeout=30)
    assert dead._spool is not None
    dead._spool.forget_after_fork()  # its lock goes away as if the process had died
    dead._abort = True

    errors: list[BaseException] = []
    gate = Gate()
    store.fault = gate
    again = make_writer(spool_dir=tmp_path, writer_id="podA", on_error=errors.append)
    again.write("new")
    again.sync(timeout=30)
    assert 1 == again.stats.spooled
    gate.open()
    again.close(timeout=60)
    assert [b"old\n", b"new\n"] == stored_lines(store)
    assert [] == errors
    assert [] == spool_files(tmp_path)
    assert [] == list(tmp_path.iterdir())


def test_two_live_writers_do_not_take_each_others_batches(
    store: MemoryStore, make_writer: MakeWriter, tmp_path: Path
) -> None:
    """A live writer's spooled batches are not claimed by another writer on the same spool."""
    gate = Gate()
    stuck = MemoryStore()
    stuck.fault = gate
    first = make_writer(store=stuck, spool_dir=tmp_path)
    first.write("mine")
    first.sync(timeout=30)
    second = make_writer(spool_dir=tmp_path)
    second.write("yours")
    second.close(timeout=30)
    assert [b"yours\n"] == _objects(store)
    gate.open()
    first.close(timeout=60)
    assert [b"mine\n"] == _objects(stuck)


# -- configuration ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {"pipelinerun": "a/b"},
        {"task": ".."},
        {"task": "t\x00"},
        {"max_size_bytes": 0},
        {"max_size_bytes": 100, "max_buffer_bytes": 10},
        {"max_age": 0},
        {"when_full": "wait"},
        {"block_timeout": -1},
        {"compression": "brotli"},
        {"compresslevel": 10},
        {"writer_id": "with-dash"},
    ],
)
def test_bad_options_are_config_errors(make_writer: MakeWriter, options: dict[str, object]) -> None:
    """Each bad option is a ConfigError at construction."""
    with pytest.raises(ConfigError):
        make_writer(**options)


def test_engine_imports_no_sdk() -> None:
    """Importing the engine loads neither boto3, minio nor structlog."""
    code = (
        "import sys, objlog.writer; "
        "print(sorted(m for m in ('boto3', 'botocore', 'minio', 'structlog') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "[]" == out.strip()


def test_close_interrupts_a_retry_wait(store: MemoryStore, make_writer: MakeWriter) -> None:
    """close() gives up at its deadline even while the uploader sleeps between attempts."""
    store.fail_next(10**6)
    writer = make_writer(retry=RetryPolicy(initial_backoff=30.0, max_backoff=60.0))
    writer.write("a")
    writer.flush()
    wait_until(lambda: writer.stats.retries >= 1)
    with pytest.raises(SyncTimeout):
        writer.close(timeout=0.2)
    wait_until(lambda: not writer._pipeline.running)


def test_on_error_writing_back_never_blocks_the_uploader(
    store: MemoryStore, make_writer: MakeWriter
) -> None:
    """A hook that logs into the same full writer gets drops, not a deadlock."""
    clock = FakeClock()
    store.fail_next(10**6)
    holder: list[ObjectStoreWriter] = []
    results: list[int] = []

    def hook(exc: BaseException) -> None:
        results.append(holder[0].write("x" * 200))

    writer = make_writer(
        max_size_bytes=100,
        max_buffer_bytes=100,
        block_timeout=60,
        retry=RetryPolicy(max_attempts=1),
        clock=clock,
        on_error=hook,
    )
    holder.append(writer)
    writer.write("y" * 99)
    wait_until(lambda: len(results) >= 1)
    assert 0 == results[0]
    assert 1 <= writer.stats.dropped_records


def test_store_given_as_a_directory_is_owned(tmp_path: Path) -> None:
    """A store given by path is opened by the writer and closed with it."""
    writer = ObjectStoreWriter(str(tmp_path / "store"), pipelinerun="r", task="t")
    writer.write("on disk")
    writer.close()
    (path,) = (tmp_path / "store" / "logs" / "r" / "t").iterdir()
    assert b"on disk\n" == decode_batch(path.read_bytes(), path.name)


def test_lone_surrogate_is_written_not_refused(store: MemoryStore, make_writer: MakeWriter) -> None:
    """write() of a str with a lone surrogate stores its backslash escape as valid UTF-8."""
    writer = make_writer()
    assert 3 == writer.write("a\ud800b")
    writer.sync()
    assert [b"a\\ud800b\n"] == stored_lines(store)


def test_bad_name_is_refused_before_the_store_is_opened(tmp_path: Path) -> None:
    """An invalid task name raises ConfigError without creating the store's directory."""
    target = tmp_path / "store"
    with pytest.raises(ConfigError):
        ObjectStoreWriter(str(target), pipelinerun="run-1", task="a/b")
    assert not target.exists()


def test_close_waits_for_a_batch_being_spooled(make_writer: MakeWriter, tmp_path: Path) -> None:
    """A batch the uploader is spooling when close gives up counts as spooled, not lost."""
    writer = make_writer(spool_dir=tmp_path)
    spool = writer._spool
    assert spool is not None
    real_put = spool.finish
    entered = threading.Event()

    def put(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        wait_until(
            lambda: writer._pipeline.queue.state is PipelineState.ABORTED
        )  # once close gave up
        return real_put(*args, **kwargs)

    spool.finish = put  # type: ignore[method-assign]
    writer.write("late")
    writer.flush()
    assert entered.wait(60)
    writer.close(timeout=0.5)
    wait_until(lambda: not writer._pipeline.running)
    assert 1 == writer.stats.spooled
    assert 1 == len(spool_files(tmp_path))
