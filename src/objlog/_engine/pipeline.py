"""
The upload pipeline: the threads that take sealed batches to the store (or the spool).

Stages, after Vector's batch -> request -> send and s3transfer's bounded executor::

    BatchBuffer ─ put ─> BatchQueue ─┬─> Encoder thread: compress + hash up to
                                     │   ENCODE_AHEAD batches ahead (zlib and
                                     │   hashlib release the GIL)
                                     ├─> uploader threads (up to max_concurrency,
                                     │   each PUTs a distinct batch) with retries
                                     │   (objlog.retry); after giving up, the
                                     │   batch is kept and the policy's cooldown runs
                                     │   for every uploader; one the store refuses
                                     │   for good is dead-lettered
                                     └─> SpoolStage: with a spool, every batch is
                                         filled in a file-backed mapping in the
                                         spool (`new_buffer`), sealed there (and
                                         fsync()ed) before its upload, by the
                                         uploader or by a caller that needs room
                                         or a sync

A batch leaves the queue once stored (or, at close, when time ran out); its
memory goes back to the `MemoryBudget` once stored or spooled. Batches a
dead writer left in the spool are claimed and queued first by the first
uploader when it starts; no other uploader starts before that is done.

Concurrent uploads (after s3transfer's bounded executor): up to
``max_concurrency`` uploader threads each take the oldest batch no thread
works on (`BatchQueue.take_for_upload` hands a batch to one thread only),
so with a store 50 ms away a busy writer has that many PUTs in flight
instead of one per round trip. The first uploader starts with the first
write; each further one when a sealed batch finds every uploader busy (a
backlog), so a quiet writer keeps one thread. Keys were fixed when each
batch opened, so they sort in write order whatever order the PUTs finish
in; ``sync`` waits for every batch up to its target, in flight or not; an
uploading batch stays charged to the `MemoryBudget` until stored or
spooled, so the memory bound is unchanged. When one uploader gives up on a
batch (its retries exhausted), the cooldown pauses them all: another
uploader between two attempts puts its batch back (not counted as a
failure) rather than retrying a store that is away, so a dead store sees
the retries of one batch, not of ``max_concurrency``.

Dead letters: a PUT failing with `PermanentStoreError` (access denied, no
such bucket, an invalid key: never retried by `objlog.retry`) takes its
batch out of the queue at once, with no cooldown, so the batches behind it
(and a recovered batch's successors) go on. With a spool the batch goes to
``<spool>/.dead/`` with a reason file (`objlog._spool.Spool.dead_letter`),
where ``objlog spool ls|retry|drop`` finds it; without one (or when that
write fails) it stays in memory, charged to the budget, never retried, and
`close` counts it lost. Either way it is reported once and counted in
``stats.dead_lettered``; ``sync`` and ``close`` do not wait for it.
Rejected credentials (`WRITER_WIDE` reasons) are the writer's problem, not
the batch's: the batch is kept and tried again after the cooldown, as for
a transient failure, since rotated or refreshed credentials fix them all.

The pipeline knows nothing of ``logging``, SDKs, configuration or store URLs:
the store comes in as an `ObjectStore`, or a factory that opens one (a
forked child re-opens its store this way).

Thread safety: every method is safe from any thread. The pipeline's state is
in its `BatchQueue` (one condition); the pipeline itself only keeps its
threads, started (and forgotten as they exit) under that condition. Store
and spool I/O run with no lock held.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from objlog import _shutdown
from objlog._codec import encoding_for
from objlog._engine.batch import SealedBatch
from objlog._engine.budget import MemoryBudget
from objlog._engine.encoder import Encoder, encode
from objlog._engine.queue import BatchQueue, Records
from objlog._engine.records import RecordBuffer, take
from objlog._engine.spooler import SpoolStage
from objlog._engine.stats import Counters, Reporter
from objlog._spool import Spool, SpoolEntry
from objlog.errors import ConfigError, PermanentStoreError, SpoolCorruptError
from objlog.retry import RetryPolicy, retry_call
from objlog.typing import ObjectStore

__all__ = [
    "CRASH_PAUSE",
    "MAX_CONCURRENCY_LIMIT",
    "WRITER_WIDE",
    "UploadPipeline",
    "check_max_concurrency",
]

#: `StoreError.reason` values of permanent errors that concern every batch
#: (credentials), kept and retried after the cooldown instead of dead-lettered.
WRITER_WIDE = frozenset({"InvalidCredentials", "ExpiredToken", "NoCredentials"})
#: Seconds the uploader pauses after an unexpected exception of its own.
CRASH_PAUSE = 0.5
#: Most uploader threads one writer may have: past this, threads cost more
#: than they overlap (botocore's default connection pool is 10 connections).
MAX_CONCURRENCY_LIMIT = 64


def check_max_concurrency(value: object) -> int:
    """
    Return `value` as the number of uploads one writer may have in flight.

    Raises:
        ConfigError: Not an int from 1 to `MAX_CONCURRENCY_LIMIT` (64).
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"max_concurrency must be an int, got {value!r}")
    if not 1 <= value <= MAX_CONCURRENCY_LIMIT:
        raise ConfigError(f"max_concurrency must be 1..{MAX_CONCURRENCY_LIMIT}, got {value}")
    return value


