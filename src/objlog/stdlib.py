"""
The stdlib `logging` door: a handler that writes JSON Lines to an object store.

`ObjectStoreHandler` hands every record, rendered as one line, to an
`objlog.writer.ObjectStoreWriter`; the writer batches lines into objects and
uploads them on its own thread. `emit()` therefore never does network I/O
and never raises into the application (it calls `logging.Handler.handleError`
as every stdlib handler does).

`JsonFormatter` renders a record as one JSON object in objlog's record schema
(`objlog._schema`, the README's "Record schema"): ``timestamp`` (RFC 3339,
UTC, microseconds), ``level`` (lower case), ``logger``, ``message``,
``trace_id``/``span_id`` of an active OpenTelemetry span, optionally the
source location, the ``extra=`` fields (one named like objlog's own kept as
``extra.<name>``), ``exception``/``stack`` text, and process and thread
identity. Values JSON cannot encode fall back to `repr`.

`ContextVarsFilter` adds what ``structlog.contextvars`` binds to stdlib
records.

`FeedbackFilter` drops the records that objlog's own uploads would feed back
into the handler (botocore, urllib3, ... logging on objlog's upload thread),
the failure mode of kislyuk/watchtower#65/#93/#115. The handler installs one
itself; attach another to a `logging.handlers.QueueHandler` placed in front
of the handler, because the upload thread is only recognisable where the
record is created.

A ``logging.config.dictConfig`` recipe::

    {"version": 1,
     "handlers": {"bucket": {"class": "objlog.stdlib.ObjectStoreHandler",
                             "store": "s3://logs-bucket/team",
                             "pipelinerun": "run-42", "task": "train",
                             "max_age": 5.0, "compression": "gzip"}},
     "root": {"level": "INFO", "handlers": ["bucket"]}}
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import sys
import time
from _thread import get_ident
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from objlog._jsonl import (
    TimestampCache,
    encode_key,
    encode_value,
    escape_line_breaks,
    frame_message,
    json_line,
    quote,
)
from objlog._package import install_hint
from objlog._report import write_stderr
from objlog._schema import (
    EXTRA_PREFIX,
    SOURCE_FIELDS,
    SPAN_ID,
    TRACE_ID,
    free_name,
    level_name,
    trace_context,
)
from objlog.errors import (
    ConfigError,
    MissingBackendError,
    ObjlogError,
    SyncTimeout,
    WriterClosedError,
)
from objlog.writer import ObjectStoreWriter, in_objlog_thread

if TYPE_CHECKING:
    from objlog.typing import ObjectStore

__all__ = [
    "SDK_LOGGERS",
    "ContextVarsFilter",
    "FeedbackFilter",
    "JsonFormatter",
    "ObjectStoreHandler",
]

#: Loggers whose records objlog's own upload thread produces: dropped there.
SDK_LOGGERS = frozenset({"boto3", "botocore", "minio", "objlog", "s3transfer", "urllib3"})
# Chatty at DEBUG on every request, from any thread: dropped at DEBUG always (as watchtower does).
_DEBUG_DROPPED = frozenset({"botocore", "urllib3"})

# Logger name -> its SDK root logger (in SDK_LOGGERS), or None: FeedbackFilter's
# memo, so most records cost it one dict lookup. Bounded; a race only repeats work.
_SDK_ROOT: dict[str, str | None] = {}
_SDK_ROOT_MAX = 4096
# The threads inside an ObjectStoreHandler's emit, any handler's (see `emit`): a
# record logged from there (a formatter, a stderr redirected to logging) is
# dropped instead of recursing. A set of thread ids costs a third of a
# threading.local here; it is emptied in a forked child, where a new thread may
# get the id of a parent's thread that was inside emit at the fork.
_EMITTING: set[int] = set()
os.register_at_fork(after_in_child=_EMITTING.clear)

# Every attribute a plain LogRecord carries: the others are `extra=` fields.
_PLAIN_RECORD = vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None))
# What logging.Formatter.format adds to a record it formats (another handler's
# formatter may have run first): derived from the record, not `extra=` fields.
_DERIVED = frozenset({"message", "asctime"})
# LogRecord.__init__ always sets the same attributes, so `extra=` fields (set by
# makeRecord, filters, makeLogRecord) come after the first _N_STANDARD in __dict__ order.
_N_STANDARD = len(_PLAIN_RECORD)
# Members JsonFormatter may write itself (objlog._schema): an `extra=` field of
# the same name is kept as "extra.<name>", never dropped, never in their place.
_CORE = frozenset(
    {
        "timestamp",
        "level",
        "logger",
        "message",
        TRACE_ID,
        SPAN_ID,
        *SOURCE_FIELDS,
        "exception",
        "stack",
        "process",
        "process_name",
        "thread",
        "thread_name",
    }
)

# Python >= 3.12: Filterer.filter returns the (possibly replaced) record, not True.
_FILTER_RETURNS_RECORD = sys.version_info >= (3, 12)
# What logging.Handler.format uses when no formatter is set.
_DEFAULT_FORMATTER = logging.Formatter()
# Distinct (level, logger) and (process, thread) pairs remembered per formatter.
_CACHE_ENTRIES = 1024


class JsonFormatter(logging.Formatter):
    """
    Render a `logging.LogRecord` as one JSON object on one line.

    Members, in this order (the README's "Record schema"): ``timestamp``
    (RFC 3339 UTC with microseconds, e.g. ``2026-11-21T11:40:30.123456Z``,
    from ``record.created``), ``level`` (``levelname`` in lower case:
    ``"warning"``), ``logger`` (``name``), ``message`` (``getMessage()``),
    ``trace_id`` and ``span_id`` (the active OpenTelemetry span's, in hex,
    when ``opentelemetry-api`` is installed and a valid span is active where
    the record is formatted), with `source` ``code.file.path``,
    ``code.line.number`` and ``code.function.name`` (OTel's names for
    ``pathname``, ``lineno``, ``funcName``), the `static_fields`, every
    ``extra=`` field (record attributes outside the standard `LogRecord`
    set), ``exception`` (the formatted traceback of ``exc_info``), ``stack``
    (``stack_info``), ``process``, ``process_name``, ``thread``,
    ``thread_name``.

    An ``extra=`` field named like one of those members (whether or not this
    record has it) or a static field keeps its value under ``"extra.<name>"``
    (``"extra.extra.<name>"`` if that is taken too): nothing is dropped and
    objlog's members keep objlog's values. Values JSON cannot encode fall
    back to `repr`; formatting never raises for a value.

    Args:
        static_fields: Extra members added to every line (e.g. a host or
            service name), before the ``extra=`` fields; default none.
        source: Add the source location members (default False: they cost
            about 60 bytes a record).

    Raises:
        ConfigError: A static field is named like one of the members above.

    Thread safety: one formatter may serve many threads.
    """

    def __init__(
        self, static_fields: Mapping[str, object] | None = None, *, source: bool = False
    ) -> None:
        super().__init__()
        static = dict(static_fields or {})
        clashes = sorted(str(k) for k in static if k in _CORE)
        if clashes:
            raise ConfigError(
                f"static_fields may not use the record's own member names: {', '.join(clashes)}"
            )
        self._static = "".join(f",{encode_key(k)}:{encode_value(v)}" for k, v in static.items())
        self._taken = _CORE | frozenset(static)
        self._source = bool(source)
        self._timestamps = TimestampCache()
        self._heads: dict[tuple[object, object], str] = {}
        self._tails: dict[tuple[object, ...], str] = {}
        self._keys: dict[str, str] = {}

    @staticmethod
    def _cache(cache: dict[Any, str], key: object, text: str) -> str:
        """Remember `text` for `key` (if hashable); bounded, cleared when full."""
        with contextlib.suppress(TypeError):
            if len(cache) >= _CACHE_ENTRIES:
                cache.clear()
            cache[key] = text
        return text

    def format(self, record: logging.LogRecord) -> str:
        """
        Return the record as one line of JSON (no trailing newline).

        Args:
            record: The record to render.

        Returns:
            The JSON object as text.
        """
        # Assembled by hand: ~2x faster than json.dumps of a dict, and each
        # value falls back to repr on its own (see `encode_value`).
        # The level/logger and process/thread members repeat: their JSON text
        # is cached (a dict lookup instead of four encodings each).
        level_logger = (record.levelname, record.name)
        try:
            head = self._heads[level_logger]
        except (KeyError, TypeError):
            head = self._cache(
                self._heads,
                level_logger,
                f',"level":{encode_value(level_name(level_logger[0]))}'
                f',"logger":{encode_value(level_logger[1])}',
            )
        message = record.getMessage()
        parts = [
            f'{{"timestamp":"{self._timestamps.format(record.created)}"{head}'
            f',"message":{quote(message) if type(message) is str else encode_value(message)}'
        ]
        trace = trace_context()
        if trace is not None:
            parts.append(f',"{TRACE_ID}":"{trace[0]}","{SPAN_ID}":"{trace[1]}"')
        if self._source:
            parts.append(
                f',"{SOURCE_FIELDS[0]}":{encode_value(record.pathname)}'
                f',"{SOURCE_FIELDS[1]}":{encode_value(record.lineno)}'
                f',"{SOURCE_FIELDS[2]}":{encode_value(record.funcName)}'
            )
        parts.append(self._static)
        attrs = record.__dict__
        if len(attrs) > _N_STANDARD:
            # The text of each `extra=` key (",\"key\":") is cached; str values,
            # the common ones, skip the call to `encode_value`.
            keys = self._keys
            append = parts.append
            used: set[str] | None = None
            for key, value in itertools.islice(attrs.items(), _N_STANDARD, None):
                text = keys.get(key)
                if text is None:
                    if key in _DERIVED:
                        continue
                    if key in self._taken:
                        # Named like one of objlog's members: kept under a free "extra." name.
                        if used is None:
                            used = set(self._taken)
                            used.update(itertools.islice(attrs, _N_STANDARD, None))
                        renamed = free_name(key, used)
                        used.add(renamed)
                        text = f",{encode_key(renamed)}:"
                    else:
                        text = self._cache(keys, key, f",{encode_key(key)}:")
                # A str cannot fail to quote; everything else may (see `encode_value`).
                append(text + (quote(value) if type(value) is str else encode_value(value)))
        if record.exc_info and not record.exc_text:
            # Cached on the record as logging.Formatter does, for other handlers.
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            parts.append(f',"exception":{encode_value(record.exc_text)}')
        if record.stack_info:
            parts.append(f',"stack":{encode_value(self.formatStack(record.stack_info))}')
        identity = (record.process, record.processName, record.thread, record.threadName)
        try:
            tail = self._tails[identity]
        except (KeyError, TypeError):
            tail = self._cache(
                self._tails,
                identity,
                f',"process":{encode_value(identity[0])}'
                f',"process_name":{encode_value(identity[1])}'
                f',"thread":{encode_value(identity[2])}'
                f',"thread_name":{encode_value(identity[3])}}}',
            )
        parts.append(tail)
        return "".join(parts)


class ContextVarsFilter(logging.Filter):
    """
    Add the context bound with ``structlog.contextvars`` to every record.

    ``structlog.contextvars.bind_contextvars(request_id=...)`` then shows in
    stdlib records too, as ``extra=`` fields. As structlog's
    ``merge_contextvars`` does for its events, a field the record already
    carries (an explicit ``extra=``) wins; the bound value is kept as well,
    under ``"extra.<name>"`` (`objlog._schema.free_name`), as is a bound
    name a `LogRecord` attribute already uses (``name``, ``msg``, ...), so
    nothing is dropped and the record's own attributes are never replaced.

    Attach it where the record is made: to `ObjectStoreHandler` (or pass
    ``contextvars=True``), to a logger, or to a `QueueHandler` in front of
    the handler (the listener thread has no such context).

    Raises:
        MissingBackendError: structlog is not installed.

    Thread safety: stateless; safe from any thread (the context read is the
    calling thread's or task's).
    """

    def __init__(self) -> None:
        super().__init__()
        try:
            from structlog.contextvars import get_contextvars
        except ImportError as exc:
            raise MissingBackendError(
                f"ContextVarsFilter reads structlog's context: {install_hint('structlog')}"
            ) from exc
        self._get_contextvars = get_contextvars

    def filter(self, record: logging.LogRecord) -> bool:
        """
        Merge the bound context into `record`; always pass it.

        Args:
            record: The record to enrich.

        Returns:
            True.
        """
        try:
            context = self._get_contextvars()
            if context:
                attrs = record.__dict__
                for key, value in context.items():
                    name = key if isinstance(key, str) else str(key)
                    while name in attrs or name in _DERIVED:
                        if attrs.get(name) is value:
                            break  # merged already (a second filter on the record's path)
                        name = EXTRA_PREFIX + name
                    else:
                        attrs[name] = value
        except Exception:  # noqa: BLE001 - a filter never raises into the application
            return True
        return True


class FeedbackFilter(logging.Filter):
    """
    Drop records that objlog's own uploads would feed back into a handler.

    Dropped: records of the `SDK_LOGGERS` (``boto3``, ``botocore``,
    ``minio``, ``objlog``, ``s3transfer``, ``urllib3`` and their children)
    created on objlog's upload thread, and ``botocore``/``urllib3`` records
    at DEBUG or below from any thread (they describe every request, as in
    watchtower's filter). Everything else passes.

    `ObjectStoreHandler` installs one; add another to a `QueueHandler` that
    feeds the handler, since the thread is only known where records are made.

    Thread safety: stateless; safe from any thread.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """
        Return False for a feedback record, True otherwise.

        Args:
            record: The record to judge.

        Returns:
            Whether the record may be emitted.
        """
        name = record.name
        if type(name) is not str:  # a hand-made record; never raise from a filter
            return True
        root = _SDK_ROOT.get(name, "")
        if root == "":  # first record of this logger name: classify it once
            root = name.partition(".")[0]
            root = root if root in SDK_LOGGERS else None
            if len(_SDK_ROOT) >= _SDK_ROOT_MAX:  # names made per request: stay bounded
                _SDK_ROOT.clear()
            _SDK_ROOT[name] = root
        if root is None:
            return True
        levelno = record.levelno
        if root in _DEBUG_DROPPED and type(levelno) is int and levelno <= logging.DEBUG:
            return False
        return not in_objlog_thread()


class ObjectStoreHandler(logging.Handler):
    """
    Write log records as JSON Lines through an objlog writer to an object store.

    Give either `writer` (an `objlog.writer.ObjectStoreWriter` you own) or
    `store`, `pipelinerun` and `task` (plus any writer option) to have the
    handler make and own its writer. All arguments are plain keywords, so
    ``logging.config.dictConfig`` can build the handler from a dict.

    `emit()` formats the record (default `JsonFormatter`; `setFormatter`
    replaces it) and calls ``writer.write`` with exactly one line, so one
    record is always one stored line and a message cannot forge another
    (CWE-117). A formatter's output that is one JSON object on one line
    (`JsonFormatter`'s, python-json-logger's, structlog's
    ``ProcessorFormatter`` with ``JSONRenderer``) is stored as it is, with
    U+0085, U+2028 and U+2029 escaped. Any other output, say a
    ``logging.Formatter("%(levelname)s %(message)s")`` line, a traceback, or
    the bare message of ``"%(message)s"`` even when it looks like JSON, is
    framed as ``{"timestamp": ..., "level": ..., "logger": ..., "message":
    <the formatted text>}`` (``timestamp``, ``level`` and, under an active
    OpenTelemetry span, ``trace_id``/``span_id`` as `JsonFormatter` writes
    them; the message last), so
    newlines, ``\\r``, NUL and other control characters stay inside the
    JSON string and ``objlog cat`` shows a normal record (`objlog._jsonl`).
    So behind a `QueueHandler`, leave the formatting to this handler: a
    JSON text the queue side formatted into the message is, by the rule
    above, stored as a message.
    it never does network I/O and never raises: failures go to
    `handleError` (a stderr report when ``logging.raiseExceptions``), except
    `RecursionError`, re-raised as `logging.StreamHandler` does. Records
    arriving after the writer closed (objlog's own ``atexit`` hook closes
    writers before ``logging.shutdown()`` runs) are counted in `dropped` and
    reported once. A record logged from inside `emit` on the same thread (a
    formatter that logs) is dropped instead of recursing. A `FeedbackFilter`
    is installed (see there); behind a `QueueHandler`, add one to it too.

    Wait time is bounded by the writer: with ``when_full="block"`` (its
    default) a full buffer makes `emit` wait up to the writer's
    ``block_timeout`` before the record is dropped and counted.

    `flush()` blocks until every accepted record is stored or spooled, for at
    most `flush_timeout` seconds. `close()` closes a writer the handler made
    (a writer passed in stays open: its owner closes it; `close()` syncs it).
    ``logging.shutdown()`` calls ``flush()`` then ``close()``: when the flush
    ran out of time (the store is unreachable), the close only gets what is
    left of the same `flush_timeout` budget, so shutdown never waits much
    longer than `flush_timeout`.

    After ``os.fork()`` the child may keep logging: the writer starts afresh
    in the child (new writer id, own uploader thread) and ``logging``
    re-initialises the handler lock itself.

    Args:
        store: Store URL (``s3://bucket/prefix``, ``file:///dir``), an
            `objlog.typing.ObjectStore`, or None for the configured default
            (``OBJLOG_STORE``, then the embedded default).
        pipelinerun: Pipeline run name, the first key segment below ``logs/``.
        task: Task name, the second key segment.
        writer: An existing writer; excludes `store`, `pipelinerun`, `task`
            and writer options.
        level: Handler level (default ``logging.NOTSET``).
        flush_timeout: Seconds `flush()` and `close()` may wait (default 10.0).
        source: Have the default `JsonFormatter` add the source location
            (``code.file.path``, ``code.line.number``, ``code.function.name``);
            default False.
        contextvars: Install a `ContextVarsFilter`, so context bound with
            ``structlog.contextvars`` appears in every record; default False.
        **writer_options: Passed to `ObjectStoreWriter` (``max_size_bytes``,
            ``max_age``, ``max_buffer_bytes``, ``when_full``, ``compression``,
            ``spool_dir``, ``max_concurrency`` ...).

    Raises:
        ConfigError: Both or neither of `writer` and `pipelinerun`/`task`,
            a negative `flush_timeout`, an unknown or malformed writer option,
            or a bad store URL.
        MissingBackendError: The store URL needs an SDK that is not
            installed, or `contextvars` is set without structlog.
        StoreError: Opening the store failed (only when its URL asks for
            ``create_bucket``).

    Thread safety: every method may be called from any thread. Unlike the
    stdlib's handlers, `handle` formats and writes without taking the
    handler lock (the writer is thread-safe), so the formatter must be safe
    to call from several threads at once, as `logging.Formatter` and
    `JsonFormatter` are.
    """

    def __init__(
        self,
        store: str | ObjectStore | None = None,
        *,
        pipelinerun: str | None = None,
        task: str | None = None,
        writer: ObjectStoreWriter | None = None,
        level: int | str = logging.NOTSET,
        flush_timeout: float = 10.0,
        source: bool = False,
        contextvars: bool = False,
        **writer_options: object,
    ) -> None:
        if not (isinstance(flush_timeout, (int, float)) and math.isfinite(flush_timeout)):
            raise ConfigError(f"flush_timeout must be a finite number, got {flush_timeout!r}")
        if flush_timeout < 0:
            raise ConfigError(f"flush_timeout must be >= 0 seconds, got {flush_timeout!r}")
        if writer is not None:
            if store is not None or pipelinerun is not None or task is not None or writer_options:
                raise ConfigError(
                    "give either writer= or store/pipelinerun/task and writer options, not both"
                )
            owns_writer = False
        else:
            if pipelinerun is None or task is None:
                raise ConfigError("ObjectStoreHandler needs pipelinerun= and task= (or writer=)")
            try:
                writer = ObjectStoreWriter(
                    store,
                    pipelinerun=pipelinerun,
                    task=task,
                    **writer_options,  # type: ignore[arg-type]
                )
            except TypeError as exc:  # an unknown option, or a value of the wrong type
                raise ConfigError(f"bad ObjectStoreHandler writer option: {exc}") from exc
            owns_writer = True
        super().__init__(level)
        self._writer = writer
        self._owns_writer = owns_writer
        self._flush_timeout = float(flush_timeout)
        self._closed = False
        self._budget_end = -math.inf  # end of a flush budget that ran out, for close()
        self._dropped = 0
        self._timestamps = TimestampCache()  # for records a foreign formatter's text is framed in
        self._feedback = FeedbackFilter()
        self.addFilter(self._feedback)
        if contextvars:
            self.addFilter(ContextVarsFilter())
        self.setFormatter(JsonFormatter(source=source))

    @property
    def writer(self) -> ObjectStoreWriter:
        """The writer records go to."""
        return self._writer

    @property
    def flush_timeout(self) -> float:
        """Seconds `flush()` and `close()` may wait together."""
        return self._flush_timeout

    @property
    def dropped(self) -> int:
        """Records dropped because the writer was already closed (approximate under threads)."""
        return self._dropped

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"<{type(self).__name__} {self._writer.prefix!r} ({level})>"

    def handle(self, record: logging.LogRecord) -> bool:
        """
        Filter `record` and emit it, as `logging.Handler.handle` but without the handler lock.

        The writer is thread-safe; holding the handler lock around formatting
        and writing made threads queue on it, and with the GIL each hand-over
        cost a thread switch: 4 threads logged 2.5x slower than one (37k vs
        72-88k records/s without the lock, memory store).

        With only the `FeedbackFilter` installed (the default) the filter is
        called directly instead of through `logging.Filterer.filter`; any
        other filters take the stdlib's path (which may replace the record on
        Python >= 3.12).

        Args:
            record: The record to handle.

        Returns:
            What `logging.Handler.handle` returns: false when a filter
            dropped the record, else the record (Python >= 3.12) or True.
        """
        filters = self.filters
        if len(filters) == 1 and filters[0] is self._feedback:
            if not self._feedback.filter(record):
                return False
            passed: logging.LogRecord | bool = record if _FILTER_RETURNS_RECORD else True
        else:
            passed = self.filter(record)
            if not passed:
                return passed
            if isinstance(passed, logging.LogRecord):
                record = passed
        self.emit(record)
        # Python >= 3.12 returns the record here (typeshed still says bool).
        return passed  # type: ignore[return-value]

    def emit(self, record: logging.LogRecord) -> None:
        """
        Format `record` and hand the line to the writer; never raises.

        A record logged while this thread is already inside an
        `ObjectStoreHandler`'s `emit` (a formatter logging, or stderr
        redirected to logging) is dropped instead of recursing.

        Args:
            record: The record to write.
        """
        ident = get_ident()
        if ident in _EMITTING:
            return
        _EMITTING.add(ident)
        try:
            # The formatter directly (as Handler.format does, one call less); the
            # writer encodes the str once as UTF-8 with the newline added, and
            # "backslashreplace" there turns a lone surrogate into the text
            # \udcff, which inside a JSON string is the escape of the same character.
            formatter = self.formatter or _DEFAULT_FORMATTER
            text = formatter.format(record)
            if type(formatter) is JsonFormatter:
                # Our own output: one JSON object, control characters already escaped
                # (skips json_line's scan, about 1 us per 200-character line).
                # Bytes ending in a newline go into the batch as they are (no
                # normalize_record call in the writer).
                self._writer.write(
                    (escape_line_breaks(text) + "\n").encode("utf-8", "backslashreplace")
                )
            else:
                line = json_line(text)
                # "%(message)s": the whole line is the caller's text; JSON in it is text.
                if line is None or text == record.__dict__.get("message"):
                    line = self._frame(text, record)
                self._writer.write(line)
        except WriterClosedError as exc:
            # Records after the writer closed (late atexit hooks): one report, then a count.
            self._dropped += 1
            if self._dropped == 1:
                self._report("records after the writer was closed are dropped", exc)
        except RecursionError:  # as logging.StreamHandler: do not mask a real recursion bug
            raise
        except Exception:  # noqa: BLE001 - the stdlib contract: report, never raise
            self.handleError(record)
        finally:
            _EMITTING.discard(ident)

    def _frame(self, text: str, record: logging.LogRecord) -> str:
        """Frame a formatter's non-JSON `text` as the message of one JSON line."""
        fields: dict[str, object] = {
            "timestamp": self._timestamps.format(record.created),
            "level": level_name(record.levelname),
            "logger": record.name,
        }
        trace = trace_context()
        if trace is not None:
            fields[TRACE_ID], fields[SPAN_ID] = trace
        return frame_message(text, fields)

    def flush(self) -> None:
        """
        Block until every record so far is stored or spooled, at most `flush_timeout`.

        A timeout or store failure is reported on stderr (as `handleError`
        does), not raised. Does nothing after `close()`.
        """
        if self._closed or self._writer.closed:
            return  # objlog's atexit hook may have closed the writer already
        start = time.monotonic()
        try:
            self._writer.sync(self._flush_timeout)
        except SyncTimeout as exc:
            self._budget_end = start + self._flush_timeout
            self._report(f"flush ran out of time after {self._flush_timeout:g} s", exc)
        except ObjlogError as exc:
            self._report("flush failed", exc)
        else:
            self._budget_end = -math.inf

    def close(self) -> None:
        """
        Close the handler (idempotent) and its writer if the handler made it.

        Waits at most `flush_timeout` seconds, or only what is left of the
        budget of a `flush()` that just ran out of time; a timeout is reported
        on stderr, not raised. A writer passed in is synced, not closed.
        """
        self.acquire()  # re-entrant: logging.shutdown() already holds it
        try:
            if self._closed:
                return
            self._closed = True
        finally:
            self.release()
        try:
            timeout = self._flush_timeout
            remaining = self._budget_end - time.monotonic()
            if remaining > -timeout:
                # The last flush ran out of time moments ago: share its budget.
                timeout = max(0.0, remaining)
            try:
                if self._writer.closed:
                    pass
                elif self._owns_writer:
                    self._writer.close(timeout)
                else:
                    self._writer.sync(timeout)
            except SyncTimeout as exc:
                self._report(f"close ran out of time after {timeout:g} s", exc)
            except ObjlogError as exc:
                self._report("close failed", exc)
        finally:
            super().close()

    def _report(self, what: str, exc: BaseException) -> None:
        # handleError's contract: quiet unless logging.raiseExceptions; never raise.
        if logging.raiseExceptions:
            write_stderr(f"objlog: {self!r}: {what}: {exc}")
