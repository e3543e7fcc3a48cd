"""
A writer's counters and the snapshot `ObjectStoreWriter.stats` returns.

Counters change per batch or per failure, never per accepted record: the
current batch counts its own records (`objlog._engine.buffer`) and adds them
here when sealed.

Thread safety: `Counters` has its own lock, the innermost of the engine's
(see `objlog._engine`): no other lock is taken while it is held.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from objlog import _report

__all__ = ["Counters", "Reporter", "WriterStats"]


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
        dead_lettered: Batches the store refused for good (`PermanentStoreError`:
            access denied, no such bucket, an invalid key), set aside and
            never retried: in the spool's ``.dead/`` folder, or without a
            spool in memory until `close` (which counts them lost). Not in
            `failures`.
        dead_lettered_records: Records of those batches.
        stored_records: Records of this writer's own sealed batches now stored
            (batches recovered from an earlier writer's spool are not counted).
        spooled_records: Records of this writer's sealed batches that are in
            the spool and not stored (yet): the next writer on it uploads them.
        unsaved_records: Records of this writer's sealed batches neither stored
            nor spooled: in memory; after `close`, lost.
        spooled_spans: ``(first, records)`` of each batch counted in
            `spooled_records`, in seal order: ``first`` is the index of its
            first record among all records sealed by this writer (0-based,
            in the order `write` accepted them).
        unsaved_spans: The same for the batches counted in `unsaved_records`.

    The ``*_records`` and ``*_spans`` fields count sealed batches only: the
    current batch counts in `records` alone until it is sealed (`flush`,
    `sync`, `close` seal it). A caller that knows what each record holds
    (``objlog run``: the lines of one read) maps spans back to its own units.
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
    dead_lettered: int = 0
    dead_lettered_records: int = 0
    stored_records: int = 0
    spooled_records: int = 0
    unsaved_records: int = 0
    spooled_spans: tuple[tuple[int, int], ...] = ()
    unsaved_spans: tuple[tuple[int, int], ...] = ()


@dataclass(slots=True)
class _Span:
    """Lock held: the records of one sealed batch not yet stored, and whether it is spooled."""

    first: int
    records: int
    spooled: bool = False


class Counters:
    """
    Cumulative counters of one writer (one process: a forked child starts anew).

    Thread safety: every method is safe from any thread.
    """

    __slots__ = (
        "_lock",
        "_open",
        "_sealed",
        "bytes_in",
        "bytes_stored",
        "dead_lettered",
        "dead_lettered_records",
        "dropped_bytes",
        "dropped_records",
        "failures",
        "last_error",
        "objects",
        "records",
        "retries",
        "spooled",
        "stored_records",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records = 0
        self.bytes_in = 0
        self.bytes_stored = 0
        self.objects = 0
        self.retries = 0
        self.failures = 0
        self.dropped_records = 0
        self.dropped_bytes = 0
        self.spooled = 0
        self.stored_records = 0
        self.last_error: str | None = None
        self.dead_lettered = 0
        self.dead_lettered_records = 0
        # Sealed batches not yet stored, by key, in seal order (bounded by the
        # memory budget and the spool: one small entry per batch in flight).
        self._open: dict[str, _Span] = {}
        self._sealed = 0  # records sealed, as write accepted them (`records` counts lines)

    def sealed(self, records: int, raw_bytes: int, key: str | None = None) -> None:
        """A batch of `records` records and `raw_bytes` bytes was sealed (as object `key`)."""
        with self._lock:
            if key is not None:
                self._open[key] = _Span(self._sealed, records)
            self._sealed += records
            self.records += records
            self.bytes_in += raw_bytes

    def recounted(self, delta: int) -> None:
        """A sealed batch held `delta` more lines than the writes that made it."""
        with self._lock:
            self.records += delta

    def dropped(self, size: int) -> None:
        """A record of `size` bytes was dropped."""
        with self._lock:
            self.dropped_records += 1
            self.dropped_bytes += size

    def stored(self, body_bytes: int, key: str | None = None) -> None:
        """An object of `body_bytes` bytes was stored (the batch sealed as `key`)."""
        with self._lock:
            self.objects += 1
            self.bytes_stored += body_bytes
            span = self._open.pop(key, None) if key is not None else None
            if span is not None:
                self.stored_records += span.records

    def spooled_batches(self, n: int, keys: Iterable[str] = ()) -> None:
        """`n` batches were written to the spool (those among `keys` not stored meanwhile)."""
        with self._lock:
            self.spooled += n
            for key in keys:
                span = self._open.get(key)  # None: stored meanwhile, or recovered
                if span is not None:
                    span.spooled = True

    def retried(self, message: str) -> None:
        """An attempt failed transiently and is retried."""
        with self._lock:
            self.retries += 1
            self.last_error = message

    def failed(self) -> None:
        """An upload gave up after its retries (the batch is kept)."""
        with self._lock:
            self.failures += 1

    def set_aside(self, records: int) -> None:
        """A batch of `records` records was dead-lettered (refused for good)."""
        with self._lock:
            self.dead_lettered += 1
            self.dead_lettered_records += records

    def error(self, message: str) -> None:
        """Remember the last failure."""
        with self._lock:
            self.last_error = message

    def snapshot(
        self, *, current_records: int, current_bytes: int, queue_depth: int
    ) -> WriterStats:
        """Return the counters with the current batch's records and the queue depth added."""
        with self._lock:
            spooled = tuple((s.first, s.records) for s in self._open.values() if s.spooled)
            unsaved = tuple((s.first, s.records) for s in self._open.values() if not s.spooled)
            return WriterStats(
                records=self.records + current_records,
                bytes_in=self.bytes_in + current_bytes,
                bytes_stored=self.bytes_stored,
                objects=self.objects,
                retries=self.retries,
                failures=self.failures,
                dropped_records=self.dropped_records,
                dropped_bytes=self.dropped_bytes,
                spooled=self.spooled,
                queue_depth=queue_depth,
                last_error=self.last_error,
                dead_lettered=self.dead_lettered,
                dead_lettered_records=self.dead_lettered_records,
                stored_records=self.stored_records,
                spooled_records=sum(n for _, n in spooled),
                unsaved_records=sum(n for _, n in unsaved),
                spooled_spans=spooled,
                unsaved_spans=unsaved,
            )


@dataclass(slots=True, eq=False)
class Reporter:
    """
    Record a failure: `Counters.last_error`, the ``on_error`` hook, a rate-limited stderr line.

    Args:
        counters: Where the last error is kept.
        prefix: The writer's key prefix, at the start of each stderr line.
        on_error: Called with the exception; must not block (its own errors are ignored).
        interval: Seconds between two stderr lines.

    Thread safety: safe from any thread; never raises.
    """

    counters: Counters
    prefix: str
    on_error: Callable[[BaseException], None] | None
    interval: float = _report.STDERR_INTERVAL
    _stderr: _report.StderrReporter = field(init=False)

    def __post_init__(self) -> None:
        self._stderr = _report.StderrReporter(self.interval)

    def __call__(self, exc: BaseException, what: str) -> None:
        """Report `exc`, which happened while doing `what`."""
        try:
            message = f"{what}: {type(exc).__name__}: {exc}"
            self.counters.error(message)
            if self.on_error is not None:
                with contextlib.suppress(Exception):
                    self.on_error(exc)
            self._stderr(f"objlog: {self.prefix}: {message}")
        except Exception:  # noqa: BLE001, S110 - reporting must never take the writer down
            pass
