"""
The current batch: where ``write`` puts records, and where batches are sealed.

`BatchBuffer.write` is the writer's hot path. Under the buffer's lock a
record that fits (the batch's size, its age, the memory bound: all folded
into one number, `BatchBuffer._room`) is copied into the batch's
`RecordBuffer` and counted; anything else goes through `_accept`, which
applies the `FlushPolicy`, asks the `MemoryBudget`, seals and submits
batches to the `UploadPipeline`.

Contended writes: a ``write`` that finds the lock held appends a small
record to an inbox (a deque: append is atomic under the GIL) and returns
without waiting, when the record is shorter than `INBOX_RECORD_BYTES` and
than max_buffer_bytes / (16 x `INBOX_RECORDS`), the inbox holds fewer than
`INBOX_RECORDS` and the fast path's room (read unlocked) would take it. The
next holder of the lock moves the inbox into the batch, in order, before
anything else (`_drain_inbox`); the `AgeTimer` does so every ``max_age`` when
nothing else does. Queuing on the lock instead made 4 threads of small
records 2-3x slower than one (each release hands the lock to a waiter that
must then get the GIL). The inbox's worst case (`INBOX_RECORDS` records of
the largest size it takes, plus ``RECORD_OVERHEAD`` each: at most a
sixteenth of max_buffer_bytes) is reserved in the `MemoryBudget` up front,
so a record whose ``write`` returned from the inbox is always taken when it
is moved in: never dropped later, and the bound still holds.

With a spool there is no inbox: the batch being filled is a file-backed
mapping in the spool (`UploadPipeline.new_buffer`), and a record is copied
into it before ``write`` returns, so it survives SIGKILL. Its key is fixed
when the batch opens (the file holds it), not when it is sealed.

When memory is full, the lock is released before anything slow: the spool
write (`UploadPipeline.spool_pending`) and the wait for room
(`MemoryBudget.wait_for_release`) run with no buffer lock held.

Thread safety: every method is safe from any thread. The buffer's lock is
the outermost of the engine's (see `objlog._engine`); it is never held
across a wait.
"""

from __future__ import annotations

import collections
import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from objlog import _shutdown
from objlog._codec import normalize_record
from objlog._engine.batch import RECORD_OVERHEAD, SealedBatch, charged
from objlog._engine.budget import MemoryBudget, WhenFull
from objlog._engine.pipeline import UploadPipeline
from objlog._engine.policy import AgeTimer, FlushPolicy
from objlog._engine.records import FileRecordBuffer, RecordBuffer
from objlog._engine.stats import Counters, WriterStats
from objlog._layout import BatchNamer
from objlog.errors import WriterClosedError

__all__ = ["INBOX_RECORDS", "INBOX_RECORD_BYTES", "BatchBuffer", "WriterState"]

#: Records the inbox holds at most (see the module docstring).
INBOX_RECORDS = 256
#: Records at least this long never go to the inbox.
INBOX_RECORD_BYTES = 16 * 1024
#: Records `writelines` accepts per lock acquisition (bounds other threads' wait).
WRITELINES_CHUNK = 256


class WriterState(enum.Enum):
    """Lifecycle of a writer, as its batch buffer sees it."""

    OPEN = "open"
    CLOSED = "closed"  # close() began: writes raise WriterClosedError


class _Verdict(enum.Enum):
    TAKEN = "taken"
    DROPPED = "dropped"
    PAUSED = "paused"  # a signal's sync is under way: wait outside the lock, try again
    FULL = "full"  # memory is full: make room outside the lock, try again


