"""
The buffered writer: records batched into objects, uploaded off the caller's thread.

`ObjectStoreWriter` is a facade over the engine's parts (`objlog._engine`,
whose docstring draws them, the path of a record and the lock order): it
validates options, opens the store, wires the parts and exposes
``write``/``writelines``/``flush``/``sync``/``close``/``stats``, and for
asyncio ``aflush``/``aclose``/``async with`` (the blocking calls run in a
worker thread; ``write`` itself never waits on the network and may be called
from a coroutine).

A batch is sealed when it reaches `max_size_bytes`, when its first record is
`max_age` seconds old, on `flush`, `sync` and `close`; a sealed batch gets
its key at once and is uploaded by a background thread (up to
`max_concurrency` of them while batches queue up, each PUTting a different
batch), while another thread compresses and hashes up to `ENCODE_AHEAD`
batches ahead of them (zlib releases the GIL). ``write()`` never touches the
network.

Keys follow the store's key layout (`objlog._layout.Layout`; ``layout=``,
the store URL's ``?layout=``, ``OBJLOG_LAYOUT``), by default ``kfp``::

    [PREFIX/]logs/<pipelinerun>/<task>/<UTC key time>-<writer id>-<seq>.jsonl[.gz]

and with ``hive``::

    [PREFIX/]logs/dt=<YYYY-MM-DD>/hour=<HH>/pipelinerun=<pr>/task=<task>/<same name>

The key time is the wall clock when the batch opens. Under a layout with time
partitions (``hive``), a batch is also sealed when its key time's hour ends,
so its records all arrive within the hour its key names.

One writer's keys sort lexically in write order; writer ids are random per
process, restart and fork, so keys never collide and nothing is overwritten.
Gzip batches are ``.jsonl.gz`` with ``Content-Type: application/gzip`` and no
``Content-Encoding``, so browsers and ``aws s3 cp`` keep the bytes compressed
under the ``.gz`` name; plain batches are ``.jsonl`` with ``Content-Type:
application/x-ndjson``. User metadata ``objlog-records`` gives the record count.

Memory is bounded by `max_buffer_bytes` (`objlog._engine.budget`): record
bytes of the current batch plus sealed batches not yet stored or spooled,
each record charged `RECORD_OVERHEAD` bytes more. When it is full,
`when_full` applies: ``"block"`` waits up to `block_timeout` for room,
``"drop"`` drops the new record; both count drops in `stats`, and a
``write`` that returned the record's length never sees it dropped later. A
small record whose ``write`` finds another thread inside the writer is left
in an inbox for that thread instead of waiting (`objlog._engine.buffer`);
a sixteenth of max_buffer_bytes is reserved for that inbox.

With a `spool_dir`, the batch being filled lives in a file-backed mapping in
the spool: a record is there once ``write`` returns and survives the death
of the process (SIGKILL, OOM kill; not a power loss). Every sealed batch's
file is sealed and fsync()ed (unless ``spool_fsync=False``) before its
upload, and full memory makes the caller spool instead of blocking or
dropping. The next writer on the spool uploads what a dead one left, under
its original keys.

Shutdown: `sync`/`close` have one total deadline each; `install_signal_handlers`
and an atexit hook sync or close every live writer within one deadline (see
`objlog._shutdown`). Failures never raise from the background threads: they
go to `stats`, the `on_error` hook and stderr (one line per 10 s).

This module knows nothing of ``logging``, structlog, boto3 or minio.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from objlog import _report, _shutdown
from objlog._codec import normalize_record
from objlog._engine.batch import RECORD_OVERHEAD
from objlog._engine.budget import MemoryBudget, WhenFull
from objlog._engine.buffer import WRITELINES_CHUNK, BatchBuffer, WriterState
from objlog._engine.pipeline import UploadPipeline
from objlog._engine.policy import FlushPolicy
from objlog._engine.queue import ENCODE_AHEAD, SPOOL_GRACE
from objlog._engine.stats import Counters, Reporter, WriterStats
from objlog._layout import (
    BatchNamer,
    Layout,
    TaskKeys,
    check_key_length,
    child_writer_id,
    new_writer_id,
    parse_layout,
    validate_segment,
    validate_writer_id,
)
from objlog._settings import resolve_writer_settings
from objlog._spool import Spool
from objlog.config import StoreConfig, store_layout
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
    Batch records into objects under the store's key layout and upload them.

    Defaults are chosen for S3 cost and latency: an 8 MiB batch is about one
    PUT per 8 MiB of logs (PUTs are billed per request and cost 5-8 ms each
    on loopback), and a 5 s age bound makes logs visible within seconds.

    Objects: see the module docstring (``.jsonl.gz``, no ``Content-Encoding``).
    Options marked *env* left None come from ``OBJLOG_<OPTION>`` (`objlog._settings`).

    Args:
        store: A store object, a store URL (``s3://bucket/prefix``), or None
            for the environment's default (resolved with
            `objlog.stores.open_store`; such a store is owned and closed by
            the writer).
        pipelinerun: Pipeline run name (one key segment).
        task: Task name (one key segment).
        max_size_bytes: *env* Seal a batch at this many record bytes (default 8 MiB).
            A record at least this big gets an object of its own.
        max_age: *env* Seal a batch when its first record is this many seconds old
            (default 5.0).
        max_buffer_bytes: *env* Memory bound for the current batch plus sealed
            batches neither stored nor spooled: their record bytes plus
            `RECORD_OVERHEAD` (48 bytes) per record (default 64 MiB; at
            least `max_size_bytes`).
        when_full: *env* ``"block"`` (default): wait up to `block_timeout` for room,
            then drop the record; after such a timeout, later records are
            dropped at once until an upload makes room, so a long outage
            costs one wait, not one per record. ``"drop"``: drop at once.
            With `spool_dir`, full memory spools sealed batches instead.
        block_timeout: Seconds a `write` may wait for room (default 1.0).
        compression: *env* ``"gzip"`` (default) or ``"none"``.
        compresslevel: *env* gzip level 0-9 (default 1: on JSON log lines level 1
            compresses 2.5-5x faster than level 6 for about 18% more bytes,
            and compression is most of the uploader's CPU time; the
            benchmarks' drain and shutdown figures are bound by it).
        spool_dir: *env* Durable spool directory (default None: no spool; False: never one).
            Batches are filled there (a file-backed mapping: what ``write``
            accepted survives SIGKILL), sealed before upload and removed once
            stored; batches left by a crashed writer are uploaded under their
            original keys by the next writer on the same directory.
        spool_fsync: fsync() each batch's spool file when it is sealed, before
            its upload (default True): sealed batches then survive a power
            loss too. The batch being filled is never fsync()ed (up to
            `max_age` seconds of records are lost on power loss, none on a
            process kill). False leaves write-back to the kernel.
        retry: Retry policy for transient failures (default `RetryPolicy()`).
            When retries are exhausted the batch is kept (and spooled) and
            tried again after `RetryPolicy.cooldown`; it is never dropped.
        sync_timeout: Default seconds for `sync` and `close` (default 10.0).
        max_concurrency: *env* Batches uploaded at once, 1 to 64 (default 4).
            A store 50 ms away takes one PUT per round trip per upload in
            flight: with 4, a busy writer keeps 4 PUTs going (measured on
            2 cores with the benchmarks' ``latency`` group: 1 -> 4 lifts the
            drain 2.4-2.8x; 8 was no faster there and costs threads).
            Uploads beyond the first start only while batches wait; keys
            still sort in write order (fixed when each batch opens), and
            batches in flight stay counted in `max_buffer_bytes`. Above 10,
            raise the S3 store's ``max_pool_connections`` (default 10) too.
        on_error: Called with every upload or spool failure, on a background
            thread (or the caller's, for a spool failure there); must not block.
            Failures also go to stderr, at most one line per 10 s.
        writer_id: Fixed writer id (``A-Za-z0-9_``); default a random one.
            Must be unique among concurrent writers.
        layout: Key layout: ``"kfp"``, ``"hive"``, a template or a
            `objlog._layout.Layout` (default None: the store URL's
            ``?layout=``, else ``OBJLOG_LAYOUT``, else ``"kfp"``; see
            `objlog.config.store_layout`). Readers must use the same one.
        wall_clock: Seconds since the epoch (UTC) for batch key times
            (default `time.time`). Tests pass a fake with `clock`.
        clock: Monotonic seconds used for batch age and retry timing
            (default `time.monotonic`).
        sleep: Waits between retries (default: an interruptible wait on the
            upload pipeline). Tests pass a fake to never really wait.

    Raises:
        ConfigError: An option is out of range, a name is not a valid key
            segment (`objlog._layout.validate_segment`), the longest batch key
            the writer could make would pass S3's 1,024-byte key limit, the
            layout is not a preset or a valid template, or the store URL is
            malformed.

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
        max_size_bytes: int | None = None,
        max_age: float | None = None,
        max_buffer_bytes: int | None = None,
        when_full: str | None = None,
        block_timeout: float = 1.0,
        compression: str | None = None,
        compresslevel: int | None = None,
        spool_dir: str | os.PathLike[str] | Literal[False] | None = None,
        spool_fsync: bool = True,
        retry: RetryPolicy | None = None,
        sync_timeout: float = 10.0,
        max_concurrency: int | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        writer_id: str | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        layout: str | Layout | None = None,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        s = resolve_writer_settings(
            max_size_bytes,
            max_age,
            max_buffer_bytes,
            when_full,
            compression,
            compresslevel,
            spool_dir,
            max_concurrency,
        )
        _check_options(block_timeout, sync_timeout, on_error)
        self._base_id = validate_writer_id(writer_id) if writer_id is not None else None
        # Refuse bad names and layouts before opening a store.
        validate_segment(pipelinerun, "pipelinerun")
        validate_segment(task, "task")
        chosen = parse_layout(layout) if layout is not None else None
        if chosen is None and (store is None or isinstance(store, str)):
            chosen = store_layout(store)  # the URL's ?layout=, else OBJLOG_LAYOUT
        self._source, store = _StoreSource.open(store)
        self.layout = chosen if chosen is not None else store_layout(store)
        self._keys = self.layout.bind(store.prefix, pipelinerun, task)
        self._prefix = self._keys.fixed_prefix()
        check_key_length(self._keys.longest_key(s.codec.suffix), "batch key")
        policy = dataclasses.replace(s.policy, partition_us=self.layout.partition_us)
        self.pipelinerun, self.task = pipelinerun, task
        self.max_size_bytes, self.max_age = s.policy.max_size_bytes, float(s.policy.max_age)
        self.max_buffer_bytes, self.when_full = s.max_buffer_bytes, s.when_full.value
        self.block_timeout, self._sync_timeout = float(block_timeout), float(sync_timeout)
        self.compresslevel = s.compresslevel
        wall = wall_clock or time.time
        self.max_concurrency = s.max_concurrency
        self._wiring = _Wiring(
            keys=self._keys,
            policy=policy,
            budget=(s.max_buffer_bytes, s.when_full, float(block_timeout)),
            compression=(s.codec.name, s.codec.suffix, s.compresslevel),
            spool_root=s.spool_root(store.url),
            spool_fsync=bool(spool_fsync),
            max_concurrency=s.max_concurrency,
            retry=retry if retry is not None else RetryPolicy(),
            on_error=on_error,
            clock=clock or time.monotonic,
            sleep=sleep,
            wall_us=(lambda: time.time_ns() // 1000)
            if wall_clock is None
            else (lambda: int(wall() * 1e6)),
        )
        self._build(self._base_id, store)
        _shutdown.register(self)
        if self._spool is not None:
            self._pipeline.ensure_started()  # recover a crashed writer's spooled batches now

    def _build(self, writer_id: str | None, store: ObjectStore | None) -> None:
        """(Re)build the parts that belong to one process (see `objlog._engine`)."""
        self._writer_id = writer_id or new_writer_id()
        self._spool, self._pipeline, self._buffer = self._wiring.build(
            self._writer_id, store, self._source
        )

    def _after_fork_in_child(self) -> None:
        """Give the child a fresh, empty writer; the parent's batches stay the parent's."""
        if self._spool is not None:
            self._spool.forget_after_fork()
        closed = self.closed
        self._build(
            child_writer_id(self._base_id) if self._base_id else None,
            self._source.for_child(self._pipeline.store),
        )
        if closed:
            self._buffer.close()

    @property
    def closed(self) -> bool:
        """True once `close` was called."""
        return self._buffer.state is WriterState.CLOSED

    @property
    def prefix(self) -> str:
        """
        The part every key of this writer starts with, ending in ``/``.

        ``logs/<pipelinerun>/<task>/`` under ``kfp`` (the store's prefix in
        front); ``logs/`` under ``hive``, whose keys go on with the partition.
        """
        return self._prefix

    @property
    def keys(self) -> TaskKeys:
        """This writer's keys: its layout bound to the store prefix, run and task."""
        return self._keys

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

    def __repr__(self) -> str:
        url = self._source.url(self._pipeline.store)
        return (
            f"ObjectStoreWriter(store={url!r}, prefix={self._keys.describe()!r},"
            f" writer_id={self._writer_id!r}, closed={self.closed})"
        )

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
            ``len(data)`` when accepted (never dropped afterwards), 0 when
            dropped (counted in `stats`) and for an empty `data`, which
            stores nothing. `data` holding inner newlines stores one record
            per line; ``stats.records`` counts them once the batch is encoded.

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
                record = normalize_record(line)
                if record:  # an empty item stores nothing, as write("") does
                    chunk.append(record)
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
        self._pipeline.queue.wake()  # also wakes the uploader to re-check its timers

    def sync(self, timeout: float | None = None) -> None:
        """
        Block until every record accepted so far is stored or spooled.

        A batch the store refused for good is dead-lettered, not waited for
        (see `WriterStats.dead_lettered`). Seals the current batch. With a
        spool, batches are spooled on the calling thread, so this returns
        quickly even while the store is down.

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
        self._pipeline.queue.expedite()
        self._pipeline.queue.wait_done(target, deadline, "sync")

    def close(self, timeout: float | None = None) -> None:
        """
        Seal, upload everything within one deadline, stop the background threads.

        Idempotent. Batches still unstored at the deadline stay in the spool
        (when set; the next writer on it uploads them); without a spool they
        are lost and `SyncTimeout` says how many, as it does for batches the
        store refused for good with no spool to keep them (those are not
        waited for). A spool write already under way at the deadline is
        waited for (up to `SPOOL_GRACE` seconds more).

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

    # asyncio: each blocking call runs in the loop's default executor (a worker
    # thread), so the event loop keeps running while the store is slow.
    async def aflush(self, timeout: float | None = None) -> None:
        """
        Await until every record accepted so far is stored or spooled: `sync` for asyncio.

        Unlike `flush`, which only seals the current batch and returns, this
        waits for what `sync` waits for: an awaited flush that resolved before
        the records were safe would tell a coroutine nothing. The wait runs
        in a worker thread of the event loop's default executor
        (``asyncio.to_thread``), so the loop is never blocked.

        Args:
            timeout: Seconds to wait (default `sync_timeout`).

        Raises:
            SyncTimeout: Time ran out (see `sync`).

        Cancellation: cancelling the awaiting task returns at once; the sync
        goes on in its thread to its deadline and loses nothing.

        Thread safety: as `sync`; call from a coroutine on any event loop.
        """
        import asyncio  # loaded already wherever a coroutine runs: no cost for sync users

        await asyncio.to_thread(self.sync, timeout)

    async def aclose(self, timeout: float | None = None) -> None:
        """
        Await `close` (seal, upload within one deadline, stop the threads) off the event loop.

        The close runs in a worker thread of the loop's default executor
        (``asyncio.to_thread``). Idempotent, like `close`.

        Args:
            timeout: Total seconds for the whole close (default `sync_timeout`).

        Raises:
            SyncTimeout: Batches were neither stored nor spooled at the deadline.

        Cancellation: cancelling the awaiting task returns at once, but the
        writer is closed all the same (later writes raise
        `WriterClosedError`) and the close goes on in its thread to its
        deadline, storing or spooling what it can, as an un-cancelled one
        would; ``asyncio.run`` waits for that thread before it returns.

        Thread safety: as `close`; call from a coroutine on any event loop.
        """
        import asyncio

        await asyncio.to_thread(self.close, timeout)

    async def __aenter__(self) -> ObjectStoreWriter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Wiring:
    """The settings a writer's parts are built from, in each process (again after fork)."""

    keys: TaskKeys
    policy: FlushPolicy
    budget: tuple[int, WhenFull, float]  # max_buffer_bytes, when_full, block_timeout
    compression: tuple[str, str, int]  # codec name, key suffix, level
    spool_root: Path | None
    spool_fsync: bool
    max_concurrency: int
    retry: RetryPolicy
    on_error: Callable[[BaseException], None] | None
    clock: Callable[[], float]
    sleep: Callable[[float], None] | None
    wall_us: Callable[[], int]

    def build(
        self, writer_id: str, store: ObjectStore | None, source: _StoreSource
    ) -> tuple[Spool | None, UploadPipeline, BatchBuffer]:
        """Return a new spool, pipeline and batch buffer wired together (see `objlog._engine`)."""
        spool = Spool(self.spool_root, writer_id) if self.spool_root is not None else None
        counters = Counters()
        budget = MemoryBudget(*self.budget)
        where = self.keys.describe()  # for messages: logs/dt=*/hour=*/... under hive
        pipeline = UploadPipeline(
            prefix=where,
            store=store,
            open_store=source.reopen,
            owns_store=source.owned,
            spool=spool,
            retry=self.retry,
            budget=budget,
            counters=counters,
            report=Reporter(counters, where, self.on_error, STDERR_INTERVAL),
            clock=self.clock,
            sleep=self.sleep,
            thread_name=writer_id,
            spool_fsync=self.spool_fsync,
            max_concurrency=self.max_concurrency,
        )
        name, suffix, level = self.compression
        buffer = BatchBuffer(
            policy=self.policy,
            budget=budget,
            pipeline=pipeline,
            counters=counters,
            namer=BatchNamer(self.keys, writer_id, suffix, wall_us=self.wall_us),
            compression=name,
            compresslevel=level,
            clock=self.clock,
            timer_name=f"objlog-timer-{writer_id}",
        )
        return spool, pipeline, buffer


