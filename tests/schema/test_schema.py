"""
Tests for `objlog._schema` and the record schema the logging doors share (no I/O).

Level case, the "extra." prefix for fields named like objlog's own, the
lazily imported OpenTelemetry span, source location, `ContextVarsFilter` and
`ObjectStoreLogger.name`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from logging_helpers import ListWriter, json_values
from objlog import _schema
from objlog._jsonl import encode_value
from objlog.errors import MissingBackendError
from objlog.stdlib import ContextVarsFilter, JsonFormatter, ObjectStoreHandler
from objlog.structlog import ObjectStoreLoggerFactory, ObjectStoreProcessor, add_trace_context

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0x00F067AA0BA902B7
TRACE_HEX = ("0af7651916cd43dd8448eb211c80319c", "00f067aa0ba902b7")
# Every member JsonFormatter writes (or may write) itself.
OWN = frozenset(
    {
        "timestamp",
        "level",
        "logger",
        "message",
        "trace_id",
        "span_id",
        *_schema.SOURCE_FIELDS,
        "exception",
        "stack",
        "process",
        "process_name",
        "thread",
        "thread_name",
    }
)
# What Logger.makeRecord refuses in extra= (a KeyError in the stdlib itself).
PLAIN = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


@pytest.fixture(autouse=True)
def reset_structlog() -> Iterator[None]:
    """Give every test structlog's default configuration and an empty context."""
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


