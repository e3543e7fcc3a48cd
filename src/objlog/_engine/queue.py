"""
The queue of sealed batches between the batch buffer and the pipeline's threads.

`BatchQueue` holds the sealed batches of one writer in seal order (batches
recovered from the spool first) and every change of their states
(`objlog._engine.batch`): it hands a batch to the encoder or the uploader,
takes it back, keeps its body, removes it once stored, and releases its
memory to the `MemoryBudget` once stored or spooled. Waiting happens here
too: the uploader for work (after a failure, not before the cooldown ends),
``sync`` for its batches (`wait_done`), ``close`` for all (`drain`).

It is the spool stage's scheduler as well (`spool_pending`): it picks the
batches to write and records the result; the I/O runs in
`objlog._engine.spooler.SpoolStage` with no lock held.

Thread safety: one condition guards the queue, the batches and the state;
every method is safe from any thread. It is taken inside the batch
buffer's lock (`put`), and takes the budget's and counters' locks inside
its own; no I/O and no application code runs under it.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from objlog._engine.batch import SealedBatch, SpoolState, UploadState, give_back
from objlog._engine.budget import MemoryBudget
from objlog._engine.records import RecordBuffer
from objlog._engine.spooler import SpoolStage
from objlog._engine.stats import Counters
from objlog._spool import SpoolEntry
from objlog.errors import SyncTimeout
from objlog.typing import BodyDigests

__all__ = ["ENCODE_AHEAD", "SPOOL_GRACE", "BatchQueue", "PipelineState"]

#: Sealed batches the encoder thread may encode ahead of the uploader: it
#: overlaps compression with uploads, at the cost of holding that many
#: encoded bodies (compressed: a fraction of their records) in memory too.
ENCODE_AHEAD = 2
#: Seconds `sync`/`close` wait past their deadline for a spool write already
#: under way on another thread before calling its batch neither stored nor spooled.
SPOOL_GRACE = 5.0

Records = RecordBuffer | bytes | None


def _condition() -> threading.Condition:
    return threading.Condition(threading.Lock())  # never re-entered: a plain lock


class PipelineState(enum.Enum):
    """Lifecycle of a writer's upload pipeline."""

    RUNNING = "running"
    DRAINING = "draining"  # close(): upload what is queued, then the threads exit
    ABORTED = "aborted"  # close() ran out of time: give up the upload under way


