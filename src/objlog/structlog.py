"""
The structlog door: a tee processor and a final logger that write to objlog.

Two shapes, both writing one JSON line per event to an
`objlog.writer.ObjectStoreWriter`:

* `ObjectStoreProcessor` tees each event dict to the writer and returns it
  unchanged, so the rest of the chain (a console renderer, another logger)
  still sees it::

      structlog.configure(processors=[
          structlog.processors.add_log_level,
          structlog.processors.TimeStamper(fmt="iso", utc=True),
          structlog.processors.format_exc_info,
          ObjectStoreProcessor(writer),
          structlog.dev.ConsoleRenderer(),
      ])

* `ObjectStoreLoggerFactory` makes objlog the final sink after
  `structlog.processors.JSONRenderer`, following the conventions of
  structlog's `BytesLoggerFactory`/`BytesLogger`::

      structlog.configure(
          processors=[..., structlog.processors.JSONRenderer()],
          logger_factory=ObjectStoreLoggerFactory(writer),
      )

Records that pass through the stdlib (``structlog.stdlib.ProcessorFormatter``)
reach the store through `objlog.stdlib.ObjectStoreHandler` instead.

Both store exactly one line per event, whatever the renderer: output that
is one JSON object on one line is stored as it is (U+0085, U+2028 and U+2029
escaped); anything else (``ConsoleRenderer`` text, ``KeyValueRenderer``
pairs, an event holding ``\\n{"level": ...}``) is framed as ``{"timestamp":
..., "level": ..., "message": <the rendered text>}``, so no message can
forge a record of its own (CWE-117; see `objlog._jsonl`).

Neither class imports structlog, so importing this module is cheap. Neither
raises into the application: a failed write (e.g. after the writer was
closed) is counted in ``failed`` and reported once on stderr.
"""

from __future__ import annotations

import math
import sys
import time
import traceback
from collections.abc import Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING

from objlog._codec import normalize_record
from objlog._jsonl import (
    TimestampCache,
    dumps,
    escape_line_breaks,
    frame_message,
    json_line,
    record_line,
)
from objlog._report import StderrReporter
from objlog._schema import SPAN_ID, TRACE_ID, level_name, trace_context
from objlog._shutdown import OWN_THREAD as _OWN_THREAD

if TYPE_CHECKING:
    from objlog.writer import ObjectStoreWriter

__all__ = [
    "DEFAULT_LOGGER_NAME",
    "ObjectStoreLogger",
    "ObjectStoreLoggerFactory",
    "ObjectStoreProcessor",
    "add_trace_context",
]

#: The `ObjectStoreLogger.name` of a logger asked for without a name
#: (``structlog.get_logger()``): the stdlib's name for its nameless logger.
DEFAULT_LOGGER_NAME = "root"
# Distinct logger names an `ObjectStoreLoggerFactory` keeps a logger for.
_MAX_NAMED_LOGGERS = 1024

# structlog's method names that are not level names (as structlog's add_log_level maps them).
_LEVEL_OF_METHOD = {
    "warn": "warning",
    "exception": "error",
    "err": "error",
    "failure": "error",
    "fatal": "critical",
    "msg": "info",
    "log": "info",
}


# Members of the event a framed line keeps before its "message" (ObjectStoreProcessor).
_FRAME_FIELDS = ("timestamp", "level", "logger", TRACE_ID, SPAN_ID)

# SDK records made on objlog's uploader threads must never feed back into the
# writer: both sinks ask `in_objlog_thread` first.

# One event is one line (CWE-117): whatever the serializer or renderer returned
# goes through `record_line`, which keeps one JSON object on one line and frames
# anything else as the "message" of one (see `objlog._jsonl`). Lines go to the
# writer as UTF-8 bytes ending in a newline (`normalize_record`: one encode,
# newline included, so the writer takes them as they are). Its "backslashreplace"
# turns a lone surrogate into the text \udcff, which inside a JSON string is the
# escape of the same character (the line stays UTF-8).


