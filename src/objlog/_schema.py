"""
The one record schema the logging doors write (`objlog.stdlib`, `objlog.structlog`).

Every record objlog encodes itself is one JSON object whose names follow the
OpenTelemetry log data model where one fits (the README's "Record schema"
table lists them all):

* ``level`` is lower case (``"info"``, ``"warning"``): structlog's
  ``add_log_level`` writes it so, and structlog events pass through objlog
  unchanged, so lower case is the one case no door has to rewrite a user's
  event for. The reader accepts either case (records written before this
  schema have ``"INFO"``).
* ``trace_id`` (32 hex digits) and ``span_id`` (16 hex digits), the W3C
  Trace Context form OTel uses, come from the active OpenTelemetry span when
  ``opentelemetry-api`` is importable and that span is valid. objlog does not
  depend on it: the import is tried once, on the first record, and a failure
  is remembered, so without it each record pays one global read.
* Source location, when asked for, uses OTel's current semantic-convention
  names ``code.file.path``, ``code.line.number`` and ``code.function.name``
  (semconv 1.30 renamed ``code.filepath``, ``code.lineno``, ``code.function``).
* A field a user supplies under a name objlog writes itself (``extra=
  {"level": ...}``) is neither dropped nor allowed to replace objlog's
  value: it is kept under `EXTRA_PREFIX` (``"extra.level"``), with one more
  prefix for as long as the name is still taken (`free_name`).
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import Any

__all__ = [
    "EXTRA_PREFIX",
    "SOURCE_FIELDS",
    "SPAN_ID",
    "TRACE_ID",
    "free_name",
    "level_name",
    "trace_context",
]

#: Put before a user's field name that objlog's own fields already use.
EXTRA_PREFIX = "extra."
#: OTel TraceId / SpanId, lower-case hex (W3C Trace Context).
TRACE_ID = "trace_id"
SPAN_ID = "span_id"
#: OTel semantic conventions for a source location: file path, line, function.
SOURCE_FIELDS = ("code.file.path", "code.line.number", "code.function.name")


def level_name(name: object) -> str:
    """
    Return a level name in the schema's case: lower case.

    Args:
        name: A level name (``"INFO"``, ``"warning"``, a custom level's
            name); anything else is turned into text first.

    Returns:
        The lower-case name.

    Thread safety: pure; call from any thread.
    """
    text = name if type(name) is str else str(name)
    return text.lower()


def free_name(name: str, taken: Container[str]) -> str:
    """
    Return `name` prefixed with `EXTRA_PREFIX` as often as needed to be free.

    Args:
        name: A user's field name that collides with one of objlog's.
        taken: Every name already in use in the record (objlog's own fields
            and the user's, including those already renamed).

    Returns:
        ``"extra.<name>"``, or ``"extra.extra.<name>"`` ... when that is taken too.

    Thread safety: pure; call from any thread.
    """
    candidate = EXTRA_PREFIX + name
    while candidate in taken:
        candidate = EXTRA_PREFIX + candidate
    return candidate


def _load_span_getter() -> Callable[[], Any] | None:
    """Return ``opentelemetry.trace.get_current_span``, or None when it cannot be imported."""
    try:
        # Typed when installed; absent (so untyped) where the otel extra is not.
        from opentelemetry.trace import (  # type: ignore[import-not-found, unused-ignore]
            get_current_span,
        )
    except Exception:  # noqa: BLE001 - ImportError, or a broken install: no trace fields
        return None
    return get_current_span  # type: ignore[no-any-return, unused-ignore]


# None: opentelemetry-api is absent (remembered); _UNLOADED: not tried yet.
_UNLOADED: Any = object()
_get_current_span: Callable[[], Any] | None = _UNLOADED


def trace_context() -> tuple[str, str] | None:
    """
    Return the active OpenTelemetry span's ``(trace_id, span_id)`` in hex, or None.

    ``opentelemetry-api`` is imported on the first call only; when it is
    missing, every later call returns None after one global read. A span
    that is not valid (no span active, the API's no-op tracer) gives None.

    Returns:
        32 and 16 lower-case hex digits (OTel's ``format_trace_id`` /
        ``format_span_id`` form), or None. Never raises.

    Thread safety: safe from any thread; the span is the one active in the
    calling thread's (or task's) OpenTelemetry context.
    """
    global _get_current_span  # a once-only import cache
    get_span = _get_current_span
    if get_span is None:
        return None
    if get_span is _UNLOADED:
        get_span = _get_current_span = _load_span_getter()
        if get_span is None:
            return None
    try:
        context = get_span().get_span_context()
        if not context.is_valid:
            return None
        return f"{context.trace_id:032x}", f"{context.span_id:016x}"
    except Exception:  # noqa: BLE001 - a logging call never raises into the application
        return None