@dataclass(eq=False, kw_only=True)
class BatchQueue:
    """
    Sealed batches of one writer and their states.

    Args:
        prefix: The writer's key prefix (for messages).
        budget: Released as batches are stored or spooled.
        counters: The writer's counters.
        stage: The spool stage, or None without a spool.
        clock: Monotonic seconds of the cooldown.
        uploaders: The pipeline's ``max_concurrency``: the encoder looks
            `ENCODE_AHEAD` batches past that many in flight.
    """

    prefix: str
    budget: MemoryBudget
    counters: Counters
    stage: SpoolStage | None
    clock: Callable[[], float]
    uploaders: int = 1
    cond: threading.Condition = field(init=False, default_factory=lambda: _condition())
    sealed: int = field(init=False, default=0)  # batches put (the next one's index)
    state: PipelineState = field(init=False, default=PipelineState.RUNNING)
    recovered: bool = field(init=False, default=False)
    _recovering: bool = field(init=False, default=False)  # an uploader claimed the recovery
    _batches: collections.deque[SealedBatch] = field(init=False, default_factory=collections.deque)
    _retry_at: float = field(init=False, default=0.0)  # no batch is handed out before it
    #: Dead-lettered batches whose only copy is in memory (no spool, or it failed):
    #: never retried, still charged to the budget, lost at close.
    _dead: list[SealedBatch] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.recovered = self.stage is None

    def __len__(self) -> int:
        return len(self._batches)

    @property
    def aborted(self) -> bool:
        """close() gave up: every thread stops what it does."""
        return self.state is PipelineState.ABORTED

    # -- in ------------------------------------------------------------------------------
    def put(self, batch: SealedBatch) -> int:
        """Queue a sealed batch (its index is set here), charge its memory; return the length."""
        with self.cond:
            batch.index = self.sealed
            self.sealed += 1
            self._batches.append(batch)
            self.budget.charge(batch.mem_bytes)
            self.cond.notify_all()
            return len(self._batches)

    def put_recovered(self, batches: list[SealedBatch]) -> None:
        """Queue batches claimed from the spool ahead of the others; recovery is over."""
        with self.cond:
            self._batches.extendleft(reversed(batches))
            self.recovered = True
            self.cond.notify_all()

    # -- the uploaders --------------------------------------------------------------------
    def claim_recovery(self) -> bool:
        """True for the one uploader that recovers the spool (`put_recovered` ends it)."""
        with self.cond:
            if self.recovered or self._recovering:
                return False
            self._recovering = True
            return True

    def take_for_upload(self) -> SealedBatch | None:
        """
        Wait for the oldest batch no thread works on, once the cooldown is over.

        Each batch goes to one uploader at a time: it is ``UPLOADING`` (not
        idle) until `done_with`.

        Returns:
            The batch, now ``UPLOADING``; None when the uploader should exit
            (aborted, or draining with nothing left).
        """
        with self.cond:
            while True:
                if self.state is PipelineState.ABORTED:
                    return None
                now = self.clock()
                if self._batches and now >= self._retry_at:
                    batch = next((b for b in self._batches if b.idle), None)
                    if batch is not None:
                        batch.upload = UploadState.UPLOADING
                        return batch
                if self.state is PipelineState.DRAINING and not self._batches:
                    return None
                cooling = self._batches and now < self._retry_at
                self.cond.wait(max(0.001, self._retry_at - now) if cooling else None)

    def open_for_upload(
        self, batch: SealedBatch
    ) -> tuple[bytes | None, BodyDigests | None, Records, SpoolEntry | None]:
        """Return the body and digests kept, else the borrowed records, and the spool entry."""
        with self.cond:
            data = batch.borrow() if batch.body is None else None
            return batch.body, batch.digests, data, batch.spool_entry

    def encoded(
        self,
        batch: SealedBatch,
        data: Records,
        encoded: tuple[bytes, BodyDigests | None, int] | None,
    ) -> None:
        """
        A thread is done encoding `batch` from its borrowed `data`: keep the body.

        `encoded` is ``(body, digests, lines)``; the batch's record count
        becomes its lines (``stats.records`` counts what is stored).
        """
        with self.cond:
            give_back(data)
            if batch.upload is UploadState.ENCODING:
                batch.upload = UploadState.QUEUED
            if encoded is not None:
                body, digests, lines = encoded
                if lines != batch.records and batch.body is None:
                    if batch.index >= 0:  # a recovered batch's records were not counted here
                        self.counters.recounted(lines - batch.records)
                    batch.records = lines
                batch.keep_body(body, digests, keep_records=self.stage is not None)
            self.cond.notify_all()

    def done_with(self, batch: SealedBatch) -> None:
        """The uploader lets go of `batch` (stored, removed, or to be tried again)."""
        with self.cond:
            if batch.upload is UploadState.UPLOADING:
                batch.upload = UploadState.QUEUED
            self.cond.notify_all()

    def remove(self, batch: SealedBatch, *, stored: bool) -> Path | None:
        """Drop a finished batch (stored, or set aside), free its memory; return its spool file."""
        with self.cond:
            if stored:
                batch.upload = UploadState.STORED
            with contextlib.suppress(ValueError):
                self._batches.remove(batch)
            self.budget.release(batch.release_memory())
            batch.set_data(None)
            batch.body = None
            batch.digests = None
            self.cond.notify_all()
            return batch.spool_entry.path if batch.spool_entry is not None else batch.file

    def cool_down(self, seconds: float) -> None:
        """Hand out no batch for `seconds` (after an upload gave up, or an uploader failed)."""
        with self.cond:
            self._retry_at = self.clock() + seconds
            self.cond.notify_all()  # uploaders between attempts pause too

    def cooling(self) -> bool:
        """Whether the cooldown runs (no batch is handed out)."""
        with self.cond:
            return self.clock() < self._retry_at

    def expedite(self) -> None:
        """End the cooldown and wake every thread (``sync``, ``close``)."""
        with self.cond:
            self._retry_at = 0.0
            self.cond.notify_all()

    def wake(self) -> None:
        """Wake every thread to look at its timers again (``flush``)."""
        with self.cond:
            self.cond.notify_all()

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for any change; False once aborted."""
        with self.cond:
            if self.state is PipelineState.ABORTED:
                return False
            self.cond.wait(seconds)
            return not self.aborted

    # -- dead letters (the uploader) ------------------------------------------------------
    def claim_for_dead_letter(self, batch: SealedBatch) -> tuple[SpoolEntry | None, Records, bool]:
        """
        Take `batch`, which the store refused for good, for setting aside.

        Waits (up to `SPOOL_GRACE` s) for a spool write of it under way on
        another thread; a batch still only in memory is then marked
        ``SPOOLING`` so no other thread spools it meanwhile (it goes to the
        dead-letter folder instead).

        Returns:
            ``(entry, data, claimed)``: its spool entry when spooled, else
            its borrowed records (give them back with `set_aside`), and
            whether it was marked.
        """
        with self.cond:
            deadline = time.monotonic() + SPOOL_GRACE
            while batch.spool is SpoolState.SPOOLING:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.cond.wait(remaining)
            if batch.spool is SpoolState.SPOOLED:
                return batch.spool_entry, None, False
            claimed = self.stage is not None and batch.spool is SpoolState.MEMORY
            if claimed:
                batch.spool = SpoolState.SPOOLING
            return None, batch.borrow(), claimed

    def set_aside(self, batch: SealedBatch, data: Records, *, claimed: bool, keep: bool) -> None:
        """
        Take a dead-lettered batch out of the queue: never retried, not waited for.

        Args:
            batch: The batch.
            data: The records `claim_for_dead_letter` lent (given back here).
            claimed: It was marked ``SPOOLING`` by `claim_for_dead_letter`.
            keep: Its only copy is in memory: it stays charged to the
                budget (memory stays bounded) and `close` counts it lost;
                else its memory is released.
        """
        with self.cond:
            give_back(data)
            if claimed:
                batch.spool = SpoolState.MEMORY
            with contextlib.suppress(ValueError):
                self._batches.remove(batch)
            if keep:
                self._dead.append(batch)
            else:
                self.budget.release(batch.release_memory())
                batch.set_data(None)
                batch.body = None
                batch.digests = None
            self.cond.notify_all()

    def dead_in_memory(self) -> int:
        """Dead-lettered batches whose only copy is in memory (lost when the writer closes)."""
        with self.cond:
            return len(self._dead)

    # -- the encoder ----------------------------------------------------------------------
    def take_for_encoding(self) -> tuple[SealedBatch, Records] | None:
        """Wait for a batch to encode ahead and borrow its records; None: the encoder exits."""
        with self.cond:
            while True:
                if self.state is PipelineState.ABORTED:
                    return None
                batch = next(
                    (
                        b
                        for b in itertools.islice(self._batches, ENCODE_AHEAD + self.uploaders)
                        if b.body is None and b.idle and b.data is not None
                    ),
                    None,
                )
                if batch is not None:
                    batch.upload = UploadState.ENCODING
                    return batch, batch.borrow()
                if self.state is PipelineState.DRAINING and not self._batches:
                    return None
                self.cond.wait(1.0)

    # -- the spool stage ------------------------------------------------------------------
    def spool_pending(self, *, wait: bool = False) -> None:
        """
        Write every sealed batch not yet spooled to the spool (no lock held during I/O).

        `wait`: also wait (up to `SPOOL_GRACE` s) for spool writes other
        threads have under way (an uploader's), so that a caller who needs
        room sees their memory released, not only its own writes'.
        """
        stage = self.stage
        if stage is None:
            return
        with self.cond:
            todo = [
                (b, b.borrow())
                for b in self._batches
                if b.spool is SpoolState.MEMORY and b.data is not None
            ]
            for b, _ in todo:
                b.spool = SpoolState.SPOOLING
        if todo:
            done = stage.write(todo)
            for path in self._spooled(todo, done):
                stage.remove(path, quiet=True)
        if wait:
            with self.cond:
                self._await_spooling()

    def _spooled(
        self, todo: list[tuple[SealedBatch, Records]], done: list[tuple[SealedBatch, SpoolEntry]]
    ) -> list[Path]:
        """Record the spool writes; returns files of batches stored meanwhile (to remove)."""
        stale: list[Path] = []
        with self.cond:
            for b, data in todo:
                b.spool = SpoolState.MEMORY
                give_back(data)
            for b, entry in done:
                if b.upload is UploadState.STORED:
                    stale.append(entry.path)
                    continue
                b.spool_entry = entry
                b.spool = SpoolState.SPOOLED
                b.set_data(None)
                self.budget.release(b.release_memory())
            if done:
                self.budget.unblock()
            self.cond.notify_all()  # also wakes `_await_spooling` after a failure
        self.counters.spooled_batches(len(done) - len(stale), [b.key for b, _ in done])
        return stale

    def _await_spooling(self) -> bool:
        """
        Lock held: wait (up to `SPOOL_GRACE` s) for spool writes under way on other threads.

        Returns True when there were any: a caller about to report batches as
        neither stored nor spooled counts again, since they may have landed.
        """
        if not any(b.spool is SpoolState.SPOOLING for b in self._batches):
            return False
        deadline = time.monotonic() + SPOOL_GRACE
        while any(b.spool is SpoolState.SPOOLING for b in self._batches):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.cond.wait(remaining)
        return True

    # -- sync and close -------------------------------------------------------------------
    def wait_done(self, target: int, deadline: float, what: str) -> None:
        """
        Block until the batches sealed before `target` are stored or spooled.

        Args:
            target: `sealed` when the caller sealed its last batch.
            deadline: ``time.monotonic()`` seconds.
            what: The operation, for the error message.

        Raises:
            SyncTimeout: Time ran out; ``pending_batches`` says how many.
        """
        graced = False
        while True:
            self.spool_pending()
            with self.cond:
                pending = self._pending(target)
                if not pending:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0 and not graced:
                    graced = True
                    if self._await_spooling():
                        continue  # batches being spooled at the deadline may have landed
                if remaining <= 0:
                    raise self.timeout(what, pending)
                self.cond.wait(remaining)

    def drain(self, deadline: float, uploading: Callable[[], bool]) -> bool:
        """
        Let the threads upload everything until `deadline`; abort them if time runs out.

        Args:
            deadline: ``time.monotonic()`` seconds.
            uploading: Whether the uploader thread is still alive.

        Returns:
            True when batches are left (the pipeline is then ``ABORTED``).
        """
        with self.cond:
            self.state = PipelineState.DRAINING
            self._retry_at = 0.0
            self.cond.notify_all()
            while (self._batches or not self.recovered) and uploading():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.cond.wait(remaining)
            if not self._batches:
                return False
            self.state = PipelineState.ABORTED
            self.cond.notify_all()
            return True

    def lost(self, target: int) -> int:
        """After an abort: spool what can be, then count batches sealed before `target` lost."""
        self.spool_pending()
        with self.cond:
            self._await_spooling()
            return self._pending(target)

    def _pending(self, target: int) -> int:
        """Lock held: batches sealed before `target` neither stored nor spooled."""
        return sum(
            1 for b in self._batches if b.index < target and b.spool is not SpoolState.SPOOLED
        )

    def timeout(self, what: str, pending: int, dead: int = 0) -> SyncTimeout:
        """
        The error of a `what` (sync, close) that left `pending` batches, `dead` of them refused.

        `dead` counts dead-lettered batches with no spool to keep them
        (included in `pending`): they are lost however long one waits.
        """
        late = pending - dead
        parts: list[str] = []
        if late:
            parts.append(f"{late} batch(es) of {self.prefix} neither stored nor spooled in time")
        if dead:
            parts.append(
                f"{dead} batch(es) of {self.prefix} refused by the store for good"
                " (dead-lettered, no spool to keep them) are lost"
            )
        return SyncTimeout(
            f"{what}: {'; '.join(parts)} (last error: {self.counters.last_error})",
            pending_batches=pending,
        )