class _FailureReport:
    """Count failed writes; tell stderr about the first one."""

    __slots__ = ("_stderr", "failed", "owner")

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.failed = 0
        self._stderr = StderrReporter(math.inf)  # the first line only

    def __call__(self, exc: BaseException) -> None:
        # No lock (fork-safe, never blocks): under races a count may be lost
        # or the first failure reported twice.
        self.failed += 1
        self._stderr(
            f"objlog: {self.owner} could not write an event ({exc!r}); "
            "further failures are only counted"
        )


class _Sink:
    """What both sinks share: the writer, the failure count and the repr."""

    __slots__ = ("_report", "_writer")

    def __init__(self, writer: ObjectStoreWriter, report: _FailureReport | None = None) -> None:
        self._writer = writer
        self._report = report or _FailureReport(type(self).__name__)

    @property
    def writer(self) -> ObjectStoreWriter:
        """The writer lines go to."""
        return self._writer

    @property
    def failed(self) -> int:
        """Events that could not be written (the serializer or the writer failed)."""
        return self._report.failed

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._writer.prefix!r}>"


def _render_exc_info(exc_info: object) -> str | None:
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and exc_info[0] is not None:
        return "".join(traceback.format_exception(*exc_info)).rstrip("\n")
    return None


class ObjectStoreProcessor(_Sink):
    """
    A structlog processor that tees every event dict to an objlog writer.

    The line written is the event dict encoded as one JSON object in
    objlog's record schema (the README's "Record schema"): ``timestamp``
    (RFC 3339 UTC, microseconds; the time of this call) and ``level`` (from
    the method name: ``warn`` -> ``warning``, ``exception`` -> ``error``) put
    first when the dict lacks them, then ``trace_id`` and ``span_id`` of the
    active OpenTelemetry span (when ``opentelemetry-api`` is installed and
    the dict lacks them), and an ``exc_info`` rendered as ``exception`` text
    when no ``exception`` is present. A ``level`` the dict has is written in
    lower case, as every door writes it. objlog only fills in what the event
    lacks, so no event key is ever renamed or dropped: put
    ``TimeStamper(fmt="iso", utc=True)``, ``add_log_level``,
    ``add_logger_name`` and ``format_exc_info`` before it to control those
    fields yourself.

    The event dict itself is returned unchanged, so the processor can sit
    anywhere before the renderer. Events on objlog's own uploader threads
    (botocore/urllib3 records reaching structlog through
    ``ProcessorFormatter``) are passed on but not written, so they never feed
    back into the writer.

    Args:
        writer: Where lines go; the caller owns (and closes) it.
        serializer: Turns the fields into one line (str or bytes); default
            compact JSON with `repr` for values JSON cannot encode. Output
            that is not one JSON object on one line is stored framed, as the
            ``message`` after the event's ``timestamp``, ``level`` and
            ``logger`` (see the module docstring).

    Thread safety: one processor may serve many threads (the writer is
    thread-safe).
    """

    def __init__(
        self,
        writer: ObjectStoreWriter,
        *,
        serializer: Callable[[Mapping[str, object]], str | bytes] | None = None,
    ) -> None:
        super().__init__(writer)
        self._serializer = serializer or dumps
        self._timestamps = TimestampCache()

    def __call__(
        self, logger: object, method_name: str, event_dict: MutableMapping[str, object]
    ) -> MutableMapping[str, object]:
        """
        Write `event_dict` as one line and return it unchanged; never raises.

        Args:
            logger: The wrapped logger (unused).
            method_name: The log method called, e.g. ``"info"``.
            event_dict: The event.

        Returns:
            `event_dict`, the same object.
        """
        if _OWN_THREAD.__dict__.get("active"):  # in_objlog_thread(), inline
            return event_dict
        try:
            fields: Mapping[str, object] = event_dict
            trace = trace_context()
            level = event_dict.get("level")
            if (
                "timestamp" not in event_dict
                or level is None
                or "exc_info" in event_dict
                or (type(level) is str and not level.islower())
                or (trace is not None and (TRACE_ID not in event_dict or SPAN_ID not in event_dict))
            ):
                head: dict[str, object] = {}
                if "timestamp" not in event_dict:
                    head["timestamp"] = self._timestamps.format(time.time())
                if "level" not in event_dict:
                    head["level"] = _LEVEL_OF_METHOD.get(method_name, method_name)
                if trace is not None:
                    if TRACE_ID not in event_dict:
                        head[TRACE_ID] = trace[0]
                    if SPAN_ID not in event_dict:
                        head[SPAN_ID] = trace[1]
                rest = dict(event_dict)
                if type(level) is str:
                    rest["level"] = level_name(level)
                exc_info = rest.pop("exc_info", None)
                if exc_info and "exception" not in rest:
                    text = _render_exc_info(exc_info)
                    if text is not None:
                        rest["exception"] = text
                fields = {**head, **rest}
            if self._serializer is dumps:
                # Our own encoding: one JSON object, control characters already escaped.
                line = escape_line_breaks(dumps(fields))
            else:
                head_fields = fields

                def framing() -> Mapping[str, object]:
                    return {k: head_fields[k] for k in _FRAME_FIELDS if k in head_fields}

                line = record_line(self._serializer(fields), framing)
            self._writer.write(normalize_record(line))
        except Exception as exc:  # noqa: BLE001 - logging must not raise into the application
            self._report(exc)
        return event_dict


