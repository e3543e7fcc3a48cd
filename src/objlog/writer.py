"""
The buffered writer: records batched into objects, uploaded off the caller's thread.

`ObjectStoreWriter` is a facade over the engine's parts (`objlog._engine`,
whose docstring draws them, the path of a record and the lock order): it
validates options, opens the store, wires the parts and exposes
``write``/``writelines``/``flush``/``sync``/``close``/``stats``.

A batch is sealed when it reaches `max_size_bytes`, when its first record is
`max_age` seconds old, on `flush`, `sync` and `close`; a sealed batch gets
its key at once and is uploaded by a background thread, while a second
thread compresses and hashes up to `ENCODE_AHEAD` batches ahead (zlib
releases the GIL). ``write()`` never touches the network.

Keys (see `objlog._layout`)::

    [PREFIX/]logs/<pipelinerun>/<task>/<UTC seal time>-<writer id>-<seq>.jsonl[.gz]

One writer's keys sort lexically in write order; writer ids are random per
process, restart and fork, so keys never collide and nothing is overwritten.

Memory is bounded by `max_buffer_bytes` (`objlog._engine.budget`): record
bytes of the current batch plus sealed batches not yet stored or spooled,
each record charged `RECORD_OVERHEAD` bytes more. When it is full,
`when_full` applies: ``"block"`` waits up to `block_timeout` for room,
``"drop"`` drops the new record; both count drops in `stats`. A small record
whose ``write`` finds another thread inside the writer is left in an inbox
for that thread instead of waiting (`objlog._engine.buffer`): up to
max_buffer_bytes / 16 of such records are counted only once moved into the
batch, and one that then finds memory full is taken anyway (``"block"``, or
a spool) or dropped and counted (``"drop"``; its ``write`` already returned
its length).

With a `spool_dir`, every sealed batch is written to local disk (fsync)
before its upload, and full memory makes the caller spool instead of
blocking or dropping.

Shutdown: `sync`/`close` have one total deadline each; `install_signal_handlers`
and an atexit hook sync or close every live writer within one deadline (see
`objlog._shutdown`). Failures never raise from the background threads: they
go to `stats`, the `on_error` hook and stderr (one line per 10 s).

This module knows nothing of ``logging``, structlog, boto3 or minio.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from objlog import _report, _shutdown
from objlog._codec import encoding_for, normalize_record
from objlog._engine.batch import RECORD_OVERHEAD
from objlog._engine.budget import MemoryBudget, WhenFull
from objlog._engine.buffer import WRITELINES_CHUNK, BatchBuffer, WriterState
from objlog._engine.encoder import ENCODE_AHEAD
from objlog._engine.pipeline import SPOOL_GRACE, UploadPipeline
from objlog._engine.policy import FlushPolicy
from objlog._engine.stats import Counters, Reporter, WriterStats
from objlog._layout import (
    BatchNamer,
    child_writer_id,
    logs_prefix,
    new_writer_id,
    validate_writer_id,
)
from objlog._spool import Spool
from objlog.config import StoreConfig
from objlog.errors import ConfigError
from objlog.retry import RetryPolicy
from objlog.typing import ObjectStore

__all__ = [
    "ENCODE_AHEAD",
    "RECORD_OVERHEAD",
    "SPOOL_GRACE",
    "ObjectStoreWriter",
    "WriterStats",
    "in_objlog_thread",
    "install_signal_handlers",
]

in_objlog_thread = _shutdown.in_objlog_thread
install_signal_handlers = _shutdown.install_signal_handlers

#: Seconds between two stderr lines about failures of one writer.
STDERR_INTERVAL = _report.STDERR_INTERVAL


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
            tried again after `RetryPolicy.cooldown`; it is never dropped.
        sync_timeout: Default seconds for `sync` and `close` (default 10.0).
        on_error: Called with every upload or spool failure, on a background
            thread (or the caller's, for a spool failure there); must not block.
            Failures also go to stderr, at most one line per 10 s.
        writer_id: Fixed writer id (``A-Za-z0-9_``); default a random one.
            Must be unique among concurrent writers.
        clock: Monotonic seconds used for batch age and retry timing
            (default `time.monotonic`).
        sleep: Waits between retries (default: an interruptible wait on the
            upload pipeline). Tests pass a fake to never really wait.

    Raises:
        ConfigError: An option is out of range, a name is not a valid key
            segment, or the store URL is malformed.

    Thread safety: every method may be called from any thread; records of one
    thread keep their order. Fork-safe: a child starts with an empty writer,
    a new id and its own background threads; the parent's batches stay the
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
        self._policy = FlushPolicy(max_size_bytes=max_size_bytes, max_age=max_age)
        if max_buffer_bytes < max_size_bytes:
            raise ConfigError(
                f"max_buffer_bytes ({max_buffer_bytes}) must be >= max_size_bytes"
                f" ({max_size_bytes})"
            )
        self._when_full = WhenFull.parse(when_full)
        if block_timeout < 0 or sync_timeout < 0:
            raise ConfigError("block_timeout and sync_timeout must be >= 0 seconds")
        if not 0 <= compresslevel <= 9:
            raise ConfigError(f"compresslevel must be 0..9, got {compresslevel}")
        if on_error is not None and not callable(on_error):
            raise ConfigError("on_error must be callable")
        self._encoding = encoding_for(compression)
        self._base_id = validate_writer_id(writer_id) if writer_id is not None else None
        logs_prefix("", pipelinerun, task)  # refuse bad names before opening a store
        self._store_spec: str | StoreConfig | None = None
        self._own_store = isinstance(store, str) or store is None
        if isinstance(store, str) or store is None:
            from objlog.stores import open_store

            self._store_spec = store
            store = open_store(store)
        self._prefix = logs_prefix(store.prefix, pipelinerun, task)
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
        self._build(self._base_id, store)
        _shutdown.register(self)
        if self._spool is not None:
            self._pipeline.ensure_started()  # recover a crashed writer's spooled batches now

    def _build(self, writer_id: str | None, store: ObjectStore | None) -> None:
        """(Re)build the parts that belong to one process (see `objlog._engine`)."""
        self._writer_id = writer_id or new_writer_id()
        self._spool = Spool(self._spool_root, self._writer_id) if self._spool_root else None
        counters = Counters()
        budget = MemoryBudget(self.max_buffer_bytes, self._when_full, self.block_timeout)
        self._pipeline = UploadPipeline(
            prefix=self._prefix,
            store=store,
            open_store=self._open_store,
            owns_store=self._own_store,
            spool=self._spool,
            retry=self._retry,
            budget=budget,
            counters=counters,
            report=Reporter(counters, self._prefix, self._on_error, STDERR_INTERVAL),
            clock=self._clock,
            sleep=self._sleep,
            thread_name=self._writer_id,
        )
        self._buffer = BatchBuffer(
            policy=self._policy,
            budget=budget,
            pipeline=self._pipeline,
            counters=counters,
            namer=BatchNamer(self._prefix, self._writer_id, self._encoding.suffix),
            compression=self._encoding.name,
            compresslevel=self.compresslevel,
            clock=self._clock,
            timer_name=f"objlog-timer-{self._writer_id}",
        )

    def _open_store(self) -> ObjectStore:
        """Open the store from its URL or config (the first upload in a forked child)."""
        from objlog.stores import open_store, store_from_config

        spec = self._store_spec
        # A config taken over after fork: its bucket exists, create nothing.
        return store_from_config(spec) if isinstance(spec, StoreConfig) else open_store(spec)

    def _after_fork_in_child(self) -> None:
        """Give the child a fresh, empty writer; the parent's batches stay the parent's."""
        if self._spool is not None:
            self._spool.forget_after_fork()
        store = self._pipeline.store
        if not self._own_store:
            # A store passed in has the parent's connection pool (SDK clients
            # have no at-fork hook): build our own from its config, and own it.
            config = getattr(store, "config", None)
            if isinstance(config, StoreConfig):
                self._store_spec = config
                self._own_store = True
        closed = self.closed
        self._build(
            child_writer_id(self._base_id) if self._base_id else None,
            None if self._own_store else store,
        )
        if closed:
            self._buffer.close()

    # -- properties -------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once `close` was called."""
        return self._buffer.state is WriterState.CLOSED

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
        return self._buffer.stats()

    @property
    def _store(self) -> ObjectStore | None:
        """The store in use; None in a forked child until its first upload re-opens it."""
        return self._pipeline.store

    def __repr__(self) -> str:
        store, spec = self._pipeline.store, self._store_spec
        url = (
            store.url if store is not None else spec.url if isinstance(spec, StoreConfig) else spec
        )
        return (
            f"ObjectStoreWriter(store={url!r}, prefix={self._prefix!r},"
            f" writer_id={self._writer_id!r}, closed={self.closed})"
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
            goes to the inbox and returns ``len(data)``; if memory is then
            full with ``when_full="drop"``, it is dropped later and counted
            in `stats` only.

        Raises:
            WriterClosedError: The writer is closed.
            TypeError: `data` is neither str nor bytes.

        Thread safety: safe from any thread; each thread's records are
        stored in the order of its calls.
        """
        return self._buffer.write(data)

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
                if len(chunk) >= WRITELINES_CHUNK:
                    ready, chunk = chunk, []
                    self._buffer.write_many(ready)
        finally:
            # Items before a bad one (TypeError) or a failing iterator are
            # written, as one `write` per item would have done.
            if chunk:
                self._buffer.write_many(chunk)

    def flush(self) -> None:
        """
        Seal the current batch and hand it to the uploader; returns at once.

        A no-op on a closed writer (``logging.shutdown`` flushes after close).

        Thread safety: safe from any thread.
        """
        if self.closed:
            return
        self._buffer.seal()
        self._pipeline.wake()  # also wakes the uploader to re-check its timers

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
        target = self._buffer.seal()
        self._pipeline.expedite()
        self._pipeline.wait_done(target, deadline, "sync")

    def close(self, timeout: float | None = None) -> None:
        """
        Seal, upload everything within one deadline, stop the background threads.

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
        target = self._buffer.close()
        if target < 0:
            return
        try:
            self._pipeline.close(target, deadline)
        finally:
            _shutdown.unregister(self)

    def __enter__(self) -> ObjectStoreWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