@pytest.fixture
def active_span() -> Iterator[None]:
    """A valid OpenTelemetry span made current with the API only (no SDK)."""
    trace = pytest.importorskip("opentelemetry.trace")
    context = trace.SpanContext(
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        is_remote=False,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    with trace.use_span(trace.NonRecordingSpan(context)):
        yield


def make_record(**extra: object) -> logging.LogRecord:
    """A WARNING record from logger "app", made as Logger.makeRecord does."""
    logger = logging.getLogger("objlog_test.schema.app")
    return logger.makeRecord(
        logger.name, logging.WARNING, __file__, 7, "hi", (), None, "make_record", extra
    )


# -- pure helpers ------------------------------------------------------------------


@given(st.text())
def test_level_name_is_lower_case(name: str) -> None:
    """level_name is str.lower; non-str levels become their text first."""
    assert name.lower() == _schema.level_name(name)


def test_level_name_of_non_text() -> None:
    """A hand-made record's non-str level name still gives text."""
    assert "5" == _schema.level_name(5)


def test_free_name_skips_taken_names() -> None:
    """The prefix is repeated until the name is free."""
    assert "extra.level" == _schema.free_name("level", {"level"})
    assert "extra.extra.level" == _schema.free_name("level", {"level", "extra.level"})


def test_trace_context_without_otel_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without opentelemetry-api: None, and the failed import is not tried again."""
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)  # import fails
    monkeypatch.setattr(_schema, "_get_current_span", _schema._UNLOADED)
    assert _schema.trace_context() is None
    assert _schema._get_current_span is None
    monkeypatch.delitem(sys.modules, "opentelemetry.trace")  # would import now...
    assert _schema.trace_context() is None  # ...but the failure is remembered
    assert _schema._get_current_span is None


def test_trace_context_without_a_span() -> None:
    """No active span (or the API's invalid default span): None."""
    pytest.importorskip("opentelemetry.trace")
    assert _schema.trace_context() is None


def test_trace_context_of_the_active_span(active_span: None) -> None:
    """The active valid span gives its ids as 32 and 16 lower-case hex digits."""
    assert TRACE_HEX == _schema.trace_context()


def test_trace_context_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """A span getter that raises gives None, not an exception."""

    def broken() -> object:
        raise RuntimeError("broken tracer")

    monkeypatch.setattr(_schema, "_get_current_span", broken)
    assert _schema.trace_context() is None


# -- the stdlib door ---------------------------------------------------------------

extra_keys = st.sampled_from(
    [*sorted(OWN - PLAIN), "service", "extra.level", "extra.extra.level", "extra.", "taskName"]
) | st.text(max_size=12).filter(lambda k: k not in PLAIN)


@given(st.dictionaries(extra_keys, json_values, max_size=8))
def test_no_extra_field_is_lost_and_own_fields_keep_their_values(
    extras: dict[str, object],
) -> None:
    """For any extra= dict: every key/value is stored, objlog's own members keep objlog's values."""
    formatter = JsonFormatter(static_fields={"service": "trainer"}, source=True)
    record = make_record(**extras)
    line = formatter.format(record)
    names = [k for k, _ in json.loads(line, object_pairs_hook=lambda pairs: pairs)]
    assert len(set(names)) == len(names)  # no member written twice (json.loads would keep one)
    fields = json.loads(line)
    assert "warning" == fields["level"]
    assert "objlog_test.schema.app" == fields["logger"]
    assert "hi" == fields["message"]
    assert "trainer" == fields["service"]
    assert (__file__, 7) == (fields["code.file.path"], fields["code.line.number"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", fields["timestamp"])
    written_own = [k for k in names if k in OWN or k == "service"]
    assert len(names) == len(written_own) + len(extras)
    for key, value in extras.items():
        expected = json.loads(encode_value(value))
        if key in OWN or key == "service":
            renamed = [k for k in names if re.fullmatch(r"(extra\.)+" + re.escape(key), k)]
            assert expected in [fields[k] for k in renamed]
        else:
            assert expected == fields[key]


def test_source_location_is_off_by_default() -> None:
    """Without source=True no code.* member is written; with it, OTel's three names."""
    plain = json.loads(JsonFormatter().format(make_record()))
    located = json.loads(JsonFormatter(source=True).format(make_record()))
    assert not any(k.startswith("code.") for k in plain)
    assert (__file__, 7, "make_record") == tuple(located[k] for k in _schema.SOURCE_FIELDS)


def test_handler_source_option_reaches_its_formatter() -> None:
    """ObjectStoreHandler(source=True) writes the caller's file, line and function."""
    writer = ListWriter()
    handler = ObjectStoreHandler(writer=writer, source=True)  # type: ignore[arg-type]
    logger = logging.getLogger("objlog_test.schema.source")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("here")
    finally:
        logger.removeHandler(handler)
    (fields,) = [json.loads(line) for line in writer.lines]
    assert __file__ == fields["code.file.path"]
    assert "test_handler_source_option_reaches_its_formatter" == fields["code.function.name"]


def test_stdlib_record_carries_the_active_span(active_span: None) -> None:
    """Inside a valid span, JsonFormatter writes its trace_id and span_id after the message."""
    fields = json.loads(JsonFormatter().format(make_record(trace_id="mine")))
    assert TRACE_HEX == (fields["trace_id"], fields["span_id"])
    assert "mine" == fields["extra.trace_id"]
    names = list(fields)
    assert names.index("message") + 1 == names.index("trace_id")


def test_framed_foreign_output_is_lower_case_with_trace(active_span: None) -> None:
    """A plain formatter's text is framed with the schema's level case and the span's ids."""
    writer = ListWriter()
    handler = ObjectStoreHandler(writer=writer)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.handle(make_record())
    (fields,) = [json.loads(line) for line in writer.lines]
    assert ("warning", "WARNING hi") == (fields["level"], fields["message"])
    assert TRACE_HEX == (fields["trace_id"], fields["span_id"])


def test_contextvars_filter_merges_bound_context() -> None:
    """Bound structlog context becomes record fields; explicit extra= and LogRecord attrs win."""
    structlog.contextvars.bind_contextvars(request_id="r-1", user="bound", name="ctx", level="x")
    record = make_record(user="explicit")
    assert ContextVarsFilter().filter(record)
    assert ContextVarsFilter().filter(record)  # a second filter on the path adds nothing
    fields = json.loads(JsonFormatter().format(record))
    assert "r-1" == fields["request_id"]
    assert ("explicit", "bound") == (fields["user"], fields["extra.user"])
    assert ("objlog_test.schema.app", "ctx") == (fields["logger"], fields["extra.name"])
    assert ("warning", "x") == (fields["level"], fields["extra.level"])
    assert "objlog_test.schema.app" == record.name
    assert not any(k.startswith("extra.extra.") for k in fields)


def test_handler_contextvars_option() -> None:
    """ObjectStoreHandler(contextvars=True) puts bound context in every record."""
    writer = ListWriter()
    handler = ObjectStoreHandler(writer=writer, contextvars=True)  # type: ignore[arg-type]
    structlog.contextvars.bind_contextvars(request_id="r-2")
    handler.handle(make_record())
    assert "r-2" == json.loads(writer.lines[0])["request_id"]


def test_contextvars_filter_without_structlog(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked for without structlog: MissingBackendError with the pip command."""
    monkeypatch.setitem(sys.modules, "structlog.contextvars", None)
    with pytest.raises(MissingBackendError, match=r"pip install 'objlog-s3\[structlog\]'"):
        ContextVarsFilter()


def test_contextvars_filter_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """A context that cannot be read lets the record pass unchanged."""
    log_filter = ContextVarsFilter()

    def broken() -> dict[str, object]:
        raise RuntimeError("no context")

    monkeypatch.setattr(log_filter, "_get_contextvars", broken)
    record = make_record()
    before = dict(record.__dict__)
    assert log_filter.filter(record)
    assert before == record.__dict__


# -- the structlog door ------------------------------------------------------------


def test_processor_writes_lower_case_level_and_fills_only_what_is_missing(
    active_span: None,
) -> None:
    """A level in another case is lower-cased; the event's own trace_id is kept, not renamed."""
    writer = ListWriter()
    processor = ObjectStoreProcessor(writer)  # type: ignore[arg-type]
    event = {"event": "e", "level": "WARNING", "timestamp": "t", "trace_id": "mine"}
    assert event is processor(None, "warning", event)
    assert "WARNING" == event["level"]  # the event itself is passed on unchanged
    fields = json.loads(writer.lines[0])
    assert ("warning", "mine", TRACE_HEX[1]) == (
        fields["level"],
        fields["trace_id"],
        fields["span_id"],
    )


def test_processor_adds_trace_ids(active_span: None) -> None:
    """An event without trace fields gets the active span's."""
    writer = ListWriter()
    ObjectStoreProcessor(writer)(None, "info", {"event": "e"})  # type: ignore[arg-type]
    fields = json.loads(writer.lines[0])
    assert ("info", *TRACE_HEX) == (fields["level"], fields["trace_id"], fields["span_id"])


def test_add_logger_name_works_with_the_factory() -> None:
    """structlog's add_logger_name reads ObjectStoreLogger.name instead of raising."""
    writer = ListWriter()
    structlog.configure(
        processors=[
            structlog.stdlib.add_logger_name,
            structlog.processors.add_log_level,
            add_trace_context,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=ObjectStoreLoggerFactory(writer),  # type: ignore[arg-type]
    )
    structlog.get_logger("app.worker").warning("named")
    structlog.get_logger().info("nameless")
    fields = [json.loads(line) for line in writer.lines]
    assert [("app.worker", "warning"), ("root", "info")] == [
        (f["logger"], f["level"]) for f in fields
    ]
    assert not any("trace_id" in f for f in fields)  # no active span, nothing added


def test_add_trace_context_keeps_existing_keys(active_span: None) -> None:
    """The processor adds missing trace fields only."""
    event = add_trace_context(None, "info", {"event": "e", "span_id": "mine"})
    assert {"event": "e", "span_id": "mine", "trace_id": TRACE_HEX[0]} == event


def test_framed_factory_line_names_its_logger(active_span: None) -> None:
    """A non-JSON rendering is framed with timestamp, level, logger and the span's ids."""
    writer = ListWriter()
    factory = ObjectStoreLoggerFactory(writer)  # type: ignore[arg-type]
    factory("app").error("plain text")
    fields = json.loads(writer.lines[0])
    assert ["timestamp", "level", "logger", "trace_id", "span_id", "message"] == list(fields)
    assert ("error", "app", "plain text") == (fields["level"], fields["logger"], fields["message"])