@dataclass(slots=True, eq=False, kw_only=True)
class BatchBuffer:
    """
    The current batch of one writer, its inbox and its seal.

    Args:
        policy: When to seal.
        budget: The memory bound.
        pipeline: Where sealed batches go.
        counters: The writer's counters.
        namer: Issues batch keys, in seal order.
        compression: Codec name of the batches.
        compresslevel: Codec level.
        clock: Monotonic seconds for batch age.
        timer_name: Name of the age timer's thread.
    """

    policy: FlushPolicy
    budget: MemoryBudget
    pipeline: UploadPipeline
    counters: Counters
    namer: BatchNamer
    compression: str
    compresslevel: int
    clock: Callable[[], float]
    timer_name: str
    state: WriterState = field(init=False, default=WriterState.OPEN)
    nrecords: int = field(init=False, default=0)
    nbytes: int = field(init=False, default=0)
    _lock: threading.RLock = field(init=False, default_factory=threading.RLock)
    _inbox: collections.deque[bytes] = field(init=False, default_factory=collections.deque)
    _inbox_max: int = field(init=False, default=0)
    _max_size: int = field(init=False, default=0)
    _timer: AgeTimer = field(init=False)
    _buf: RecordBuffer | None = field(init=False, default=None)
    _view: memoryview | None = field(init=False, default=None)
    _started: float = field(init=False, default=0.0)
    _key: str = field(init=False, default="")
    _key_us: int = field(init=False, default=0)
    # Fast-path state of `write` (see `_accept`): 0 sends every write the slow way.
    _deadline: float = field(init=False, default=0.0)
    _room: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._max_size = self.policy.max_size_bytes
        # With a spool the inbox is off: a record must be in the batch's
        # file-backed mapping before ``write`` returns (it survives SIGKILL).
        if self.pipeline.spool is None:
            share = self.budget.max_buffer_bytes // (16 * INBOX_RECORDS) - RECORD_OVERHEAD
            self._inbox_max = max(0, min(INBOX_RECORD_BYTES, share))
        # The inbox's worst case (at most a sixteenth of the bound) is set
        # aside in the budget up front, so its records, accepted unlocked,
        # are never dropped later.
        if self._inbox_max:
            self.budget.reserve(INBOX_RECORDS * (self._inbox_max + RECORD_OVERHEAD))
        self._timer = AgeTimer(
            self.tick, idle_interval=self.policy.max_age, clock=self.clock, name=self.timer_name
        )

    # -- the hot path -------------------------------------------------------------------
    def write(self, data: str | bytes) -> int:
        """Append one record (see `ObjectStoreWriter.write`); returns len(data), or 0 if dropped."""
        if type(data) is bytes and data[-1:] == b"\n":
            record = data
        else:
            record = normalize_record(data)
            if not record:  # write(""): nothing to store
                return 0
        size = len(record)
        lock = self._lock
        while True:
            if _shutdown.paused:  # a signal's sync is under way (rare: checked inline)
                _shutdown.wait_while_paused()
            if not lock.acquire(False):
                # `_room` read unlocked is at most the real room (only a holder raises it).
                inbox = self._inbox
                if size < self._inbox_max and size < self._room and len(inbox) < INBOX_RECORDS:
                    inbox.append(record)
                    if self.state is not WriterState.OPEN:  # close may have drained it first
                        self._reclaim(record)
                    if _shutdown.paused:  # a signal's sync may have drained it first
                        _shutdown.wait_while_paused()
                    return len(data)
                lock.acquire()
            try:
                if self._inbox:  # earlier records first (this thread's included)
                    self._drain_inbox()
                if size < self._room and not _shutdown.paused and self.clock() < self._deadline:
                    self._room -= size + RECORD_OVERHEAD
                    pos = self.nbytes
                    self.nbytes = end = pos + size
                    self._view[pos:end] = record  # type: ignore[index]
                    self.nrecords += 1
                    return len(data)
                verdict = self._accept(record)
            finally:
                lock.release()
            if verdict is _Verdict.FULL:
                verdict = self._write_when_full(record)
            if verdict is _Verdict.TAKEN:
                return len(data)
            if verdict is _Verdict.DROPPED:
                return 0

    def write_many(self, records: list[bytes]) -> None:
        """Accept normalised `records` in order, taking the lock once unless something else must."""
        i, n = 0, len(records)
        while i < n:
            if _shutdown.paused:
                _shutdown.wait_while_paused()
            full = False
            with self._lock:
                if self._inbox:
                    self._drain_inbox()
                while i < n:
                    verdict = self._accept(records[i])
                    if verdict is _Verdict.PAUSED:
                        break
                    if verdict is _Verdict.FULL:
                        full = True
                        break
                    i += 1
            if full:
                self._write_when_full(records[i])
                i += 1

    # -- the slow path (lock held) ----------------------------------------------------------
    def _accept(self, record: bytes, *, queued: bool = False) -> _Verdict:
        """
        Lock held: add a record to the current batch, sealing as the policy says.

        `queued`: a record from the inbox: taken even while close drains it,
        and never FULL or dropped (the lock stays held): its memory is the
        budget's inbox reserve (`MemoryBudget.reserve`).
        """
        if self.state is not WriterState.OPEN and not queued:
            raise WriterClosedError(f"write to a closed writer ({self.pipeline.prefix})")
        if _shutdown.paused and _shutdown.writes_paused():
            return _Verdict.PAUSED
        self.pipeline.ensure_started()
        size = len(record)
        now = self.clock()
        if self.nrecords and self.policy.seal_before(
            self.nbytes, size, self._started, now, deadline=self._deadline
        ):
            self._seal()
        if not queued and not self.budget.fits(charged(self.nbytes, self.nrecords), size):
            if self.pipeline.spool is not None:
                self._seal()  # so that it can be spooled
            return _Verdict.FULL
        if not self.nrecords:
            if self.policy.alone(size):  # an object of its own, kept as given
                self._seal(record)
                return _Verdict.TAKEN
            self._started = now
            if self._buf is None:
                # The key is fixed when the batch opens: with a spool it is in
                # the batch's file from the first record on.
                self._key = self.namer.next_key()
                self._key_us = self.namer.last_us
                self._buf = self.pipeline.new_buffer(
                    self._key, self._max_size, self.compression, self.compresslevel
                )
                self._view = self._buf.view
            # max_age on, or the end of the key time's partition (hour) if sooner.
            self._deadline = self.policy.deadline(now, self._key_us)
            self._timer.arm(self._deadline)
        pos = self.nbytes
        self.nbytes = end = pos + size
        self._view[pos:end] = record  # type: ignore[index]
        self.nrecords += 1
        if self.nbytes >= self._max_size:
            self._seal()
        elif not _shutdown.paused:
            # What the fast path may take without asking: a record of strictly
            # fewer bytes keeps the batch under max_size_bytes and memory within
            # max_buffer_bytes; each takes its size plus RECORD_OVERHEAD off.
            # Whatever could shrink the real room (seal, close) resets it to 0;
            # memory freed by uploads only makes it conservative.
            self._room = min(
                self._max_size - self.nbytes,
                self.budget.room(charged(self.nbytes, self.nrecords)),
            )
        return _Verdict.TAKEN

    def _seal(self, alone: bytes | None = None) -> None:
        """
        Lock held: turn the current batch into a sealed batch with its key and submit it.

        `alone`: instead, seal this record (at least max_size_bytes, the
        current batch empty) as a batch of its own, without copying it.
        """
        data: RecordBuffer | bytes
        if alone is not None:
            key = self.namer.next_key()
            data = self.pipeline.hold_alone(key, alone, self.compression, self.compresslevel)
            records, raw_bytes = 1, len(alone)
            if isinstance(data, RecordBuffer):
                data.seal(raw_bytes)
        else:
            if not self.nrecords:
                return
            assert self._buf is not None
            key, data, records, raw_bytes = self._key, self._buf, self.nrecords, self.nbytes
            self._buf.seal(raw_bytes)
            self._buf = self._view = None
        batch = SealedBatch(
            key,
            data,
            records=records,
            raw_bytes=raw_bytes,
            index=-1,
            compression=self.compression,
            compresslevel=self.compresslevel,
            file=data.path if isinstance(data, FileRecordBuffer) else None,
        )
        self.counters.sealed(records, raw_bytes, batch.key)
        self.nrecords = self.nbytes = self._room = 0
        self.pipeline.submit(batch)

    def _drain_inbox(self, *, closing: bool = False) -> None:
        """
        Lock held: move contended writes' records into the batch, oldest first.

        Stops, leaving the rest, while a signal's sync pauses this thread's
        writes (that sync drains them). After close drained it (`closing`),
        it is left to the writers' `_reclaim`.
        """
        if self.state is not WriterState.OPEN and not closing:
            return
        inbox = self._inbox
        while inbox:
            if self._accept(inbox[0], queued=True) is _Verdict.PAUSED:
                return
            inbox.popleft()

    def _reclaim(self, record: bytes) -> None:
        """A write left `record` in a closed writer's inbox: refuse it unless close took it."""
        with self._lock:  # close drains under the lock: now it is over, or not begun
            if self.state is WriterState.OPEN:
                return
            inbox = self._inbox
            for i, queued in enumerate(inbox):
                if queued is record:
                    del inbox[i]
                    raise WriterClosedError(f"write to a closed writer ({self.pipeline.prefix})")

    # -- memory full (no lock held) ----------------------------------------------------------
    def _write_when_full(self, record: bytes) -> _Verdict:
        """
        No lock held: memory was full for `record`: spool, wait or drop; then accept it.

        With a spool, sealed batches are spooled first (the caller's thread
        writes them). Then ``"drop"`` (or an earlier wait that ran out, or an
        objlog thread, which must never wait on the uploader) drops the
        record; ``"block"`` waits up to ``block_timeout`` for an upload to
        make room. Raises `WriterClosedError` when close begins meanwhile.
        """
        size = len(record)
        budget = self.budget
        spool_first = self.pipeline.spool is not None
        deadline: float | None = None
        seen = budget.releases
        while True:
            if spool_first:
                spool_first = False
                # Waits for uploaders' spool writes too: several may be under way.
                self.pipeline.queue.spool_pending(wait=True)
            elif (
                budget.when_full is WhenFull.DROP
                or budget.blocked_out
                or _shutdown.in_objlog_thread()
            ):
                self.counters.dropped(size)
                return _Verdict.DROPPED
            else:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + budget.block_timeout
                elif now >= deadline:
                    budget.block_out()
                    self.counters.dropped(size)
                    return _Verdict.DROPPED
                budget.wait_for_release(seen, deadline)
            while True:
                if _shutdown.paused:
                    _shutdown.wait_while_paused()
                with self._lock:
                    if self._inbox:
                        self._drain_inbox()
                    seen = budget.releases
                    verdict = self._accept(record)
                if verdict is not _Verdict.PAUSED:
                    break
            if verdict is not _Verdict.FULL:
                return verdict

    # -- seal triggers ---------------------------------------------------------------------------
    def tick(self) -> None:
        """The age timer's hook: move the inbox in; seal the batch if it is old enough."""
        with self._lock:
            if self._inbox:
                self._drain_inbox()
            if self.nrecords:
                if self.policy.due(self._started, self.clock(), deadline=self._deadline):
                    self._seal()
                else:
                    self._timer.arm(self._deadline)

    def seal(self) -> int:
        """
        Move the inbox in and seal the current batch (``flush``, ``sync``).

        Returns:
            The number of batches sealed so far: `UploadPipeline.wait_done` target.
        """
        with self._lock:
            if self._inbox:
                self._drain_inbox()
            if self.state is WriterState.OPEN:
                self.pipeline.ensure_started()
            self._seal()
            return self.pipeline.queue.sealed

    def close(self) -> int:
        """
        Refuse further writes; move the inbox in and seal (``close``).

        Returns:
            The number of batches sealed, or -1 when already closed.
        """
        with self._lock:
            if self.state is not WriterState.OPEN:
                return -1
            self.state = WriterState.CLOSED
            self._room = 0
            # Records of writes that returned: into the last batch. Later
            # appends see the state and take theirs back (`_reclaim`).
            self._drain_inbox(closing=True)
            self._seal()
            sealed = self.pipeline.queue.sealed
        self._timer.stop()
        self.budget.unblock()  # writers waiting for room see the state and raise
        return sealed

    def stats(self) -> WriterStats:
        """A consistent snapshot of the counters, the current batch's records included."""
        with self._lock:
            return self.counters.snapshot(
                current_records=self.nrecords,
                current_bytes=self.nbytes,
                queue_depth=len(self.pipeline.queue),
            )
