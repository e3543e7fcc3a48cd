"""
The upload pipeline: sealed batches on their way to the store (or the spool).

Stages, after Vector's batch -> request -> send and s3transfer's futures::

    submit(batch) ─> queue ─┬─> encoder thread: compress + hash up to ENCODE_AHEAD
                            │   batches ahead of the uploader (zlib and hashlib
                            │   release the GIL: it runs beside the PUTs)
                            ├─> uploader thread: PUT with retries (objlog.retry),
                            │   a cooldown after giving up; the batch is kept
                            └─> spool stage: with a spool, every sealed batch is
                                written to local disk before its upload, by the
                                uploader, or by a caller that needs room or a sync

A batch leaves the queue once stored (or, at close, when time ran out); its
memory goes back to the `MemoryBudget` once stored or spooled. Batches a
dead writer left in the spool are claimed (`Spool.claim_leftovers`) and
queued first by the uploader when it starts.

The pipeline knows nothing of ``logging``, SDKs, configuration or store URLs:
the store comes in as an `ObjectStore`, or a factory that opens one (a
forked child re-opens its store this way).

Thread safety: one condition guards the queue, the batches' states and the
pipeline's own; every method is safe from any thread. Lock order: taken
inside the batch buffer's lock (`submit`), never the other way; it takes
the budget's and the counters' locks inside its own. Store and spool I/O
run with no lock held.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path

from objlog import _shutdown
from objlog._codec import encoding_for
from objlog._engine.batch import SealedBatch, SpoolState, UploadState, give_back
from objlog._engine.budget import MemoryBudget
from objlog._engine.encoder import ENCODE_AHEAD, Encoder, encode
from objlog._engine.records import RecordBuffer
from objlog._engine.spooler import SpoolStage
from objlog._engine.stats import Counters, Reporter
from objlog._spool import Spool, SpoolCorruptError, SpoolEntry
from objlog.errors import SyncTimeout
from objlog.retry import RetryPolicy, retry_call
from objlog.typing import BodyDigests, ObjectStore

__all__ = ["SPOOL_GRACE", "PipelineState", "UploadPipeline"]
#: Seconds `sync`/`close` wait past their deadline for a spool write already
#: under way on another thread before calling its batch neither stored nor spooled.
SPOOL_GRACE = 5.0
#: Seconds the uploader pauses after an unexpected exception of its own.
CRASH_PAUSE = 0.5


class PipelineState(enum.Enum):
    """Lifecycle of an `UploadPipeline`."""

    RUNNING = "running"
    DRAINING = "draining"  # close(): upload what is queued, then the threads exit
    ABORTED = "aborted"  # close() ran out of time: give up the upload under way


class _Abort(Exception):
    """Raised inside the uploader to give up the current upload (close deadline passed)."""


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
    """

    def __init__(
        self,
        *,
        prefix: str,
        store: ObjectStore | None,
        open_store: Callable[[], ObjectStore],
        owns_store: bool,
        spool: Spool | None,
        retry: RetryPolicy,
        budget: MemoryBudget,
        counters: Counters,
        report: Reporter,
        clock: Callable[[], float],
        sleep: Callable[[float], None] | None,
        thread_name: str,
    ) -> None:
        self.prefix = prefix
        self.store = store
        self._open_store = open_store
        self._owns_store = owns_store
        self.spool = spool
        self._stage = SpoolStage(spool, report) if spool is not None else None
        self._retry = retry
        self._budget = budget
        self._counters = counters
        self._report = report
        self._clock = clock
        self._sleep = sleep
        self._name = thread_name
        self._cond = threading.Condition(threading.Lock())
        self._queue: collections.deque[SealedBatch] = collections.deque()
        self.sealed = 0  # batches submitted (the next one's index)
        self.state = PipelineState.RUNNING
        self._recovered = spool is None
        self._retry_at = 0.0
        self._thread: threading.Thread | None = None
        self._encoder: Encoder | None = None

    @property
    def running(self) -> bool:
        """The uploader thread is alive."""
        return self._thread_alive()

    @property
    def depth(self) -> int:
        """Sealed batches not yet stored."""
        return len(self._queue)

    # -- from the callers ------------------------------------------------------------------
    def submit(self, batch: SealedBatch) -> None:
        """Queue a sealed batch (its index is set here) and charge its memory."""
        with self._cond:
            batch.index = self.sealed
            self.sealed += 1
            self._queue.append(batch)
            self._budget.charge(batch.mem_bytes)
            if len(self._queue) > 1 and self._encoder is None and self._thread is not None:
                self._start_encoder()  # a backlog: encode ahead of the uploader
            self._cond.notify_all()

    def ensure_started(self) -> None:
        """Start the uploader if it is not running (lazily, and again after it exited)."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            thread = threading.Thread(
                target=self._run, name=f"objlog-writer-{self._name}", daemon=True
            )
            try:
                thread.start()
            except RuntimeError as exc:  # interpreter shutting down
                failed: RuntimeError | None = exc
            else:
                failed = None
                self._thread = thread
        if failed is not None:  # reported unlocked: on_error is the application's code
            self._report(failed, "start uploader thread")

    def expedite(self) -> None:
        """Cancel the cooldown after a failure and wake the threads (``sync``, ``close``)."""
        with self._cond:
            self._retry_at = 0.0
            self._cond.notify_all()

    def wake(self) -> None:
        """Wake the threads to look at their timers again (``flush``)."""
        with self._cond:
            self._cond.notify_all()

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
            with self._cond:
                pending = self._pending(target)
                if not pending:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0 and not graced:
                    graced = True
                    if self._await_spooling():
                        continue  # batches being spooled at the deadline may have landed
                if remaining <= 0:
                    raise self._timeout(what, pending)
                self._cond.wait(remaining)

    def close(self, target: int, deadline: float) -> None:
        """
        Upload everything by `deadline`, then stop the threads; spool or give up the rest.

        Raises:
            SyncTimeout: Batches sealed before `target` were neither stored nor spooled.
        """
        with self._cond:
            needed = bool(self._queue) or not self._recovered
        if needed:
            self.ensure_started()
        with self._cond:
            self.state = PipelineState.DRAINING
            self._retry_at = 0.0
            self._cond.notify_all()
            while (self._queue or not self._recovered) and self._thread_alive():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            leftover = bool(self._queue)
            if leftover:
                self.state = PipelineState.ABORTED
                self._cond.notify_all()
        lost = 0
        if leftover:
            self.spool_pending()
            with self._cond:
                self._await_spooling()
                lost = self._pending(target)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = self._thread_alive()
        if self._stage is not None and not alive:
            self._stage.close()
        if self._owns_store and self.store is not None and not alive:
            with contextlib.suppress(Exception):
                self.store.close()
        if lost:
            raise self._timeout("close", lost)

    # -- spool stage -------------------------------------------------------------------------
    def spool_pending(self) -> None:
        """Write every sealed batch not yet spooled to the spool (no lock held during I/O)."""
        stage = self._stage
        if stage is None:
            return
        with self._cond:
            todo = [
                (b, b.borrow())
                for b in self._queue
                if b.spool is SpoolState.MEMORY and b.data is not None
            ]
            for b, _ in todo:
                b.spool = SpoolState.SPOOLING
        if not todo:
            return
        done = stage.write(todo)
        for path in self._spooled(todo, done):
            stage.remove(path, quiet=True)

    def _spooled(
        self,
        todo: list[tuple[SealedBatch, RecordBuffer | bytes | None]],
        done: list[tuple[SealedBatch, SpoolEntry]],
    ) -> list[Path]:
        """Record the spool writes; returns files of batches stored meanwhile (to remove)."""
        stale: list[Path] = []
        with self._cond:
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
                self._budget.release(b.release_memory())
            if done:
                self._budget.unblock()
            self._cond.notify_all()  # also wakes `_await_spooling` after a failure
        self._counters.spooled_batches(len(done) - len(stale))
        return stale

    def _await_spooling(self) -> bool:
        """
        Lock held: wait (up to `SPOOL_GRACE` s) for spool writes under way on other threads.

        Returns True when there were any: a caller about to report batches as
        neither stored nor spooled counts again, since they may have landed.
        """
        if not any(b.spool is SpoolState.SPOOLING for b in self._queue):
            return False
        deadline = time.monotonic() + SPOOL_GRACE
        while any(b.spool is SpoolState.SPOOLING for b in self._queue):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(remaining)
        return True

    def _pending(self, target: int) -> int:
        """Lock held: batches sealed before `target` neither stored nor spooled."""
        return sum(1 for b in self._queue if b.index < target and b.spool is not SpoolState.SPOOLED)

    def _timeout(self, what: str, pending: int) -> SyncTimeout:
        return SyncTimeout(
            f"{what}: {pending} batch(es) of {self.prefix} neither stored nor spooled"
            f" in time (last error: {self._counters.last_error})",
            pending_batches=pending,
        )

    # -- uploader thread ---------------------------------------------------------------------
    def _thread_alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _run(self) -> None:
        _shutdown.mark_objlog_thread()
        try:
            self._loop()
        finally:
            with self._cond:
                if self._thread is threading.current_thread():
                    self._thread = None
                self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            try:
                if not self._step():
                    return
            except _Abort:
                continue
            except BaseException as exc:  # noqa: BLE001 - the uploader never dies silently
                self._report(exc, "uploader")
                with contextlib.suppress(BaseException), self._cond:
                    self._retry_at = self._clock() + CRASH_PAUSE
                    if self.state is PipelineState.ABORTED:
                        return

    def _step(self) -> bool:
        """One round of the uploader: returns False when it should exit."""
        if not self._recovered:
            self._recover()
        with self._cond:
            while True:
                if self.state is PipelineState.ABORTED:
                    return False
                now = self._clock()
                if self._queue and now >= self._retry_at:
                    # The oldest batch the encoder is not working on.
                    batch = next((b for b in self._queue if b.idle), None)
                    if batch is not None:
                        batch.upload = UploadState.UPLOADING
                        break
                if self.state is PipelineState.DRAINING and not self._queue:
                    return False
                wait = self._retry_at - now if self._queue and now < self._retry_at else None
                self._cond.wait(max(0.001, wait) if wait is not None else None)
        self.spool_pending()
        self._upload(batch)
        return True

    def _recover(self) -> None:
        """Claim dead writers' spooled batches and queue them first."""
        recovered: list[SealedBatch] = []
        try:
            if self._stage is not None:
                recovered = self._stage.recover()
        finally:
            with self._cond:
                self._queue.extendleft(reversed(recovered))
                self._recovered = True
                self._cond.notify_all()

    def _store_now(self) -> ObjectStore:
        if self.store is None:
            self.store = self._open_store()
        return self.store

    def _upload(self, batch: SealedBatch) -> None:
        """Encode (unless the encoder did) and PUT `batch`, which `_step` took."""
        try:
            self._upload_taken(batch)
        finally:
            with self._cond:
                if batch.upload is UploadState.UPLOADING:
                    batch.upload = UploadState.QUEUED
                self._cond.notify_all()

    def _upload_taken(self, batch: SealedBatch) -> None:
        with self._cond:
            body = batch.body
            digests = batch.digests
            data = batch.borrow() if body is None else None
            entry = batch.spool_entry
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
                put, self._retry, sleep=self._retry_wait, clock=self._clock, on_retry=self._on_retry
            )
        except _Abort:
            raise
        except Exception as exc:  # noqa: BLE001 - StoreError, or a store's bug: keep the batch
            self._failed(exc, batch)
            return
        with self._cond:
            batch.upload = UploadState.STORED
            self._remove(batch)
        self._counters.stored(len(body))
        if entry is None:
            entry = batch.spool_entry
        if entry is not None and self._stage is not None:
            self._stage.remove(entry.path)

    def _encode_for_upload(
        self,
        batch: SealedBatch,
        data: RecordBuffer | bytes | None,
        entry: SpoolEntry | None,
    ) -> bytes | None:
        """The body of `batch` from its borrowed records or its spool file; None if given up."""
        try:
            if data is None:
                assert entry is not None and self._stage is not None
                data = self._stage.read(entry)
            body = encode(data, batch.compression, batch.compresslevel)
        except SpoolCorruptError as exc:
            self._report(exc, f"spooled batch {batch.key}")
            with self._cond:
                give_back(data)
                self._remove(batch)
            if self._stage is not None and entry is not None:
                self._stage.quarantine(entry)
            return None
        except OSError as exc:
            with self._cond:
                give_back(data)
            self._failed(exc, batch)
            return None
        with self._cond:
            give_back(data)
            batch.keep_body(body, None, keep_records=self.spool is not None)
        return body

    def _remove(self, batch: SealedBatch) -> None:
        """Lock held: drop a finished batch from the queue and free its memory."""
        with contextlib.suppress(ValueError):
            self._queue.remove(batch)
        self._budget.release(batch.release_memory())
        batch.set_data(None)
        batch.body = None
        batch.digests = None
        self._cond.notify_all()

    def _failed(self, exc: BaseException, batch: SealedBatch) -> None:
        """An upload gave up: keep the batch, try again after the policy's cooldown."""
        self._counters.failed()
        with self._cond:
            self._retry_at = self._clock() + self._retry.cooldown_seconds()
        self._report(exc, f"upload of {batch.key}")

    def _on_retry(self, exc: BaseException, attempt: int, wait: float) -> None:
        self._counters.retried(f"upload (attempt {attempt}): {type(exc).__name__}: {exc}")

    def _check_abort(self) -> None:
        """Raise `_Abort` once close gave up (checked between the uploader's steps)."""
        if self.state is PipelineState.ABORTED:
            raise _Abort

    def _retry_wait(self, seconds: float) -> None:
        """Wait between attempts; spools meanwhile; raises `_Abort` once close gave up."""
        if self._sleep is not None:
            self._check_abort()
            self._sleep(seconds)
            self._check_abort()
            return
        deadline = time.monotonic() + seconds
        while True:
            self.spool_pending()
            with self._cond:
                if self.state is PipelineState.ABORTED:
                    raise _Abort
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)

    # -- encoder thread (objlog._engine.encoder) ----------------------------------------------
    def _start_encoder(self) -> None:
        """Lock held: start the encoder thread (once per pipeline, on the first backlog)."""
        encoder = Encoder(self, f"objlog-encoder-{self._name}")
        if encoder.start():
            self._encoder = encoder

    def report(self, exc: BaseException, what: str) -> None:
        """Record a failure of a pipeline thread (never raises)."""
        self._report(exc, what)

    def next_to_encode(self) -> tuple[SealedBatch, RecordBuffer | bytes | None] | None:
        """Wait for a batch to encode ahead and borrow its records; None: the encoder exits."""
        with self._cond:
            while True:
                if self.state is PipelineState.ABORTED:
                    return None
                batch = next(
                    (
                        b
                        for b in itertools.islice(self._queue, ENCODE_AHEAD + 1)
                        if b.body is None and b.idle and b.data is not None
                    ),
                    None,
                )
                if batch is not None:
                    batch.upload = UploadState.ENCODING
                    return batch, batch.borrow()
                if self.state is PipelineState.DRAINING and not self._queue:
                    return None
                self._cond.wait(1.0)

    def encoded(
        self,
        batch: SealedBatch,
        data: RecordBuffer | bytes | None,
        encoded: tuple[bytes, BodyDigests] | None,
    ) -> None:
        """The encoder is done with `batch`: keep its body and digests, give the records back."""
        with self._cond:
            give_back(data)
            if batch.upload is UploadState.ENCODING:
                batch.upload = UploadState.QUEUED
            if encoded is not None:
                batch.keep_body(*encoded, keep_records=self.spool is not None)
            self._cond.notify_all()

    def encoder_exited(self, encoder: Encoder) -> None:
        """The encoder thread ends (a later backlog starts another)."""
        with self._cond:
            if self._encoder is encoder:
                self._encoder = None