def _check_options(block_timeout: float, sync_timeout: float, on_error: object) -> None:
    """Raise `ConfigError` for writer options neither the engine nor `objlog._settings` checks."""
    if block_timeout < 0 or sync_timeout < 0:
        raise ConfigError("block_timeout and sync_timeout must be >= 0 seconds")
    if on_error is not None and not callable(on_error):
        raise ConfigError("on_error must be callable")


class _StoreSource:
    """
    Where a writer's store comes from, and who closes it.

    A URL or None is opened here and owned by the writer. A store passed in
    is the caller's, except in a forked child: it has the parent's
    connection pool (SDK clients have no at-fork hook), so when it carries a
    `StoreConfig` the child builds its own from it, and owns that.
    """

    __slots__ = ("owned", "spec")

    def __init__(self, spec: str | StoreConfig | None, *, owned: bool) -> None:
        self.spec = spec
        self.owned = owned

    @classmethod
    def open(cls, store: str | ObjectStore | None) -> tuple[_StoreSource, ObjectStore]:
        """Return the source of `store` and the store itself (opened if a URL or None)."""
        if isinstance(store, str) or store is None:
            from objlog.stores import open_store

            return cls(store, owned=True), open_store(store)
        return cls(None, owned=False), store

    def reopen(self) -> ObjectStore:
        """Open the store again (a forked child's first upload)."""
        from objlog.stores import open_store, store_from_config

        spec = self.spec
        # A config taken over after fork: its bucket exists, create nothing.
        return store_from_config(spec) if isinstance(spec, StoreConfig) else open_store(spec)

    def for_child(self, store: ObjectStore | None) -> ObjectStore | None:
        """In a forked child: the store to keep using, or None to re-open one lazily."""
        config = getattr(store, "config", None)
        if not self.owned and isinstance(config, StoreConfig):
            self.spec, self.owned = config, True
        return None if self.owned else store

    def url(self, store: ObjectStore | None) -> str | None:
        """The store's URL for reprs (never credentials)."""
        if store is not None:
            return store.url
        return self.spec.url if isinstance(self.spec, StoreConfig) else self.spec