class _Abort(Exception):
    """Raised inside the uploader to give up the current upload (close deadline passed)."""


class _Paused(Exception):
    """Raised inside an uploader between attempts: another one gave up, the cooldown runs."""


@dataclass(eq=False, kw_only=True)
class UploadPipeline:
    """
    Encode, spool and upload sealed batches on background threads.

    Args:
        prefix: The writer's key prefix (for messages).
        store: The store, or None to open one with `open_store` on first use.
        open_store: Opens the store when `store` is None.
        owns_store: Close the store when the pipeline closes.
        spool: The durable local queue, or None.
        retry: Retry policy of the PUTs, and the cooldown after giving up.
        budget: Released as batches are stored or spooled.
        counters: The writer's counters.
        report: Records a failure (never raises).
        clock: Monotonic seconds for retry timing.
        sleep: Waits between retries; None for an interruptible wait.
        thread_name: Suffix of the threads' names.
        spool_fsync: fsync() each batch's spool file when it is spooled.
        max_concurrency: Uploader threads, so PUTs in flight at once (>= 1;
            default 1, the writer passes its own default).
    """

    prefix: str
    store: ObjectStore | None
    open_store: Callable[[], ObjectStore]
    owns_store: bool
    spool: Spool | None
    retry: RetryPolicy
    budget: MemoryBudget
    counters: Counters
    report: Reporter
    clock: Callable[[], float]
    sleep: Callable[[float], None] | None
    thread_name: str
    spool_fsync: bool = True
    max_concurrency: int = 1
    queue: BatchQueue = field(init=False)
    _stage: SpoolStage | None = field(init=False, default=None)
    #: Live uploader threads (each removes itself as it exits, under the queue's condition).
    _threads: list[threading.Thread] = field(init=False, default_factory=list)
    _encoder: Encoder | None = field(init=False, default=None)
    _closing: bool = field(init=False, default=False)  # close() ran: the last uploader cleans up
    _released: bool = field(init=False, default=False)
    # The last uploader is releasing (`_release`): `running` stays true until it is done,
    # so nobody sees the pipeline idle while its spool lock is still held.
    _cleaning: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        check_max_concurrency(self.max_concurrency)
        if self.spool is not None:
            self._stage = SpoolStage(self.spool, self.report, fsync=self.spool_fsync)
        self.queue = BatchQueue(
            prefix=self.prefix,
            budget=self.budget,
            counters=self.counters,
            stage=self._stage,
            clock=self.clock,
            uploaders=self.max_concurrency,
        )

    @property
    def running(self) -> bool:
        """An uploader thread is alive (or the last one is still releasing the spool and store)."""
        return self._cleaning or any(t.is_alive() for t in tuple(self._threads))

    @property
    def uploaders(self) -> int:
        """Uploader threads started and not exited (at most `max_concurrency`)."""
        return len(self._threads)

    # -- from the batch buffer and the facade ---------------------------------------------------
    def new_buffer(self, key: str, cap: int, compression: str, compresslevel: int) -> RecordBuffer:
        """
        The buffer of a batch being opened: with a spool, its file-backed mapping.

        When the spool file cannot be made (a full disk), the failure is
        reported and the batch is held in memory, like a writer without a spool.
        """
        if self._stage is not None:
            try:
                return self._stage.open_batch(key, cap, compression, compresslevel)
            except OSError as exc:
                self.report(exc, f"spool file of {key}")
        return take(cap)

    def hold_alone(
        self, key: str, record: bytes, compression: str, compresslevel: int
    ) -> RecordBuffer | bytes:
        """A record sealed as a batch of its own: with a spool, copied into its spool file."""
        if self._stage is None:
            return record
        try:
            buf = self._stage.open_batch(key, len(record), compression, compresslevel, ahead=False)
        except OSError as exc:
            self.report(exc, f"spool file of {key}")
            return record
        buf.view[: len(record)] = record
        return buf

    def submit(self, batch: SealedBatch) -> None:
        """Queue a sealed batch; a backlog starts the encoder and another uploader."""
        waiting = self.queue.put(batch)
        if waiting > 1 and self._threads:
            if self._encoder is None:
                encoder = Encoder(self.queue, self.report, f"objlog-encoder-{self.thread_name}")
                if encoder.start():
                    self._encoder = encoder
            running = len(self._threads)
            # Every uploader busy; not while the first one still queues recovered batches.
            if running < self.max_concurrency and waiting > running and self.queue.recovered:
                self._start_uploaders(running + 1)

    def ensure_started(self) -> None:
        """Start an uploader if none runs (lazily, and again after they exited)."""
        # Unlocked fast path (the caller's slow path calls this per record):
        # an uploader leaves the list only as it exits.
        if not self._threads:
            self._start_uploaders(1)

    def _start_uploaders(self, wanted: int) -> None:
        """Start uploader threads until `wanted` (<= max_concurrency) run."""
        failed: RuntimeError | None = None
        with self.queue.cond:
            self._threads[:] = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < wanted:
                n = len(self._threads)
                name = f"objlog-writer-{self.thread_name}" + (f"-{n}" if n else "")
                thread = threading.Thread(target=self._run, name=name, daemon=True)
                self._threads.append(thread)  # before start: its exit removes it
                try:
                    thread.start()
                except RuntimeError as exc:  # interpreter shutting down
                    self._threads.remove(thread)
                    failed = exc
                    break
        if failed is not None:  # reported unlocked: on_error is the application's code
            self.report(failed, "start uploader thread")

    def close(self, target: int, deadline: float) -> None:
        """
        Upload everything by `deadline`, then stop the threads; spool or give up the rest.

        Raises:
            SyncTimeout: Batches sealed before `target` were neither stored nor
                spooled, or were dead-lettered with no spool to keep them.
        """
        if not self.queue.recovered:
            self._start_uploaders(max(1, len(self._threads)))  # it recovers; more once queued
        elif len(self.queue):
            self._start_uploaders(max(1, min(self.max_concurrency, len(self.queue))))
        lost = self.queue.lost(target) if self.queue.drain(deadline, lambda: self.running) else 0
        dead = self.queue.dead_in_memory()
        for thread in tuple(self._threads):
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        with self.queue.cond:
            self._closing = True
            idle = not self._threads
        if idle:
            self._release()
        # else the last uploader to exit releases them (it may be finishing a PUT)
        if lost or dead:
            raise self.queue.timeout("close", lost + dead, dead)

    def _release(self) -> None:
        """Once, after close and every uploader: release the spool's lock, close the store."""
        with self.queue.cond:
            if self._released:
                return
            self._released = True
        if self._stage is not None:
            self._stage.close()
        if self.owns_store and self.store is not None:
            with contextlib.suppress(Exception):
                self.store.close()

    # -- uploader threads --------------------------------------------------------------------
    def _run(self) -> None:
        _shutdown.mark_objlog_thread()
        try:
            self._loop()
        finally:
            with self.queue.cond:
                with contextlib.suppress(ValueError):
                    self._threads.remove(threading.current_thread())
                last = self._closing and not self._threads
                self._cleaning = self._cleaning or last
                self.queue.cond.notify_all()
            if last:
                try:
                    with contextlib.suppress(Exception):
                        self._release()
                finally:
                    with self.queue.cond:
                        self._cleaning = False
                        self.queue.cond.notify_all()

    def _loop(self) -> None:
        if self.queue.claim_recovery():
            self._recover()
        while True:
            try:
                batch = self.queue.take_for_upload()
                if batch is None:
                    return
                self.queue.spool_pending()
                self._upload(batch)
            except (_Abort, _Paused):
                continue
            except BaseException as exc:  # noqa: BLE001 - the uploader never dies silently
                self.report(exc, "uploader")
                with contextlib.suppress(BaseException):
                    self.queue.cool_down(CRASH_PAUSE)
                if self.queue.aborted:
                    return

    def _recover(self) -> None:
        """Claim dead writers' spooled batches and queue them first."""
        recovered: list[SealedBatch] = []
        try:
            if self._stage is not None:
                recovered = self._stage.recover()
        finally:
            self.queue.put_recovered(recovered)

    def _store_now(self) -> ObjectStore:
        if self.store is None:
            self.store = self.open_store()
        return self.store

    def _upload(self, batch: SealedBatch) -> None:
        """Encode (unless the encoder did) and PUT `batch`, which the queue handed out."""
        try:
            self._upload_taken(batch)
        finally:
            self.queue.done_with(batch)

    def _upload_taken(self, batch: SealedBatch) -> None:
        body, digests, data, entry = self.queue.open_for_upload(batch)
        if body is None:
            body = self._encode_for_upload(batch, data, entry)
            if body is None:
                return
        encoding = encoding_for(batch.compression)
        store = self._store_now()

        def put() -> object:
            self._check_abort()
            return store.put_object(
                batch.key,
                body,
                content_type=encoding.content_type,
                content_encoding=encoding.content_encoding,
                metadata={"objlog-records": str(batch.records)},
                digests=digests,
            )

        try:
            retry_call(
                put, self.retry, sleep=self._retry_wait, clock=self.clock, on_retry=self._on_retry
            )
        except (_Abort, _Paused):
            raise
        except PermanentStoreError as exc:  # retrying cannot help: set it aside, go on
            if exc.reason in WRITER_WIDE:  # not this batch's fault: every batch would fail
                self._failed(exc, batch)
            else:
                self._dead_letter(exc, batch)
            return
        except Exception as exc:  # noqa: BLE001 - StoreError, or a store's bug: keep the batch
            self._failed(exc, batch)
            return
        path = self.queue.remove(batch, stored=True)
        self.counters.stored(len(body), batch.key)
        if path is not None and self._stage is not None:
            self._stage.remove(path)

    def _encode_for_upload(
        self, batch: SealedBatch, data: Records, entry: SpoolEntry | None
    ) -> bytes | None:
        """The body of `batch` from its borrowed records or its spool file; None if given up."""
        try:
            if data is None:
                assert entry is not None and self._stage is not None
                data = self._stage.read(entry)
            body, lines = encode(data, batch.compression, batch.compresslevel)
        except SpoolCorruptError as exc:
            self.report(exc, f"spooled batch {batch.key}")
            self.queue.encoded(batch, data, None)
            self.queue.remove(batch, stored=False)
            if self._stage is not None and entry is not None:
                self._stage.quarantine(entry)
            return None
        except OSError as exc:
            self.queue.encoded(batch, data, None)
            self._failed(exc, batch)
            return None
        self.queue.encoded(batch, data, (body, None, lines))
        return body

    def _failed(self, exc: BaseException, batch: SealedBatch) -> None:
        """An upload gave up: keep the batch, try again after the policy's cooldown."""
        self.counters.failed()
        self.queue.cool_down(self.retry.cooldown_seconds())
        self.report(exc, f"upload of {batch.key}")

    def _dead_letter(self, exc: PermanentStoreError, batch: SealedBatch) -> None:
        """The store refused `batch` for good: set it aside (module docstring); no cooldown."""
        entry, data, claimed = self.queue.claim_for_dead_letter(batch)
        dead: Path | None = None
        on_disk = False
        problem: OSError | None = None
        try:
            if self._stage is not None:
                dead, on_disk, problem = self._stage.dead_letter(batch, entry, data, exc)
        finally:
            self.queue.set_aside(batch, data, claimed=claimed, keep=not on_disk)
        self.counters.set_aside(batch.records)
        if on_disk:  # in the spool (its .dead/ folder): saved, not lost
            self.counters.spooled_batches(0, [batch.key])
        if dead is not None:
            where = f"set aside in {dead}"
        elif on_disk:
            where = f"left in the spool ({type(problem).__name__}: {problem})"
        elif problem is not None:
            where = f"kept in memory, lost at close (spool: {type(problem).__name__}: {problem})"
        else:
            where = "kept in memory, lost at close (no spool)"
        self.report(exc, f"upload of {batch.key} refused for good, {where}")

    def _on_retry(self, exc: BaseException, attempt: int, wait: float) -> None:
        self.counters.retried(f"upload (attempt {attempt}): {type(exc).__name__}: {exc}")

    def _check_abort(self) -> None:
        """Raise `_Abort` once close gave up (checked between the uploader's steps)."""
        if self.queue.aborted:
            raise _Abort

    def _check_paused(self) -> None:
        """Raise `_Paused` while another uploader's cooldown runs (between attempts)."""
        if self.queue.cooling():
            raise _Paused

    def _retry_wait(self, seconds: float) -> None:
        """
        Wait between attempts; spools meanwhile.

        Raises `_Abort` once close gave up, `_Paused` once another uploader
        gave up on its batch (the store is away: this batch waits for the
        cooldown too, back in the queue, instead of retrying meanwhile).
        """
        if self.sleep is not None:
            self._check_abort()
            self._check_paused()
            self.sleep(seconds)
            self._check_abort()
            self._check_paused()
            return
        deadline = time.monotonic() + seconds
        while True:
            self.queue.spool_pending()
            self._check_paused()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._check_abort()
                return
            if not self.queue.wait(remaining):
                raise _Abort