def _logger_method(level: str) -> Callable[[ObjectStoreLogger, str | bytes], None]:
    """Return a logger method writing one line, framing non-JSON output at `level`; never raises."""

    def method(self: ObjectStoreLogger, message: str | bytes) -> None:
        # One function, no helper call: this runs on every event.
        if _OWN_THREAD.__dict__.get("active"):  # in_objlog_thread(), inline
            return
        try:
            if type(message) is str:  # a renderer's str: record_line without its closure
                line = json_line(message)
                if line is None:
                    line = frame_message(message, self._framing(level))
            else:
                line = record_line(message, lambda: self._framing(level))
            # Bytes ending in a newline go into the batch as they are.
            self._writer.write((line + "\n").encode("utf-8", "backslashreplace"))
        except Exception as exc:  # noqa: BLE001 - logging must not raise into the application
            self._report(exc)

    method.__doc__ = f"Write `message` as one line (framed at level {level!r} if not JSON)."
    return method


class ObjectStoreLogger(_Sink):
    """
    A structlog logger whose every method writes the rendered event to objlog.

    Meant as the last step after a renderer that returns str or bytes
    (``JSONRenderer``); one call writes one line. Follows structlog's
    `BytesLogger`: ``msg`` and the aliases ``log``, ``debug``, ``info``,
    ``warn``, ``warning``, ``fatal``, ``failure``, ``err``, ``error``,
    ``critical`` and ``exception`` all write; they differ only in the
    ``level`` of a framed line (output that is not one JSON object on one
    line, see the module docstring): the method name, ``warn`` ->
    ``warning``, ``exception``/``err``/``failure`` -> ``error``, ``fatal`` ->
    ``critical``, ``msg``/``log`` -> ``info``. A framed line also carries
    ``logger`` (`name`) and, under an active OpenTelemetry span,
    ``trace_id``/``span_id``; a JSON line is stored as rendered, so add
    those with ``add_logger_name`` and `add_trace_context`. Filter by level
    with the bound logger (``make_filtering_bound_logger``), not here. Calls
    on objlog's own uploader threads write nothing (no feedback loop).

    Args:
        writer: Where lines go; the caller owns (and closes) it.
        name: The logger's `name`, which structlog's ``add_logger_name``
            writes as ``logger``; default `DEFAULT_LOGGER_NAME` (``"root"``).

    Thread safety: safe from any thread (the writer is thread-safe).
    """

    __slots__ = ("_name", "_timestamps")

    def __init__(
        self,
        writer: ObjectStoreWriter,
        name: str = DEFAULT_LOGGER_NAME,
        *,
        _report: _FailureReport | None = None,
    ) -> None:
        super().__init__(writer, _report)
        self._name = name
        self._timestamps = TimestampCache()

    @property
    def name(self) -> str:
        """The logger name (what structlog's ``add_logger_name`` reads)."""
        return self._name

    def _framing(self, level: str) -> dict[str, object]:
        """The members before ``message`` of a framed line."""
        fields: dict[str, object] = {
            "timestamp": self._timestamps.format(time.time()),
            "level": level,
            "logger": self._name,
        }
        trace = trace_context()
        if trace is not None:
            fields[TRACE_ID], fields[SPAN_ID] = trace
        return fields

    msg = log = info = _logger_method("info")
    debug = _logger_method("debug")
    warn = warning = _logger_method("warning")
    err = error = failure = exception = _logger_method("error")
    fatal = critical = _logger_method("critical")


