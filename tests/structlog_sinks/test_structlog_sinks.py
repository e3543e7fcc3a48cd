"""
Tests for `objlog.structlog`: the tee processor and the logger factory, against a list writer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import pytest
import structlog

from logging_helpers import ListWriter
from objlog._shutdown import mark_objlog_thread
from objlog.structlog import ObjectStoreLogger, ObjectStoreLoggerFactory, ObjectStoreProcessor


@pytest.fixture(autouse=True)
def reset_structlog() -> Iterator[None]:
    """Give every test structlog's default configuration back."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def test_processor_returns_event_dict_unchanged() -> None:
    """The processor returns the same dict, unmodified, and writes one line."""
    writer = ListWriter()
    event = {"event": "hello", "user": "ana"}
    result = ObjectStoreProcessor(writer)(None, "info", event)  # type: ignore[arg-type]
    assert result is event
    assert {"event": "hello", "user": "ana"} == event
    assert 1 == len(writer.lines)


def test_processor_adds_level_and_timestamp_first() -> None:
    """Missing level and timestamp are added at the front of the line only."""
    writer = ListWriter()
    ObjectStoreProcessor(writer)(None, "warn", {"event": "e"})  # type: ignore[arg-type]
    fields = json.loads(writer.lines[0])
    assert ["timestamp", "level", "event"] == list(fields)
    assert "warning" == fields["level"]
    assert fields["timestamp"].endswith("Z")


def test_processor_keeps_existing_level_and_timestamp() -> None:
    """A level and timestamp from earlier processors are written as they are."""
    writer = ListWriter()
    event = {"event": "e", "level": "debug", "timestamp": "2026-01-01T00:00:00Z"}
    ObjectStoreProcessor(writer)(None, "info", event)  # type: ignore[arg-type]
    assert event == json.loads(writer.lines[0])


def test_processor_renders_exc_info() -> None:
    """exc_info=True inside an except block becomes `exception` text on the line."""
    writer = ListWriter()
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        ObjectStoreProcessor(writer)(None, "exception", {"event": "e", "exc_info": True})  # type: ignore[arg-type]
    fields = json.loads(writer.lines[0])
    assert "exc_info" not in fields
    assert fields["exception"].endswith("ZeroDivisionError: division by zero")


def test_processor_non_json_values() -> None:
    """Values JSON cannot encode become their repr."""
    writer = ListWriter()
    ObjectStoreProcessor(writer)(None, "info", {"event": "e", "s": {1}, "b": b"x"})  # type: ignore[arg-type]
    fields = json.loads(writer.lines[0])
    assert ("{1}", "b'x'") == (fields["s"], fields["b"])


def test_processor_custom_serializer() -> None:
    """A serializer replaces the JSON encoding; its non-JSON text is framed as the message."""
    writer = ListWriter()
    processor = ObjectStoreProcessor(writer, serializer=lambda fields: str(sorted(fields)))
    processor(None, "info", {"event": "e", "level": "info", "timestamp": "t"})  # type: ignore[arg-type]
    expected = {"timestamp": "t", "level": "info", "message": "['event', 'level', 'timestamp']"}
    assert [expected] == [json.loads(line) for line in writer.lines]


def test_processor_custom_json_serializer_is_kept() -> None:
    """A serializer whose output is one JSON object on one line is stored as it is."""
    writer = ListWriter()
    processor = ObjectStoreProcessor(writer, serializer=lambda fields: json.dumps(dict(fields)))
    processor(None, "info", {"event": "e", "level": "info", "timestamp": "t"})  # type: ignore[arg-type]
    assert ['{"event": "e", "level": "info", "timestamp": "t"}'] == writer.lines


def test_processor_never_raises(capsys: pytest.CaptureFixture[str]) -> None:
    """A closed writer is counted and reported once; the event still flows on."""
    writer = ListWriter()
    writer.close()
    processor = ObjectStoreProcessor(writer)
    for _ in range(3):
        processor(None, "info", {"event": "e"})  # type: ignore[arg-type]
    assert 3 == processor.failed
    assert 1 == capsys.readouterr().err.count("WriterClosedError")


def test_processor_in_structlog_chain(capsys: pytest.CaptureFixture[str]) -> None:
    """Placed before a renderer, the processor feeds the store and the console gets the event."""
    writer = ListWriter()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            ObjectStoreProcessor(writer),
            structlog.processors.KeyValueRenderer(key_order=["event"]),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )
    structlog.get_logger().info("trained", epochs=3)
    fields = json.loads(writer.lines[0])
    assert ("trained", 3, "info") == (fields["event"], fields["epochs"], fields["level"])
    assert "event='trained'" in capsys.readouterr().out


def test_logger_methods_write_lines() -> None:
    """Every BytesLogger-style method name writes the message as one line."""
    writer = ListWriter()
    logger = ObjectStoreLogger(writer)  # type: ignore[arg-type]
    names = [
        "msg", "log", "debug", "info", "warn", "warning",
        "fatal", "failure", "err", "error", "critical", "exception",
    ]  # fmt: skip
    for name in names:
        getattr(logger, name)(name.encode())
    levels = [
        "info", "info", "debug", "info", "warning", "warning",
        "critical", "error", "error", "error", "critical", "error",
    ]  # fmt: skip
    records = [json.loads(line) for line in writer.lines]
    assert names == [r["message"] for r in records]
    assert levels == [r["level"] for r in records]
    assert all(r["timestamp"].endswith("Z") for r in records)


def test_logger_keeps_a_json_line_as_it_is() -> None:
    """A rendered JSON object (JSONRenderer's output) is stored unchanged, one per call."""
    writer = ListWriter()
    ObjectStoreLogger(writer).info('{"event": "hi", "level": "info"}\n')  # type: ignore[arg-type]
    ObjectStoreLogger(writer).info(b'{"event":"b"}')  # type: ignore[arg-type]
    assert ['{"event": "hi", "level": "info"}', '{"event":"b"}'] == writer.lines


