"""
The buffered writer: records batched into objects, uploaded off the caller's thread.

`ObjectStoreWriter` appends whole records (lines) to a current batch. A batch
is sealed when it reaches `max_size_bytes`, when its first record is
`max_age` seconds old, on `flush`, `sync` and `close`; a sealed batch gets its
key at once and is handed to one uploader thread, which compresses it and
PUTs it with retries; while sealed batches wait, a second thread encodes
(compresses and hashes) up to `ENCODE_AHEAD` of them, so compression runs
beside the uploads (zlib releases the GIL). ``write()`` never touches the
network.

Keys (see `objlog._layout`)::

    [PREFIX/]logs/<pipelinerun>/<task>/<UTC seal time>-<writer id>-<seq>.jsonl[.gz]

One writer's keys sort lexically in write order; writer ids are random per
process, restart and fork, so keys never collide and nothing is overwritten.

Memory is bounded by `max_buffer_bytes`: record bytes of the current batch
plus sealed batches not yet stored or spooled, each record charged
`RECORD_OVERHEAD` bytes more (the figure the bound has always used; ``write``
copies each record into the batch's reusable buffer and drops it, see
`_Buffer`, so gzip reads the batch in place with no join). When it is full,
`when_full` applies: ``"block"`` waits up to `block_timeout` for room,
``"drop"`` drops the new record; both count drops in `stats`. A small record
whose ``write`` finds another thread inside the writer is left in an inbox
for that thread instead of waiting (see `_INBOX_RECORDS`): up to
max_buffer_bytes / 16 of such records are counted only once moved into the batch, and one that then
finds memory full is taken anyway (``"block"``, or a spool) or dropped and
counted (``"drop"``; its ``write`` already returned its length).

With a `spool_dir`, every sealed batch is written to local disk (fsync)
before its upload, and full memory makes the caller spool instead of
blocking or dropping.

Shutdown: `sync`/`close` have one total deadline each; `install_signal_handlers`
and an atexit hook sync or close every live writer within one deadline (see
`objlog._shutdown`). Failures never raise from the uploader thread: they go
to `stats`, the `on_error` hook and stderr (one line per 10 s).

This module knows nothing of ``logging``, structlog, boto3 or minio.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import itertools
import mmap
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from objlog import _report, _shutdown
from objlog._codec import encode_batch, encoding_for, normalize_record
from objlog._layout import (
    BatchNamer,
    child_writer_id,
    logs_prefix,
    new_writer_id,
    validate_writer_id,
)
from objlog.retry import RetryPolicy, retry_call
from objlog._spool import Spool, SpoolCorruptError, SpoolEntry
from objlog.config import StoreConfig
from objlog.errors import ConfigError, SyncTimeout, WriterClosedError
from objlog.typing import BodyDigests, ObjectStore

__all__ = [
    "ENCODE_AHEAD",
    "RECORD_OVERHEAD",
    "ObjectStoreWriter",
    "WriterStats",
    "in_objlog_thread",
    "install_signal_handlers",
]

in_objlog_thread = _shutdown.in_objlog_thread
install_signal_handlers = _shutdown.install_signal_handlers

#: Seconds between two stderr lines about failures of one writer.
STDERR_INTERVAL = _report.STDERR_INTERVAL
#: Seconds `sync`/`close` wait past their deadline for a spool write already
#: under way on another thread before calling its batch neither stored nor spooled.
SPOOL_GRACE = 5.0
_WHEN_FULL = ("block", "drop")
#: Memory charged per record on top of its bytes (``sys.getsizeof(b"")`` is
#: 33, plus its list slot and allocator rounding).
RECORD_OVERHEAD = 48
#: Sealed batches the encoder thread may encode ahead of the uploader: it
#: overlaps compression with uploads, at the cost of holding that many
#: encoded bodies (compressed: a fraction of their records) in memory too.
ENCODE_AHEAD = 2

#: Threads (the encoding one included) that compress the gzip members of one
#: batch longer than `objlog._codec.GZIP_MEMBER_BYTES` at once.
GZIP_THREADS = max(1, min(4, os.cpu_count() or 1))
#: Records `writelines` accepts per lock acquisition (bounds other threads' wait).
_WRITELINES_CHUNK = 256
#: Idle batch buffers kept per capacity, process-wide, for the next batch of any
#: writer: their pages are already touched, so filling them costs no page faults.
_POOL_IDLE = 2
#: Contended writes: a `write` that finds the writer's lock held appends its
#: record to an inbox (a deque: append is atomic under the GIL) and returns
#: without waiting, when the record is shorter than `_INBOX_RECORD_BYTES` and
#: than max_buffer_bytes / (16 x _INBOX_RECORDS), the inbox holds fewer than
#: `_INBOX_RECORDS` and the fast path's room (read unlocked) would take it.
#: The next holder of the lock moves the inbox into the batch, in order,
#: before anything else (`_drain_inbox`).
#: Queuing on the lock instead made 4 threads of small records 2-3x slower than
#: one (each release hands the lock to a waiter that must then get the GIL).
#: Uncounted until drained, the inbox may exceed max_buffer_bytes by at most a
#: sixteenth of it (4 MiB of the default 64 MiB), plus RECORD_OVERHEAD a record.
_INBOX_RECORDS = 256
_INBOX_RECORD_BYTES = 16 * 1024
_PAGE = mmap.PAGESIZE
_pool: dict[int, list[_Buffer]] = {}


class _Buffer:
    """
    The records of one batch, copied into one reusable buffer of `cap` bytes.

    ``write`` copies each record in and drops it, so the allocator reuses the
    record's (hot) memory at once; a batch of kept records instead grows the
    heap by fresh pages, one first-touch fault per 4 KiB. The buffer is an
    anonymous private mapping touched lazily, so a small batch costs only the
    pages it fills; a sealed batch gives back pages past its end (`seal`), so
    its memory is its bytes, as charged. Once no thread reads it (encoded,
    stored or spooled, `readers` 0) it goes back to `_pool`.
    """

    __slots__ = ("cap", "detached", "mm", "readers", "touched", "used", "view")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        try:
            self.mm: mmap.mmap | bytearray = mmap.mmap(-1, cap, flags=mmap.MAP_PRIVATE)
        except (AttributeError, TypeError, OSError):  # no MAP_PRIVATE (Windows)
            self.mm = bytearray(cap)
        self.view = memoryview(self.mm)
        self.touched = 0  # bytes from the start whose pages may be resident
        self.used = 0  # bytes of records (set when sealed)
        self.readers = 0  # threads reading `records()` (writer's lock)
        self.detached = False  # its batch no longer needs it (writer's lock)

    def records(self) -> memoryview:
        return self.view[: self.used]

    def seal(self, used: int) -> None:
        """Owner's lock held: the batch ends at `used`; give back the pages past it."""
        self.used = used
        end = -(-used // _PAGE) * _PAGE
        if self.touched > end and hasattr(self.mm, "madvise"):
            with contextlib.suppress(OSError, ValueError):
                self.mm.madvise(mmap.MADV_DONTNEED, end, self.touched - end)
            self.touched = end
        else:
            self.touched = max(self.touched, used)


def _take_buffer(cap: int) -> _Buffer:
    """A buffer of `cap` bytes from the pool, else a new one (list ops are atomic)."""
    idle = _pool.get(cap)
    if idle:
        with contextlib.suppress(IndexError):
            buf = idle.pop()
            buf.readers = 0
            buf.detached = False
            buf.used = 0
            return buf
    return _Buffer(cap)


def _recycle(buf: _Buffer) -> None:
    """Give an unused buffer back to the pool (or to the allocator when the pool is full)."""
    idle = _pool.setdefault(buf.cap, [])
    if len(idle) < _POOL_IDLE:
        idle.append(buf)


@dataclass(frozen=True, slots=True, kw_only=True)
class WriterStats:
    """
    A snapshot of a writer's counters (cumulative since it started or forked).

    Attributes:
        records: Records accepted by `write`.
        bytes_in: Bytes of accepted records (newlines included, uncompressed).
        bytes_stored: Bytes of stored objects (compressed).
        objects: Objects stored.
        retries: Upload attempts retried after a transient failure.
        failures: Uploads that failed after their retries (the batch was kept).
        dropped_records: Records dropped because memory was full.
        dropped_bytes: Bytes of dropped records.
        spooled: Batches written to the spool.
        queue_depth: Sealed batches not yet stored.
        last_error: The last failure as ``"what: Type: message"``, or None.
    """

    records: int = 0
    bytes_in: int = 0
    bytes_stored: int = 0
    objects: int = 0
    retries: int = 0
    failures: int = 0
    dropped_records: int = 0
    dropped_bytes: int = 0
    spooled: int = 0
    queue_depth: int = 0
    last_error: str | None = None


class _Batch:
    """A sealed batch on its way to the store."""

    __slots__ = (
        "body",
        "busy",
        "compression",
        "compresslevel",
        "data",
        "digests",
        "in_mem",
        "index",
        "key",
        "mem_bytes",
        "raw_bytes",
        "records",
        "spool_entry",
        "spooling",
        "stored",
    )

    def __init__(
        self,
        key: str,
        data: _Buffer | bytes | None,
        *,
        records: int,
        raw_bytes: int,
        index: int,
        compression: str,
        compresslevel: int,
        spool_entry: SpoolEntry | None = None,
    ) -> None:
        self.key = key
        self.data = data
        self.records = records
        self.raw_bytes = raw_bytes
        # What the batch counts against max_buffer_bytes while in memory.
        self.mem_bytes = _charged(raw_bytes, records)
        self.index = index
        self.compression = compression
        self.compresslevel = compresslevel
        self.in_mem = data is not None
        self.spool_entry = spool_entry
        self.spooling = False
        self.stored = False
        # The encoded object body once a thread encoded it (kept across retries),
        # and its digests when the encoder computed them too.
        self.body: bytes | None = None
        self.digests: BodyDigests | None = None
        # A thread (uploader or encoder) is encoding or uploading this batch.
        self.busy = False

    def keep_body(
        self, body: bytes, digests: BodyDigests | None, *, keep_data: bool
    ) -> _Buffer | None:
        """
        Writer's lock held: keep the encoded body and digests for the upload and retries.

        Returns a buffer the batch no longer needs (see `_let_go`).
        """
        if self.stored:
            return None
        self.body = body
        self.digests = digests
        if self.data is None:
            return None
        if self.compression == "none":
            return self.set_data(body)  # the records themselves: one copy, not two
        if not keep_data:  # no spool will want the records: the body is all we need
            return self.set_data(None)
        return None

    def set_data(self, data: bytes | None) -> _Buffer | None:
        """Writer's lock held: replace the records; returns the buffer they were in, if any."""
        old, self.data = self.data, data
        return old if isinstance(old, _Buffer) else None


class _Abort(Exception):
    """Raised inside the uploader to give up the current upload (close deadline passed)."""


class ObjectStoreWriter:
    """
    Batch records into objects under ``logs/<pipelinerun>/<task>/`` and upload them.

    Defaults are chosen for S3 cost and latency: an 8 MiB batch is about one
    PUT per 8 MiB of logs (PUTs are billed per request and cost 5-8 ms each
    on loopback), and a 5 s age bound makes logs visible within seconds.

    Objects: gzip batches are ``.jsonl.gz`` with ``Content-Type:
    application/gzip`` and no ``Content-Encoding``, so browsers and ``aws s3
    cp`` keep the bytes compressed under the ``.gz`` name; plain batches are
    ``.jsonl`` with ``Content-Type: application/x-ndjson``. User metadata
    ``objlog-records`` gives the record count.

    Args:
        store: A store object, a store URL (``s3://bucket/prefix``), or None
            for the environment's default (resolved with
            `objlog.stores.open_store`; such a store is owned and closed by
            the writer).
        pipelinerun: Pipeline run name (one key segment).
        task: Task name (one key segment).
        max_size_bytes: Seal a batch at this many record bytes (default 8 MiB).
            A record at least this big gets an object of its own.
        max_age: Seal a batch when its first record is this many seconds old
            (default 5.0).
        max_buffer_bytes: Memory bound for the current batch plus sealed
            batches neither stored nor spooled: their record bytes plus
            `RECORD_OVERHEAD` (48 bytes) per record (default 64 MiB; at
            least `max_size_bytes`).
        when_full: ``"block"`` (default): wait up to `block_timeout` for room,
            then drop the record; after such a timeout, later records are
            dropped at once until an upload makes room, so a long outage
            costs one wait, not one per record. ``"drop"``: drop at once.
            With `spool_dir`, full memory spools sealed batches instead.
        block_timeout: Seconds a `write` may wait for room (default 1.0).
        compression: ``"gzip"`` (default) or ``"none"``.
        compresslevel: gzip level 0-9 (default 1: on JSON log lines level 1
            compresses 2.5-5x faster than level 6 for about 18% more bytes,
            and compression is most of the uploader's CPU time; the
            benchmarks' drain and shutdown figures are bound by it).
        spool_dir: Directory for the durable spool (default None: no spool).
            Sealed batches are written there before upload and removed once
            stored; batches left by a crashed writer are uploaded under their
            original keys by the next writer on the same directory.
        retry: Retry policy for transient failures (default `RetryPolicy()`).
            When retries are exhausted the batch is kept (and spooled) and
            tried again later; it is never dropped.
        sync_timeout: Default seconds for `sync` and `close` (default 10.0).
        on_error: Called with every upload or spool failure, on the uploader
            thread (or the caller's, for a spool failure there); must not block.
            Failures also go to stderr, at most one line per 10 s.
        writer_id: Fixed writer id (``A-Za-z0-9_``); default a random one.
            Must be unique among concurrent writers.
        clock: Monotonic seconds used for batch age and retry timing
            (default `time.monotonic`).
        sleep: Waits between retries (default: an interruptible wait on the
            writer's condition). Tests pass a fake to never really wait.

    Raises:
        ConfigError: An option is out of range, a name is not a valid key
            segment, or the store URL is malformed.

    Thread safety: every method may be called from any thread; records of one
    thread keep their order. Fork-safe: a child starts with an empty writer,
    a new id and its own uploader thread; the parent's batches stay the
    parent's. A store passed in that has a `StoreConfig` as ``config`` (the
    S3 stores) is rebuilt from it in the child, which owns and closes the
    copy; other stores are used as they are.
    """

    def __init__(
        self,
        store: str | ObjectStore | None = None,
        *,
        pipelinerun: str,
        task: str,
        max_size_bytes: int = 8 * 1024**2,
        max_age: float = 5.0,
        max_buffer_bytes: int = 64 * 1024**2,
        when_full: str = "block",
        block_timeout: float = 1.0,
        compression: str = "gzip",
        compresslevel: int = 1,
        spool_dir: str | os.PathLike[str] | None = None,
        retry: RetryPolicy | None = None,
        sync_timeout: float = 10.0,
        on_error: Callable[[BaseException], None] | None = None,
        writer_id: str | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if max_size_bytes < 1:
            raise ConfigError(f"max_size_bytes must be >= 1, got {max_size_bytes}")
        if max_buffer_bytes < max_size_bytes:
            raise ConfigError(
                f"max_buffer_bytes ({max_buffer_bytes}) must be >= max_size_bytes"
                f" ({max_size_bytes})"
            )
        if not max_age > 0:
            raise ConfigError(f"max_age must be > 0 seconds, got {max_age}")
        if when_full not in _WHEN_FULL:
            raise ConfigError(f"when_full must be one of {list(_WHEN_FULL)}, got {when_full!r}")
        if block_timeout < 0 or sync_timeout < 0:
            raise ConfigError("block_timeout and sync_timeout must be >= 0 seconds")
        if not 0 <= compresslevel <= 9:
            raise ConfigError(f"compresslevel must be 0..9, got {compresslevel}")
        if on_error is not None and not callable(on_error):
            raise ConfigError("on_error must be callable")
        self._encoding = encoding_for(compression)
        self._base_id = validate_writer_id(writer_id) if writer_id is not None else None
        logs_prefix("", pipelinerun, task)  # refuse bad names before opening a store
        self._store: ObjectStore | None
        if isinstance(store, str) or store is None:
            from objlog.stores import open_store

            self._store_spec: str | StoreConfig | None = store
            self._store = open_store(store)
            self._own_store = True
        else:
            self._store_spec = None
            self._store = store
            self._own_store = False
        assert self._store is not None
        self._prefix = logs_prefix(self._store.prefix, pipelinerun, task)
        self.pipelinerun = pipelinerun
        self.task = task
        self.max_size_bytes = max_size_bytes
        self.max_age = float(max_age)
        self.max_buffer_bytes = max_buffer_bytes
        self.when_full = when_full
        self.block_timeout = float(block_timeout)
        self.compresslevel = compresslevel
        self._spool_root = Path(spool_dir) if spool_dir is not None else None
        self._retry = retry if retry is not None else RetryPolicy()
        self._sync_timeout = float(sync_timeout)
        self._on_error = on_error
        self._clock = clock or time.monotonic
        self._sleep = sleep
        self._closed = False
        self._reset_state(self._base_id)
        _shutdown.register(self)
        if self._spool is not None:
            with self._lock:  # recover a crashed writer's spooled batches now
                self._ensure_thread()

    # -- state --------------------------------------------------------------------
    def _reset_state(self, writer_id: str | None) -> None:
        """(Re)initialise everything that belongs to one process."""
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._writer_id = writer_id or new_writer_id()
        self._namer = BatchNamer(self._prefix, self._writer_id, self._encoding.suffix)
        self._spool = Spool(self._spool_root, self._writer_id) if self._spool_root else None
        self._pid = os.getpid()
        # Records of contended writes not yet in the batch (see `_INBOX_RECORDS`):
        # uncounted until drained; a forked child starts with an empty one.
        self._inbox: collections.deque[bytes] = collections.deque()
        self._inbox_max = min(_INBOX_RECORD_BYTES, self.max_buffer_bytes // (16 * _INBOX_RECORDS))
        # The current batch: its records copied into a buffer of
        # max_size_bytes taken from the pool when the batch starts (see
        # `_Buffer`; None before), its record count and its size.
        self._buf: _Buffer | None = None
        self._view: memoryview | None = None
        self._cur_n = 0
        self._cur_bytes = 0
        self._cur_started = 0.0
        # Fast-path state of `write` (see `_accept`): 0 sends every write the slow way.
        self._cur_deadline = 0.0
        self._room = 0
        self._queue: collections.deque[_Batch] = collections.deque()
        # Memory charged for sealed batches held in memory (`_Batch.mem_bytes`);
        # with `_cur_mem()` the figure max_buffer_bytes bounds. `_n_records`/`_n_bytes_in` count
        # sealed batches too: `write` only touches the current batch's own
        # counters, and `stats` adds them.
        self._mem_bytes = 0
        self._sealed = 0
        self._thread: threading.Thread | None = None
        self._encoder: threading.Thread | None = None
        self._stop = False
        self._abort = False
        self._retry_at = 0.0
        self._recovered = self._spool is None
        self._blocked_out = False
        self._stderr = _report.StderrReporter(STDERR_INTERVAL)
        self._n_records = 0
        self._n_bytes_in = 0
        self._n_bytes_stored = 0
        self._n_objects = 0
        self._n_retries = 0
        self._n_failures = 0
        self._n_dropped_records = 0
        self._n_dropped_bytes = 0
        self._n_spooled = 0
        self._last_error: str | None = None

    def _after_fork_in_child(self) -> None:
        """Give the child a fresh, empty writer; the parent's batches stay the parent's."""
        if self._spool is not None:
            self._spool.forget_after_fork()
        child_id = child_writer_id(self._base_id) if self._base_id else None
        self._reset_state(child_id)
        if not self._own_store:
            # A store passed in has the parent's connection pool (SDK clients
            # have no at-fork hook): build our own from its config, and own it.
            config = getattr(self._store, "config", None)
            if isinstance(config, StoreConfig):
                self._store_spec = config
                self._own_store = True
        if self._own_store:
            self._store = None  # the parent's connections are not ours: reopen lazily

    # -- properties -------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once `close` was called."""
        return self._closed

    @property
    def prefix(self) -> str:
        """The key prefix of this writer's batches, e.g. ``logs/<pipelinerun>/<task>/``."""
        return self._prefix

    @property
    def writer_id(self) -> str:
        """This writer's id as used in its keys (changes in a forked child)."""
        return self._writer_id

    @property
    def sync_timeout(self) -> float:
        """Default seconds for `sync` and `close`."""
        return self._sync_timeout

    @property
    def stats(self) -> WriterStats:
        """A consistent snapshot of the counters (see `WriterStats`)."""
        with self._lock:
            return WriterStats(
                records=self._n_records + self._cur_n,
                bytes_in=self._n_bytes_in + self._cur_bytes,
                bytes_stored=self._n_bytes_stored,
                objects=self._n_objects,
                retries=self._n_retries,
                failures=self._n_failures,
                dropped_records=self._n_dropped_records,
                dropped_bytes=self._n_dropped_bytes,
                spooled=self._n_spooled,
                queue_depth=len(self._queue),
                last_error=self._last_error,
            )

    def __repr__(self) -> str:
        spec = self._store_spec
        url = (
            self._store.url
            if self._store is not None
            else spec.url
            if isinstance(spec, StoreConfig)
            else spec
        )
        return (
            f"ObjectStoreWriter(store={url!r}, prefix={self._prefix!r},"
            f" writer_id={self._writer_id!r}, closed={self._closed})"
        )

    # -- writing ------------------------------------------------------------------------
    def write(self, data: str | bytes) -> int:
        """
        Append one record; a missing trailing newline is added.

        Never waits on the network. Waits up to `block_timeout` only when
        memory is full and `when_full` is ``"block"``, and while a
        termination signal's sync runs (see `install_signal_handlers`: the
        process normally ends before the call returns).

        Args:
            data: One record (a line), str (encoded as UTF-8; a lone
                surrogate becomes its backslash escape) or bytes.

        Returns:
            ``len(data)`` when accepted, 0 when dropped (counted in `stats`).
            A small record written while another thread is inside the writer
            goes to the inbox (see `_INBOX_RECORDS`) and returns ``len(data)``;
            if memory is then full with ``when_full="drop"``, it is dropped
            later and counted in `stats` only.

        Raises:
            WriterClosedError: The writer is closed.
            TypeError: `data` is neither str nor bytes.

        Thread safety: safe from any thread; each thread's records are
        stored in the order of its calls.
        """
        # Fast path for the common case: a line already ending in a newline.
        record = data if type(data) is bytes and data[-1:] == b"\n" else normalize_record(data)
        size = len(record)
        lock = self._lock
        while True:
            if _shutdown._paused:  # a signal's sync is under way (rare: checked inline)
                _shutdown.wait_while_paused()
            if not lock.acquire(False):
                # Contended: leave the record for the lock's holder rather than
                # queue on the lock (see `_INBOX_RECORDS`); `_room` read unlocked
                # is at most the real room (only a holder's accept raises it).
                inbox = self._inbox
                if size < self._inbox_max and size < self._room and len(inbox) < _INBOX_RECORDS:
                    inbox.append(record)
                    if self._closed:  # close may have drained the inbox before this append
                        self._reclaim(record)
                    if _shutdown._paused:
                        # A signal's sync may have drained the inbox before the
                        # append: do not return until it is over (as below).
                        _shutdown.wait_while_paused()
                    return len(data)
                lock.acquire()
            try:
                if self._inbox:  # earlier records first (this thread's included)
                    self._drain_inbox()
                # Fast path: the record fits the current batch and the memory
                # bound, the batch is young, no signal's sync is pausing writes
                # (checked under the lock, as in `_accept`), nothing else needs
                # deciding (see `_room`). Anything else goes through `_accept`.
                if (
                    size < self._room
                    and not _shutdown._paused
                    and self._clock() < self._cur_deadline
                ):
                    self._room -= size + RECORD_OVERHEAD
                    pos = self._cur_bytes
                    self._cur_bytes = end = pos + size
                    self._view[pos:end] = record  # type: ignore[index]
                    self._cur_n += 1
                    return len(data)
                accepted = self._accept(record)
            finally:
                lock.release()
            if accepted is not None:
                return len(data) if accepted else 0

    def _drain_inbox(self, *, closing: bool = False) -> None:
        """
        Lock held: move contended writes' records into the batch, oldest first.

        Never releases the lock (no wait for room): a record that finds memory
        full is taken over the bound with ``when_full="block"`` (or a spool),
        by at most the inbox's bytes, and dropped (counted in `stats`) with
        ``"drop"``; its `write` returned already. Stops, leaving the rest, while
        a signal's sync pauses this thread's writes: that sync drains them.
        After `close` drained it (`closing`), it is left to the writers' `_reclaim`.
        """
        if self._closed and not closing:
            return
        inbox = self._inbox
        while inbox:
            if self._accept(inbox[0], queued=True) is None:
                return
            inbox.popleft()

    def _reclaim(self, record: bytes) -> None:
        """A write left `record` in a closed writer's inbox: refuse it unless close took it."""
        with self._lock:  # close drains under the lock: now it is over, or not begun
            if not self._closed:
                return
            inbox = self._inbox
            for i, queued in enumerate(inbox):
                if queued is record:
                    del inbox[i]
                    raise WriterClosedError(f"write to a closed writer ({self._prefix})")

    def writelines(self, lines: Iterable[str | bytes]) -> None:
        """
        Write each item of `lines` as one record (see `write`).

        Takes the writer's lock once per chunk of records instead of once per
        record, so many lines cost little more than one `write` each.

        Raises:
            WriterClosedError: The writer is closed.
            TypeError: An item is neither str nor bytes.

        Thread safety: safe from any thread; other threads' records may
        interleave between chunks.
        """
        chunk: list[bytes] = []
        try:
            for line in lines:
                chunk.append(normalize_record(line))
                if len(chunk) >= _WRITELINES_CHUNK:
                    ready, chunk = chunk, []
                    self._accept_many(ready)
        finally:
            # Items before a bad one (TypeError) or a failing iterator are
            # written, as one `write` per item would have done.
            if chunk:
                self._accept_many(chunk)

    def _accept_many(self, records: list[bytes]) -> None:
        """Accept `records` in order, taking the lock once unless a signal's sync intervenes."""
        i, n = 0, len(records)
        while i < n:
            if _shutdown._paused:
                _shutdown.wait_while_paused()
            with self._lock:
                if self._inbox:
                    self._drain_inbox()
                while i < n:
                    if self._accept(records[i]) is None:
                        break  # a signal's sync is under way: wait outside the lock
                    i += 1

    def _accept(self, record: bytes, *, queued: bool = False) -> bool | None:
        """
        Add a record to the current batch; lock held. Returns False when dropped.

        None: a signal's sync is under way (it may already have sealed the
        current batch); the caller waits outside the lock and tries again.
        `queued`: a record from the inbox (`_drain_inbox`): taken even while
        close drains it, and never waits for room (the lock stays held).
        """
        if self._closed and not queued:
            raise WriterClosedError(f"write to a closed writer ({self._prefix})")
        if _shutdown._paused and _shutdown.writes_paused():
            return None
        if self._thread is None:  # lazily, and again in a forked child
            self._ensure_thread()
        size = len(record)
        now = self._clock()
        if self._cur_n and (
            self._cur_bytes + size > self.max_size_bytes or now - self._cur_started >= self.max_age
        ):
            self._seal()
        room = self._fits(size) or (
            (self.when_full == "block" or self._spool is not None)
            if queued
            else self._make_room(size)
        )
        if _shutdown._paused and _shutdown.writes_paused():  # signalled while waiting for room
            return None
        if not room:
            self._n_dropped_records += 1
            self._n_dropped_bytes += size
            return False
        if self._closed and not queued:  # closed while this call waited for room
            raise WriterClosedError(f"write to a closed writer ({self._prefix})")
        if self._cur_n and self._cur_bytes + size > self.max_size_bytes:
            self._seal()
        if not self._cur_n:
            if size >= self.max_size_bytes:  # an object of its own, kept as given
                self._seal(record)
                return True
            self._cur_started = now
            self._cur_deadline = now + self.max_age
            # Once per batch: an idle uploader waits without a timeout, so tell
            # it a batch started and its age trigger runs (max_age holds with
            # no further write).
            self._cond.notify_all()
            if self._buf is None:
                self._buf = _take_buffer(self.max_size_bytes)
                self._view = self._buf.view
        pos = self._cur_bytes
        self._cur_bytes = end = pos + size
        self._view[pos:end] = record  # type: ignore[index]
        self._cur_n += 1
        if self._cur_bytes >= self.max_size_bytes:
            self._seal()
        elif self._thread is not None and not _shutdown._paused:
            # What the fast path in `write` may take without asking: a record
            # of strictly fewer bytes keeps the batch under max_size_bytes
            # (no seal due) and memory within max_buffer_bytes; each one takes
            # its size plus RECORD_OVERHEAD off (conservative for the size
            # bound). Any change that could shrink the real room (seal, close,
            # fork) resets it to 0; memory freed by uploads only makes it
            # conservative.
            self._room = min(
                self.max_size_bytes - self._cur_bytes,
                self.max_buffer_bytes - self._mem_bytes - self._cur_mem() + 1 - RECORD_OVERHEAD,
            )
        return True

    def _cur_mem(self) -> int:
        """Lock held: memory charged for the current batch."""
        return _charged(self._cur_bytes, self._cur_n)

    def _fits(self, size: int) -> bool:
        used = self._mem_bytes + self._cur_mem()
        return used == 0 or used + size + RECORD_OVERHEAD <= self.max_buffer_bytes

    def _make_room(self, size: int) -> bool:
        """Lock held: spool, wait or give up so that `size` more bytes fit."""
        if self._spool is not None:
            self._seal()
            self._spool_pending()
            if self._fits(size):
                return True
        if self.when_full == "drop" or self._blocked_out or _shutdown.in_objlog_thread():
            return False  # never wait on the uploader from the uploader itself
        deadline = time.monotonic() + self.block_timeout
        while not self._fits(size):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closed:
                self._blocked_out = not self._closed
                return self._closed
            self._cond.wait(remaining)
        return True

    def _seal(self, lone: bytes | None = None) -> None:
        """
        Lock held: turn the current batch into a sealed batch with its key.

        `lone`: instead, seal this record (at least max_size_bytes, the
        current batch empty) as a batch of its own, without copying it.
        """
        data: _Buffer | bytes
        if lone is not None:
            data, records, raw_bytes = lone, 1, len(lone)
        else:
            if not self._cur_n:
                return
            assert self._buf is not None
            data, records, raw_bytes = self._buf, self._cur_n, self._cur_bytes
            self._buf.seal(raw_bytes)
            self._buf = self._view = None
        batch = _Batch(
            self._namer.next_key(),
            data,
            records=records,
            raw_bytes=raw_bytes,
            index=self._sealed,
            compression=self._encoding.name,
            compresslevel=self.compresslevel,
        )
        self._sealed += 1
        self._queue.append(batch)
        # The current batch's records count once sealed (see `_reset_state`).
        self._n_records += batch.records
        self._n_bytes_in += batch.raw_bytes
        self._mem_bytes += batch.mem_bytes
        self._cur_n = 0
        self._cur_bytes = 0
        self._room = 0
        if len(self._queue) > 1 and self._encoder is None and self._thread is not None:
            self._start_encoder()  # a backlog: encode ahead of the uploader
        self._cond.notify_all()

    def flush(self) -> None:
        """
        Seal the current batch and hand it to the uploader; returns at once.

        A no-op on a closed writer (``logging.shutdown`` flushes after close).

        Thread safety: safe from any thread.
        """
        with self._lock:
            if self._closed:
                return
            if self._inbox:
                self._drain_inbox()
            self._ensure_thread()
            self._seal()
            self._cond.notify_all()  # also wakes the uploader to re-check its timers

    def sync(self, timeout: float | None = None) -> None:
        """
        Block until every record accepted so far is stored or spooled.

        Seals the current batch. With a spool, batches are spooled on the
        calling thread, so this returns quickly even while the store is down.

        Args:
            timeout: Seconds to wait (default `sync_timeout`).

        Raises:
            SyncTimeout: Time ran out; ``pending_batches`` says how many
                sealed batches were neither stored nor spooled.

        Thread safety: safe from any thread, including a signal handler
        (see `install_signal_handlers`).
        """
        limit = self._sync_timeout if timeout is None else max(0.0, timeout)
        deadline = time.monotonic() + limit
        with self._lock:
            if self._inbox:
                self._drain_inbox()
            self._seal()
            target = self._sealed
            if not self._closed:
                self._ensure_thread()
            self._retry_at = 0.0
            self._cond.notify_all()
            self._wait_done(target, deadline, "sync")

    def _pending(self, target: int, *, spooled_is_done: bool = True) -> int:
        return sum(
            1
            for b in self._queue
            if b.index < target and not (spooled_is_done and b.spool_entry is not None)
        )

    def _wait_done(self, target: int, deadline: float, what: str) -> None:
        """Lock held: wait until batches below `target` are stored or spooled."""
        graced = False
        while True:
            if self._spool is not None:
                self._spool_pending()
            pending = self._pending(target)
            if not pending:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0 and not graced:
                graced = True
                if self._await_spooling():
                    continue  # batches being spooled at the deadline may have landed
            if remaining <= 0:
                raise SyncTimeout(
                    f"{what}: {pending} batch(es) of {self._prefix} neither stored nor spooled"
                    f" in time (last error: {self._last_error})",
                    pending_batches=pending,
                )
            self._cond.wait(remaining)

    def close(self, timeout: float | None = None) -> None:
        """
        Seal, upload everything within one deadline, stop the uploader.

        Idempotent. Batches still unstored at the deadline stay in the spool
        (when set; the next writer on it uploads them); without a spool they
        are lost and `SyncTimeout` says how many. A spool write already under
        way at the deadline is waited for (up to `SPOOL_GRACE` seconds more).

        Args:
            timeout: Total seconds for the whole close (default `sync_timeout`).

        Raises:
            SyncTimeout: Batches were neither stored nor spooled at the deadline.

        Thread safety: safe from any thread; later writes raise `WriterClosedError`.
        """
        limit = self._sync_timeout if timeout is None else max(0.0, timeout)
        deadline = time.monotonic() + limit
        error: SyncTimeout | None = None
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._room = 0
            # Records of writes that returned: into the last batch. Later
            # appends see `_closed` and take theirs back (`_reclaim`).
            self._drain_inbox(closing=True)
            self._seal()
            target = self._sealed
            if self._queue or not self._recovered:
                self._ensure_thread()
            self._stop = True
            self._retry_at = 0.0
            self._cond.notify_all()
            while (self._queue or not self._recovered) and self._thread_alive():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if self._queue:
                self._abort = True
                self._cond.notify_all()
                if self._spool is not None:
                    self._spool_pending()
                    self._await_spooling()
                lost = self._pending(target)
                if lost:
                    error = SyncTimeout(
                        f"close: {lost} batch(es) of {self._prefix} neither stored nor"
                        f" spooled in time (last error: {self._last_error})",
                        pending_batches=lost,
                    )
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
        _shutdown.unregister(self)
        if self._spool is not None and not (thread is not None and thread.is_alive()):
            self._spool.close()
        if self._own_store and self._store is not None and not self._thread_alive():
            with contextlib.suppress(Exception):
                self._store.close()
        if error is not None:
            raise error

    def __enter__(self) -> ObjectStoreWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- spooling ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _unlocked(self) -> Iterator[None]:
        """Lock held on entry and exit: release it around slow I/O."""
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()

    def _await_spooling(self) -> bool:
        """
        Lock held: wait (up to `SPOOL_GRACE` s) for spool writes under way on other threads.

        Returns True when there were any: a caller about to report batches as
        neither stored nor spooled counts again, since they may have landed.
        """
        if not any(b.spooling for b in self._queue):
            return False
        deadline = time.monotonic() + SPOOL_GRACE
        while any(b.spooling for b in self._queue):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(remaining)
        return True

    def _spool_pending(self) -> None:
        """Lock held: write every sealed, unspooled batch to the spool (I/O unlocked)."""
        spool = self._spool
        if spool is None:
            return
        todo = [
            b
            for b in self._queue
            if b.spool_entry is None and not b.spooling and b.data is not None
        ]
        if not todo:
            return
        reading = [(b, self._borrow(b)) for b in todo]
        for b in todo:
            b.spooling = True
        failed: BaseException | None = None
        done: list[tuple[_Batch, SpoolEntry]] = []
        with self._unlocked():
            for b, data in reading:
                if failed is not None or data is None:
                    continue
                try:
                    entry = spool.put(
                        b.key,
                        [_joined(data)],
                        compression=b.compression,
                        compresslevel=b.compresslevel,
                        records=b.records,
                    )
                except OSError as exc:
                    failed = exc
                    continue
                done.append((b, entry))
        stale: list[Path] = []
        for b, data in reading:
            b.spooling = False
            self._give_back(data)
        for b, entry in done:
            if b.stored:
                stale.append(entry.path)
                continue
            b.spool_entry = entry
            self._let_go(b.set_data(None))
            if b.in_mem:
                b.in_mem = False
                self._mem_bytes -= b.mem_bytes
            self._n_spooled += 1
        if done:
            self._blocked_out = False
        self._cond.notify_all()  # also wakes `_await_spooling` after a failure
        for path in stale:
            with contextlib.suppress(OSError):
                Spool.remove(path)
        if failed is not None:
            self._report(failed, f"spool to {spool.root}")

    # -- uploader thread ---------------------------------------------------------------------
    def _thread_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _ensure_thread(self) -> None:
        """Lock held: start the uploader if it is not running (lazily, also after fork)."""
        if self._thread_alive():
            return
        thread = threading.Thread(
            target=self._run, name=f"objlog-writer-{self._writer_id}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError as exc:  # interpreter shutting down
            self._report(exc, "start uploader thread")
            return
        self._thread = thread

    def _run(self) -> None:
        _shutdown.mark_objlog_thread()
        try:
            self._loop()
        finally:
            with self._lock:
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
                with contextlib.suppress(BaseException), self._lock:
                    self._retry_at = self._clock() + 0.5
                    if self._abort:
                        return

    def _step(self) -> bool:
        """One round of the uploader: returns False when it should exit."""
        if not self._recovered:
            self._recover()
        with self._lock:
            while True:
                if self._abort:
                    return False
                if self._inbox:
                    self._drain_inbox()
                now = self._clock()
                if self._cur_n and now - self._cur_started >= self.max_age:
                    self._seal()
                if self._queue and now >= self._retry_at:
                    # The oldest batch the encoder is not working on.
                    batch = next((b for b in self._queue if not b.busy), None)
                    if batch is not None:
                        batch.busy = True
                        break
                if self._stop and not self._queue:
                    return False
                waits = []
                if self._cur_n:
                    waits.append(self._cur_started + self.max_age - now)
                if self._queue and now < self._retry_at:
                    waits.append(self._retry_at - now)
                # Idle: a contended write may append to the inbox unlocked (no
                # notify) right after the drain above: look again within max_age.
                self._cond.wait(max(0.001, min(waits)) if waits else self.max_age)
            if self._spool is not None:
                self._spool_pending()
        self._upload(batch)
        return True

    def _start_encoder(self) -> None:
        """Lock held: start the encoder thread (once per process, on the first backlog)."""
        thread = threading.Thread(
            target=self._encode_ahead, name=f"objlog-encoder-{self._writer_id}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down: the uploader encodes alone
            return
        self._encoder = thread

    def _encode_ahead(self) -> None:
        """Encoder thread: encode sealed in-memory batches before the uploader gets to them."""
        _shutdown.mark_objlog_thread()
        me = threading.current_thread()
        try:
            while True:
                with self._lock:
                    while True:
                        if self._abort or self._encoder is not me:
                            return  # closed for good, or a forked child's reset
                        batch = next(
                            (
                                b
                                for b in itertools.islice(self._queue, ENCODE_AHEAD + 1)
                                if b.body is None and not b.busy and b.data is not None
                            ),
                            None,
                        )
                        if batch is not None:
                            break
                        if self._stop and not self._queue:
                            return
                        self._cond.wait(1.0)
                    batch.busy = True
                    data = self._borrow(batch)
                    assert data is not None
                encoded: tuple[bytes, BodyDigests] | None = None
                try:
                    body = _encode(data, batch.compression, batch.compresslevel)
                    # Hashed here rather than by the store on the uploader's
                    # thread: the next PUT need not wait for it (hashlib
                    # releases the GIL, so it runs beside the current PUT).
                    encoded = (body, BodyDigests.of(body))
                except Exception as exc:  # noqa: BLE001 - the uploader encodes it instead
                    self._report(exc, f"encode of {batch.key}")
                with self._lock:
                    self._give_back(data)
                    del data
                    batch.busy = False
                    if encoded is not None:
                        self._keep_body(batch, *encoded)
                    self._cond.notify_all()
        finally:
            with self._lock:
                if self._encoder is me:
                    self._encoder = None

    def _recover(self) -> None:
        """Claim dead writers' spooled batches and queue them first."""
        spool = self._spool
        entries: list[SpoolEntry] = []
        try:
            if spool is not None:
                try:
                    entries, problems = spool.claim_leftovers()
                except OSError as exc:
                    self._report(exc, f"spool recovery in {spool.root}")
                    problems = []
                for path, problem in problems:
                    self._report(problem, f"spool recovery of {path.name}")
        finally:
            with self._lock:
                for entry in reversed(entries):
                    self._queue.appendleft(
                        _Batch(
                            entry.key,
                            None,
                            records=entry.records,
                            raw_bytes=entry.raw_bytes,
                            index=-1,
                            compression=entry.compression,
                            compresslevel=entry.compresslevel,
                            spool_entry=entry,
                        )
                    )
                self._recovered = True
                self._cond.notify_all()

    def _store_now(self) -> ObjectStore:
        if self._store is None:
            from objlog.stores import open_store, store_from_config

            spec = self._store_spec
            # A config taken over after fork: its bucket exists, create nothing.
            self._store = (
                store_from_config(spec) if isinstance(spec, StoreConfig) else open_store(spec)
            )
        assert self._store is not None
        return self._store

    def _upload(self, batch: _Batch) -> None:
        """Encode (unless the encoder did) and PUT `batch`, which `_step` marked busy."""
        try:
            self._upload_busy(batch)
        finally:
            with self._lock:
                batch.busy = False
                self._cond.notify_all()

    def _upload_busy(self, batch: _Batch) -> None:
        with self._lock:
            body = batch.body
            digests = batch.digests
            data = self._borrow(batch) if body is None else None
            entry = batch.spool_entry
        if body is None:
            try:
                body = self._encode_for_upload(batch, data, entry)
            except SpoolCorruptError as exc:
                self._report(exc, f"spooled batch {batch.key}")
                with self._lock:
                    self._remove(batch)
                    if self._spool is not None and entry is not None:
                        with contextlib.suppress(OSError):
                            self._spool.quarantine(entry.path)
                return
            except OSError as exc:
                self._failed(exc, batch)
                return
            with self._lock:
                self._keep_body(batch, body)
        encoding = encoding_for(batch.compression)
        store = self._store_now()
        # Only to a store that takes them: one written before the keyword hashes alone.
        extra = {"digests": digests} if digests is not None and _takes_digests(store) else {}

        def put() -> object:
            if self._abort:
                raise _Abort
            return store.put_object(
                batch.key,
                body,
                content_type=encoding.content_type,
                content_encoding=encoding.content_encoding,
                metadata={"objlog-records": str(batch.records)},
                **extra,
            )

        try:
            retry_call(
                put,
                self._retry,
                sleep=self._retry_wait,
                clock=self._clock,
                on_retry=self._on_retry,
            )
        except _Abort:
            raise
        except Exception as exc:  # noqa: BLE001 - StoreError, or a store's bug: keep the batch
            self._failed(exc, batch)
            return
        with self._lock:
            batch.stored = True
            self._remove(batch)
            self._n_objects += 1
            self._n_bytes_stored += len(body)
            entry = batch.spool_entry
        if entry is not None:
            try:
                Spool.remove(entry.path)
            except OSError as exc:
                self._report(exc, f"spool clean-up of {entry.path.name}")

    def _encode_for_upload(
        self, batch: _Batch, data: _Buffer | bytes | None, entry: SpoolEntry | None
    ) -> bytes:
        """The body of `batch` from its records `data` (borrowed) or its spool entry."""
        try:
            if data is None:
                assert entry is not None
                data = Spool.read(entry.path)
            return _encode(data, batch.compression, batch.compresslevel)
        finally:
            with self._lock:
                self._give_back(data)

    def _borrow(self, batch: _Batch) -> _Buffer | bytes | None:
        """Lock held: the records of `batch` for reading unlocked; `_give_back` them after."""
        data = batch.data
        if isinstance(data, _Buffer):
            data.readers += 1
        return data

    def _give_back(self, data: object) -> None:
        """Lock held: a thread is done reading `data` (from `_borrow`)."""
        if isinstance(data, _Buffer):
            data.readers -= 1
            if data.detached and not data.readers:
                _recycle(data)

    def _let_go(self, buf: _Buffer | None) -> None:
        """Lock held: no batch needs `buf` any more; recycle it once no thread reads it."""
        if buf is not None:
            buf.detached = True
            if not buf.readers:
                _recycle(buf)

    def _keep_body(self, batch: _Batch, body: bytes, digests: BodyDigests | None = None) -> None:
        """Lock held: keep the encoded body; the records go once nothing needs them."""
        self._let_go(batch.keep_body(body, digests, keep_data=self._spool is not None))

    def _remove(self, batch: _Batch) -> None:
        """Lock held: drop a finished batch from the queue and free its memory."""
        with contextlib.suppress(ValueError):
            self._queue.remove(batch)
        if batch.in_mem:
            batch.in_mem = False
            self._mem_bytes -= batch.mem_bytes
        self._let_go(batch.set_data(None))
        batch.body = None
        batch.digests = None
        self._blocked_out = False
        self._cond.notify_all()

    def _failed(self, exc: BaseException, batch: _Batch) -> None:
        """An upload gave up: keep the batch, try again after a pause."""
        with self._lock:
            self._n_failures += 1
            pause = self._retry.cooldown_seconds()
            self._retry_at = self._clock() + pause
        self._report(exc, f"upload of {batch.key}")

    def _on_retry(self, exc: BaseException, attempt: int, wait: float) -> None:
        with self._lock:
            self._n_retries += 1
            self._last_error = f"upload (attempt {attempt}): {type(exc).__name__}: {exc}"

    def _retry_wait(self, seconds: float) -> None:
        """Wait between attempts; spools meanwhile; raises `_Abort` once close gave up."""
        if self._sleep is not None:
            if self._abort:
                raise _Abort
            self._sleep(seconds)
            if self._abort:
                raise _Abort
            return
        deadline = time.monotonic() + seconds
        with self._lock:
            while True:
                if self._abort:
                    raise _Abort
                if self._spool is not None:
                    self._spool_pending()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)

    # -- reporting ---------------------------------------------------------------------------
    def _report(self, exc: BaseException, what: str) -> None:
        """Record a failure: counters, `on_error`, and a rate-limited stderr line. Never raises."""
        try:
            message = f"{what}: {type(exc).__name__}: {exc}"
            with self._lock:
                self._last_error = message
            if self._on_error is not None:
                with contextlib.suppress(Exception):
                    self._on_error(exc)
            self._stderr(f"objlog: {self._prefix}: {message}")
        except Exception:  # noqa: BLE001, S110 - reporting must never take the writer down
            pass


def _takes_digests(store: ObjectStore) -> bool:
    """Whether ``store.put_object`` accepts ``digests=`` (by name or ``**kwargs``)."""
    try:
        params = inspect.signature(store.put_object).parameters.values()
    except (TypeError, ValueError):  # a builtin or an odd callable: do not guess
        return False
    return any(
        p.kind is inspect.Parameter.VAR_KEYWORD
        or (p.name == "digests" and p.kind is not inspect.Parameter.POSITIONAL_ONLY)
        for p in params
    )


def _joined(data: _Buffer | bytes) -> bytes | memoryview:
    """The bytes of a sealed batch's records (a view of its buffer; bytes as they are)."""
    return data.records() if isinstance(data, _Buffer) else data


def _encode(data: _Buffer | bytes, compression: str, compresslevel: int) -> bytes:
    """
    The object body of a sealed batch's records (gzip reads its buffer in place).

    A batch of several gzip members (longer than GZIP_MEMBER_BYTES) is
    compressed on up to GZIP_THREADS threads: the sync of a large buffered
    batch at shutdown does not wait for one core's zlib alone.
    """
    body = encode_batch(_joined(data), compression, compresslevel, threads=GZIP_THREADS)
    return body if type(body) is bytes else bytes(body)


def _charged(raw_bytes: int, records: int) -> int:
    """Memory counted against max_buffer_bytes for `records` records of `raw_bytes` in all."""
    return raw_bytes + RECORD_OVERHEAD * records