class ObjectStoreLoggerFactory:
    """
    A structlog ``logger_factory`` producing `ObjectStoreLogger` for a writer.

    As structlog's `BytesLoggerFactory`, it takes the positional arguments
    of ``structlog.get_logger(*args)``; the first one, when it is a str,
    names the logger (``get_logger(__name__)``), else the logger is named
    `DEFAULT_LOGGER_NAME`. Calls with the same name share one logger (up to
    1,024 names are remembered; past that each call makes a new one).

    Args:
        writer: Where lines go; the caller owns (and closes) it.

    Thread safety: safe from any thread.
    """

    __slots__ = ("_loggers", "_report", "_writer")

    def __init__(self, writer: ObjectStoreWriter) -> None:
        self._writer = writer
        self._report = _FailureReport(ObjectStoreLogger.__name__)
        self._loggers: dict[str, ObjectStoreLogger] = {}

    def __call__(self, *args: object) -> ObjectStoreLogger:
        """
        Return the logger for the name structlog passes.

        Args:
            *args: What ``structlog.get_logger`` was given; a str first one
                is the logger name, the rest are ignored.

        Returns:
            The `ObjectStoreLogger` of that name, sharing the factory's
            writer and failure count.
        """
        name = args[0] if args and isinstance(args[0], str) else DEFAULT_LOGGER_NAME
        loggers = self._loggers
        found = loggers.get(name)
        if found is None:
            found = ObjectStoreLogger(self._writer, name, _report=self._report)
            if len(loggers) < _MAX_NAMED_LOGGERS:
                # A race may make two loggers of one name: both work the same.
                found = loggers.setdefault(name, found)
        return found


def add_trace_context(
    logger: object, method_name: str, event_dict: MutableMapping[str, object]
) -> MutableMapping[str, object]:
    """
    Add the active OpenTelemetry span's ``trace_id`` and ``span_id`` to an event.

    A structlog processor for chains whose output objlog stores as rendered
    (`ObjectStoreLoggerFactory` after ``JSONRenderer``, or a
    ``ProcessorFormatter``); `ObjectStoreProcessor` adds them itself. Keys the
    event already has are left alone. Nothing is added without
    ``opentelemetry-api`` or a valid active span.

    Args:
        logger: The wrapped logger (unused).
        method_name: The log method called (unused).
        event_dict: The event.

    Returns:
        `event_dict`, with ``trace_id`` (32 hex digits) and ``span_id`` (16)
        added when missing. Never raises.

    Thread safety: safe from any thread; the span is the caller's.
    """
    trace = trace_context()
    if trace is not None:
        event_dict.setdefault(TRACE_ID, trace[0])
        event_dict.setdefault(SPAN_ID, trace[1])
    return event_dict
