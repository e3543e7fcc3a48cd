"""
The record schema per door, against real S3 servers (moto always; Ceph RGW in CI).

Records go through the stdlib handler, the structlog processor and the
structlog logger factory to a boto3-backed store, are read back with
`objlog.reader.read_records`, and are checked against the README's
"Record schema" table. Old records (upper-case levels) still read the same.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import structlog

from objlog.cli import render_record
from objlog.reader import LEVELS, parse_timestamp, read_records, record_level
from objlog.stdlib import ObjectStoreHandler
from objlog.stores import open_store
from objlog.structlog import ObjectStoreLoggerFactory, ObjectStoreProcessor, add_trace_context
from objlog.typing import ObjectStore
from objlog.writer import ObjectStoreWriter

if TYPE_CHECKING:
    from s3harness import S3Target  # tests/s3harness.py, for annotations only

TIMEOUT = 60.0  # seconds; generous for a loaded 2-core machine
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
TRACE_HEX = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


@pytest.fixture(autouse=True)
def reset_structlog() -> Iterator[None]:
    """Give every test structlog's default configuration and an empty context."""
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


@pytest.fixture
def s3_store(s3_target: S3Target, s3_bucket: str) -> Iterator[ObjectStore]:
    """A boto3-backed store on a fresh bucket of the target server."""
    store = open_store(
        f"s3://{s3_bucket}/team",
        endpoint_url=s3_target.endpoint,
        access_key=s3_target.access_key,
        secret_key=s3_target.secret_key,
        region=s3_target.region,
    )
    yield store
    store.close()


@pytest.fixture
def writer(s3_store: ObjectStore) -> Iterator[ObjectStoreWriter]:
    """A writer on the S3 store; closed after the test."""
    made = ObjectStoreWriter(s3_store, pipelinerun="run-schema", task="t", max_age=60)
    yield made
    made.close(TIMEOUT)


def span() -> Any:
    """A context manager making a valid span current (the OTel API only, no SDK)."""
    otel_trace = pytest.importorskip("opentelemetry.trace")
    context = otel_trace.SpanContext(
        trace_id=TRACE_ID, span_id=SPAN_ID, is_remote=False, trace_flags=otel_trace.TraceFlags(1)
    )
    return otel_trace.use_span(otel_trace.NonRecordingSpan(context))


def read_back(store: ObjectStore, writer: ObjectStoreWriter) -> list[dict[str, Any]]:
    """Sync `writer` and read its records through the reader."""
    writer.sync(TIMEOUT)
    return list(read_records(store, "run-schema", "t"))


def assert_schema(record: dict[str, Any], *, traced: bool) -> None:
    """The members every objlog-encoded record has, in the schema's form."""
    assert TIMESTAMP.fullmatch(record["timestamp"])
    assert parse_timestamp(record["timestamp"]) is not None
    assert record["level"] == record["level"].lower()
    assert record["level"] in LEVELS
    assert isinstance(record["logger"], str)
    if traced:
        assert TRACE_HEX == (record["trace_id"], record["span_id"])
    else:
        assert "trace_id" not in record
        assert "span_id" not in record


def test_stdlib_door(s3_store: ObjectStore, writer: ObjectStoreWriter) -> None:
    """The handler: lower-case levels, span ids, source location, bound context, kept extras."""
    handler = ObjectStoreHandler(
        writer=writer, source=True, contextvars=True, flush_timeout=TIMEOUT
    )
    log = logging.getLogger(f"objlog_test.schema.{uuid.uuid4().hex[:8]}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    structlog.contextvars.bind_contextvars(request_id="req-7")
    try:
        with span():
            log.warning("in span", extra={"level": "x", "timestamp": "y", "epoch": 3})
        log.debug("no span")
    finally:
        log.removeHandler(handler)
        handler.close()
    traced, plain = read_back(s3_store, writer)
    assert_schema(traced, traced=True)
    assert_schema(plain, traced=False)
    assert ("warning", "debug") == (traced["level"], plain["level"])
    assert ("x", "y", 3) == (traced["extra.level"], traced["extra.timestamp"], traced["epoch"])
    assert ("req-7", "req-7") == (traced["request_id"], plain["request_id"])
    assert __file__ == traced["code.file.path"]
    assert "test_stdlib_door" == traced["code.function.name"]
    assert isinstance(traced["code.line.number"], int)


def test_structlog_processor_door(s3_store: ObjectStore, writer: ObjectStoreWriter) -> None:
    """The tee processor: structlog's own fields, lower case, span ids added when missing."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_logger_name,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            ObjectStoreProcessor(writer),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    log = structlog.get_logger("objlog_test.schema.tee")
    with span():
        log.warning("in span", epoch=3)
    log.info("no span")
    traced, plain = read_back(s3_store, writer)
    # TimeStamper writes its own ISO form (+00:00); the reader parses both.
    for record, is_traced in ((traced, True), (plain, False)):
        assert parse_timestamp(record["timestamp"]) is not None
        assert_schema({**record, "timestamp": "2026-01-01T00:00:00.000000Z"}, traced=is_traced)
    assert ("warning", "info", 3) == (traced["level"], plain["level"], traced["epoch"])
    assert "objlog_test.schema.tee" == traced["logger"]


def test_structlog_factory_door(s3_store: ObjectStore, writer: ObjectStoreWriter) -> None:
    """The final sink: add_logger_name no longer raises; framed output carries the schema too."""
    structlog.configure(
        processors=[
            structlog.stdlib.add_logger_name,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%Y-%m-%dT%H:%M:%S.%fZ", utc=True),
            add_trace_context,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=ObjectStoreLoggerFactory(writer),
    )
    with span():
        structlog.get_logger("app").error("json")
        ObjectStoreLoggerFactory(writer)("framed").warning("plain text\nsecond line")
    structlog.get_logger().info("nameless")
    json_line, framed, nameless = read_back(s3_store, writer)
    assert_schema(json_line, traced=True)
    assert_schema(framed, traced=True)
    assert_schema(nameless, traced=False)
    assert [("app", "error"), ("framed", "warning"), ("root", "info")] == [
        (r["logger"], r["level"]) for r in (json_line, framed, nameless)
    ]
    assert "plain text\nsecond line" == framed["message"]


def test_old_records_read_the_same_as_new(s3_store: ObjectStore, writer: ObjectStoreWriter) -> None:
    """Records stored before the schema (upper-case levels, levelname) read like new ones."""
    old_and_new = [
        (
            '{"timestamp":"2026-01-01T00:00:00.000001Z","level":"WARNING","logger":"a",'
            '"message":"m"}'
        ),
        (
            '{"timestamp":"2026-01-01T00:00:00.000002Z","level":"warning","logger":"a",'
            '"message":"m"}'
        ),
        '{"time":"2026-01-01T00:00:00.000003Z","levelname":"ERROR","name":"a","msg":"m"}',
        '{"timestamp":"2026-01-01T00:00:00.000004Z","level":"error","logger":"a","message":"m"}',
    ]
    for line in old_and_new:
        writer.write(line)
    records = read_back(s3_store, writer)
    assert [30, 30, 40, 40] == [record_level(r) for r in records]
    texts = [render_record(r).split(" ", 1)[1] for r in records]
    assert texts[0] == texts[1]
    assert texts[2] == texts[3]
    assert texts[1].startswith("WARNING ")
