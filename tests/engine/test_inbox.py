"""Contended writes: records left in the inbox while another thread holds the lock."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

import pytest

from objlog._engine.batch import charged
from objlog._engine.buffer import INBOX_RECORD_BYTES
from objlog.errors import WriterClosedError
from objlog.stores.memory import MemoryStore
from objlog.writer import ObjectStoreWriter
from writer_helpers import stored_lines, wait_until

MakeWriter = Callable[..., ObjectStoreWriter]


def _prime(writer: ObjectStoreWriter) -> None:
    """One direct write starts a batch, so the fast path's room lets the inbox be used."""
    writer.write("start")


def _own_order(lines: list[str], threads: int, n: int) -> None:
    for t in range(threads):
        assert [f"{t}:{i}" for i in range(n)] == [x for x in lines if x.startswith(f"{t}:")]


def test_writes_while_the_lock_is_held_return_and_are_all_stored(
    store: MemoryStore, make_writer: MakeWriter
) -> None:
    """4 threads write while another holds the lock: none waits; sync stores all, in order."""
    writer = make_writer()
    _prime(writer)
    done = threading.Barrier(5)

    def work(t: int) -> None:
        for i in range(50):
            writer.write(f"{t}:{i}")
        done.wait(timeout=10)

    with writer._buffer._lock:  # every write below finds it held
        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        done.wait(timeout=10)  # all 200 writes returned while the lock is held
        assert 200 == len(writer._buffer._inbox)
    for th in threads:
        th.join()
    writer.sync()  # right after the last write: the inbox is drained first
    lines = [line.decode().strip() for line in stored_lines(store)]
    assert 201 == len(lines)
    _own_order(lines, 4, 50)
    assert 201 == writer.stats.records


def test_contended_threads_keep_their_own_order_and_sync_stores_all(
    store: MemoryStore, make_writer: MakeWriter
) -> None:
    """4 threads x N under real contention (inbox and direct writes mixed)."""
    writer = make_writer(max_size_bytes=64 * 1024)
    _prime(writer)
    n = 20000

    def work(t: int) -> None:
        for i in range(n):
            writer.write(f"{t}:{i}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    writer.sync()
    lines = [line.decode().strip() for line in stored_lines(store)][1:]
    assert 4 * n == len(lines)
    _own_order(lines, 4, n)
    assert 4 * n + 1 == writer.stats.records


def test_uploader_drains_an_idle_writers_inbox_within_max_age(
    store: MemoryStore, make_writer: MakeWriter
) -> None:
    """A record left in the inbox with no later call is stored by the age timer's idle wake-up."""
    writer = make_writer(max_age=0.2)
    _prime(writer)
    writer.sync()
    writer._buffer._room = 1000  # a batch's room as after an accept (sync's seal zeroed it)
    with writer._buffer._lock:
        th = threading.Thread(target=writer.write, args=("late",))
        th.start()
        th.join(timeout=10)
        assert not th.is_alive()
        assert 1 == len(writer._buffer._inbox)
    wait_until(lambda: b"late\n" in stored_lines(store), timeout=10)


def test_a_record_appended_after_close_drained_the_inbox_is_refused(
    make_writer: MakeWriter,
) -> None:
    """write() racing close: its record is taken back and WriterClosedError raised."""
    writer = make_writer()
    _prime(writer)
    errors: list[BaseException] = []

    def late() -> None:
        try:
            writer.write("late")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    writer.close()
    writer._buffer._room = 1000  # as read before close zeroed it
    with writer._buffer._lock:
        th = threading.Thread(target=late)
        th.start()
        wait_until(lambda: len(writer._buffer._inbox) == 1)
    th.join(timeout=10)
    assert [WriterClosedError] == [type(e) for e in errors]
    assert not writer._buffer._inbox


def test_an_inbox_record_that_finds_memory_full_is_taken_within_the_bound(
    make_writer: MakeWriter,
) -> None:
    """A drained record never finds memory full: the inbox's share is reserved up front."""
    writer = make_writer(max_size_bytes=1024, max_buffer_bytes=1024 * 512, when_full="drop")
    _prime(writer)
    budget = writer._buffer.budget
    budget.held = budget._limit  # memory full for locked writes by the time of the drain
    writer._buffer._room = 1000  # a stale room read unlocked
    with writer._buffer._lock:
        th = threading.Thread(target=writer.write, args=("x" * 49,))
        th.start()
        th.join(timeout=10)
        assert 1 == len(writer._buffer._inbox)
        writer._buffer._drain_inbox()
        current = charged(writer._buffer.nbytes, writer._buffer.nrecords)
    assert 0 == writer.stats.dropped_records
    assert budget.held + current <= writer.max_buffer_bytes
    assert not writer._buffer._inbox
    budget.held = 0


def test_drop_never_drops_what_write_accepted(store: MemoryStore) -> None:
    """4 threads, a slow store, when_full="drop": every write that returned its length is stored."""
    store.fault = lambda verb, key: time.sleep(0.02)  # memory fills and frees, again and again
    writer = ObjectStoreWriter(
        store,
        pipelinerun="r",
        task="drop",
        max_size_bytes=4096,
        max_buffer_bytes=1024 * 1024,
        when_full="drop",
        compression="none",
    )
    accepted: list[list[bytes]] = [[] for _ in range(4)]

    def hammer(n: int) -> None:
        for i in range(25000):
            line = f"{n}-{i:05d}".encode() + b"y" * 40 + b"\n"
            if writer.write(line):
                accepted[n].append(line)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads meet inside the writer often: the inbox fills
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
    finally:
        sys.setswitchinterval(interval)
    stats = writer.stats
    assert stats.dropped_records > 0  # memory did fill up
    writer.close(timeout=60)
    stored = stored_lines(store, writer.prefix)
    assert sorted(stored) == sorted(line for lines in accepted for line in lines)
    assert writer.stats.records == len(stored)


def test_forked_state_starts_with_an_empty_inbox(make_writer: MakeWriter) -> None:
    """The child's reset (`_after_fork_in_child`) gives it an empty inbox."""
    writer = make_writer()
    writer._buffer._inbox.append(b"parent's\n")
    writer._after_fork_in_child()
    assert not writer._buffer._inbox


@pytest.mark.parametrize(
    ("buffer", "size"),
    [
        (64 * 1024**2, INBOX_RECORD_BYTES),
        (64 * 1024**2, 64 * 1024 + 1),
        # A small bound: at most a sixteenth of it may wait uncounted (256 x 1 KiB).
        (4 * 1024**2, 4 * 1024**2 // 16 // 256),
    ],
)
def test_large_records_never_use_the_inbox(
    store: MemoryStore, make_writer: MakeWriter, buffer: int, size: int
) -> None:
    """A record over the inbox's size limit waits for the lock as before."""
    writer = make_writer(max_buffer_bytes=buffer, max_size_bytes=min(buffer, 8 * 1024**2))
    _prime(writer)
    with writer._buffer._lock:
        th = threading.Thread(target=writer.write, args=("y" * size,))
        th.start()
        th.join(timeout=0.3)
        assert th.is_alive()  # blocked on the lock
        assert not writer._buffer._inbox
    th.join(timeout=10)
    writer.sync()
    assert 2 == len(stored_lines(store))