def test_logger_never_raises(capsys: pytest.CaptureFixture[str]) -> None:
    """A closed writer is counted, not raised."""
    writer = ListWriter()
    writer.close()
    logger = ObjectStoreLogger(writer)  # type: ignore[arg-type]
    logger.info("x")
    assert 1 == logger.failed
    assert "WriterClosedError" in capsys.readouterr().err


def test_factory_shares_one_logger_per_name() -> None:
    """The factory's first str argument names the logger; one logger per name, one writer."""
    writer = ListWriter()
    factory = ObjectStoreLoggerFactory(writer)  # type: ignore[arg-type]
    assert factory("name") is factory("name", "more")
    assert factory() is factory(42)
    assert ("name", "root") == (factory("name").name, factory().name)
    assert writer is factory().writer is factory("name").writer


def test_factory_as_final_sink_after_json_renderer() -> None:
    """configure(logger_factory=...) after JSONRenderer stores rendered events."""
    writer = ListWriter()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(20),
        logger_factory=ObjectStoreLoggerFactory(writer),  # type: ignore[arg-type]
    )
    log = structlog.get_logger().bind(run="r1")
    log.debug("filtered out")
    log.info("kept", n=1)
    log.warning("warned")
    events = [json.loads(line) for line in writer.lines]
    assert [("kept", "info", "r1"), ("warned", "warning", "r1")] == [
        (e["event"], e["level"], e["run"]) for e in events
    ]


def test_factory_with_stdlib_bound_logger() -> None:
    """structlog.stdlib.BoundLogger over the objlog logger writes rendered lines."""
    writer = ListWriter()
    structlog.configure(
        processors=[
            structlog.stdlib.add_log_level,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=ObjectStoreLoggerFactory(writer),  # type: ignore[arg-type]
    )
    structlog.get_logger("app").error("boom", code=7)
    assert {"event": "boom", "code": 7, "level": "error"} == json.loads(writer.lines[0])


def test_import_does_not_import_structlog_or_sdks() -> None:
    """Importing the logging adapters loads neither structlog nor an S3 SDK."""
    code = (
        "import sys, objlog.stdlib, objlog.structlog;"
        "print(sorted({'structlog', 'boto3', 'botocore', 'minio'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert "[]" == out.strip()


@pytest.mark.parametrize("form", ["instance", "tuple"])
def test_processor_renders_exception_instances_and_tuples(form: str) -> None:
    """exc_info given as an exception or a sys.exc_info() tuple is rendered too."""
    writer = ListWriter()
    try:
        raise KeyError("k")
    except KeyError as exc:
        exc_info: object = exc if form == "instance" else sys.exc_info()
    ObjectStoreProcessor(writer)(None, "error", {"event": "e", "exc_info": exc_info})  # type: ignore[arg-type]
    assert json.loads(writer.lines[0])["exception"].endswith("KeyError: 'k'")


def test_processor_keeps_rendered_exception() -> None:
    """An `exception` already rendered by format_exc_info wins; a false exc_info is dropped."""
    writer = ListWriter()
    event = {"event": "e", "exception": "Traceback: given", "exc_info": False}
    ObjectStoreProcessor(writer)(None, "error", event)  # type: ignore[arg-type]
    fields = json.loads(writer.lines[0])
    assert ("Traceback: given", False) == (fields["exception"], "exc_info" in fields)


def test_lone_surrogate_stays_valid_utf8() -> None:
    """An event holding a lone surrogate is written as valid UTF-8 JSON and reads back."""
    writer = BytesListWriter()
    ObjectStoreProcessor(writer)(
        None, "info", {"event": "bad \udcff", "level": "info", "timestamp": "t"}
    )  # type: ignore[arg-type]
    ObjectStoreLogger(writer).info('{"event": "caf\u00e9 \udcff"}')  # type: ignore[arg-type]
    assert ["bad \udcff", "caf\u00e9 \udcff"] == [
        json.loads(raw.decode("utf-8"))["event"] for raw in writer.raw
    ]


class BytesListWriter(ListWriter):
    """Keeps the exact bytes given to write()."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: list[bytes] = []

    def write(self, data: str | bytes) -> int:
        """Keep the bytes as given."""
        assert isinstance(data, bytes)
        self.raw.append(data)
        return len(data)


def _on_objlog_thread(call: Callable[[], object]) -> None:
    """Run `call` on a thread marked as an objlog uploader thread."""

    def run() -> None:
        mark_objlog_thread()
        call()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)


def test_processor_drops_events_from_objlog_threads() -> None:
    """Events logged on an uploader thread (SDK chatter) are not written back, and pass through."""
    writer = ListWriter()
    processor = ObjectStoreProcessor(writer)  # type: ignore[arg-type]
    event = {"event": "Sending http request", "logger": "botocore.endpoint"}
    results: list[object] = []
    _on_objlog_thread(lambda: results.append(processor(None, "debug", event)))
    assert [event] == results
    assert [] == writer.lines
    processor(None, "info", {"event": "app"})
    assert 1 == len(writer.lines)


def test_logger_drops_messages_from_objlog_threads() -> None:
    """ObjectStoreLogger writes nothing when called on an uploader thread."""
    writer = ListWriter()
    logger = ObjectStoreLogger(writer)  # type: ignore[arg-type]
    _on_objlog_thread(lambda: logger.info('{"event": "sdk"}'))
    assert [] == writer.lines
    logger.info('{"event": "app"}')
    assert ['{"event": "app"}'] == writer.lines
