"""
Round trips through the real writer: records logged, then read back from the store.

MemoryStore for adapter behaviour; the moto server fixture (and Ceph RGW in CI)
for dictConfig, the botocore feedback loop and one structlog round trip.
"""

from __future__ import annotations

import logging
import logging.config
import logging.handlers
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from objlog.errors import ConfigError
from objlog.reader import read_records
from objlog.stdlib import FeedbackFilter, ObjectStoreHandler
from objlog.stores import open_store
from objlog.stores.memory import MemoryStore
from objlog.structlog import ObjectStoreLoggerFactory, ObjectStoreProcessor
from objlog.typing import ObjectStore
from objlog.writer import ObjectStoreWriter

TIMEOUT = 60.0  # seconds; generous for a loaded 2-core machine


def read_back(store: ObjectStore, pipelinerun: str, task: str) -> list[dict[str, Any]]:
    """Every record of a task, oldest first, as the reader returns them."""
    return list(read_records(store, pipelinerun, task))


@pytest.fixture
def app_logger() -> Iterator[logging.Logger]:
    """A fresh non-propagating logger at DEBUG; its handlers are closed afterwards."""
    log = logging.getLogger(f"objlog_test.app.{uuid.uuid4().hex[:8]}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, with its level and handlers restored afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture(autouse=True)
def reset_structlog() -> Iterator[None]:
    """Give every test structlog's default configuration back."""
    yield
    structlog.reset_defaults()


class Opaque:
    """A value JSON cannot encode."""

    def __repr__(self) -> str:
        return "<Opaque 7>"


def test_extras_exceptions_and_odd_values_survive(app_logger: logging.Logger) -> None:
    """Messages, extras, tracebacks and non-JSON values come back from the store."""
    store = MemoryStore()
    handler = ObjectStoreHandler(store, pipelinerun="run-1", task="train", compression="gzip")
    app_logger.addHandler(handler)
    app_logger.info("epoch %d", 1, extra={"loss": 0.25, "tags": ["a"], "odd": Opaque()})
    try:
        raise ValueError("bad input")
    except ValueError:
        app_logger.exception("step failed", extra={"nan": float("nan")})
    app_logger.warning("caf\u00e9 \u4e2d \udcff")
    handler.close()

    records = read_back(store, "run-1", "train")
    assert ["epoch 1", "step failed", "caf\u00e9 \u4e2d \udcff"] == [r["message"] for r in records]
    assert (0.25, ["a"], "<Opaque 7>") == (
        records[0]["loss"],
        records[0]["tags"],
        records[0]["odd"],
    )
    assert records[1]["exception"].endswith("ValueError: bad input")
    assert "nan" == records[1]["nan"]
    assert ["info", "error", "warning"] == [r["level"] for r in records]


def test_handler_closes_its_own_writer(app_logger: logging.Logger) -> None:
    """close() closes a writer the handler made; a second close() is harmless."""
    handler = ObjectStoreHandler(MemoryStore(), pipelinerun="r", task="t")
    handler.close()
    handler.close()
    assert handler.writer.closed


def test_passed_writer_stays_open() -> None:
    """close() syncs but does not close a writer given to the handler."""
    store = MemoryStore()
    with ObjectStoreWriter(store, pipelinerun="r", task="t") as writer:
        handler = ObjectStoreHandler(writer=writer)
        handler.handle(logging.makeLogRecord({"msg": "kept", "levelname": "INFO"}))
        handler.close()
        assert not writer.closed
        assert ["kept"] == [r["message"] for r in read_back(store, "r", "t")]


def test_emit_after_writer_closed_never_raises(
    app_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """Logging after the writer was closed is reported, not raised."""
    handler = ObjectStoreHandler(MemoryStore(), pipelinerun="r", task="t")
    app_logger.addHandler(handler)
    handler.writer.close()
    app_logger.error("too late")
    app_logger.error("too late again")
    handler.flush()
    assert 1 == capsys.readouterr().err.count("records after the writer was closed")


def test_queue_handler_and_listener(app_logger: logging.Logger) -> None:
    """Records pass through QueueHandler/QueueListener into the store."""
    store = MemoryStore()
    handler = ObjectStoreHandler(store, pipelinerun="run-q", task="t")
    records_queue: queue.Queue[logging.LogRecord] = queue.Queue()
    front = logging.handlers.QueueHandler(records_queue)
    front.addFilter(FeedbackFilter())
    listener = logging.handlers.QueueListener(records_queue, handler)
    app_logger.addHandler(front)
    listener.start()
    try:
        for i in range(50):
            app_logger.info("item %d", i, extra={"i": i})
    finally:
        listener.stop()  # drains the queue
    handler.close()
    records = read_back(store, "run-q", "t")
    assert [f"item {i}" for i in range(50)] == [r["message"] for r in records]


def test_dictconfig_round_trip(
    s3_target: Any, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler built by dictConfig from plain values stores records in S3."""
    for name, value in s3_target.env().items():
        monkeypatch.setenv(name, value)
    logger_name = f"objlog_test.dictconfig.{uuid.uuid4().hex[:8]}"
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "bucket": {
                    "class": "objlog.stdlib.ObjectStoreHandler",
                    "level": "INFO",
                    "store": f"s3://{s3_bucket}/team",
                    "pipelinerun": "run-dc",
                    "task": "train",
                    "max_age": 1.0,
                    "max_size_bytes": 1024 * 1024,
                    "compression": "none",
                    "flush_timeout": TIMEOUT,
                }
            },
            "loggers": {
                logger_name: {"level": "DEBUG", "handlers": ["bucket"], "propagate": False}
            },
        }
    )
    log = logging.getLogger(logger_name)
    handler = log.handlers[0]
    try:
        log.debug("below the handler level")
        log.info("configured", extra={"source": "dictConfig"})
        log.error("failed", extra={"code": 3})
    finally:
        log.removeHandler(handler)
        handler.close()
    records = read_back(open_store(f"s3://{s3_bucket}/team"), "run-dc", "train")
    assert [("configured", "dictConfig"), ("failed", None)] == [
        (r["message"], r.get("source")) for r in records
    ]


@pytest.mark.timeout(300)
def test_root_at_debug_with_botocore_does_not_loop(
    s3_target: Any, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, root_logger: logging.Logger
) -> None:
    """Root at DEBUG with the handler on root and an S3 store: no recursion, app records arrive."""
    for name, value in s3_target.env().items():
        monkeypatch.setenv(name, value)
    root_logger.setLevel(logging.DEBUG)
    handler = ObjectStoreHandler(
        f"s3://{s3_bucket}", pipelinerun="run-loop", task="t", max_age=0.2, flush_timeout=TIMEOUT
    )
    root_logger.addHandler(handler)
    app = logging.getLogger("objlog_test.loop")
    for i in range(20):
        app.info("app record %d", i)
        handler.flush()  # an upload per record: botocore logs plenty on the upload thread
    logging.getLogger("botocore.test").debug("botocore debug from the app thread")
    root_logger.removeHandler(handler)
    handler.close()

    records = read_back(open_store(f"s3://{s3_bucket}"), "run-loop", "t")
    assert [f"app record {i}" for i in range(20)] == [
        r["message"] for r in records if r["logger"] == "objlog_test.loop"
    ]
    feedback = [r for r in records if r["logger"].partition(".")[0] in {"botocore", "urllib3"}]
    assert [] == [r for r in feedback if r["level"] == "DEBUG"]
    assert [] == [r for r in feedback if r["thread_name"].startswith("objlog")]


def test_processor_formatter_on_handler(app_logger: logging.Logger) -> None:
    """structlog's ProcessorFormatter on the handler stores structlog-rendered JSON lines."""
    store = MemoryStore()
    handler = ObjectStoreHandler(store, pipelinerun="run-pf", task="t")
    pre_chain = [
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=pre_chain,
        )
    )
    app_logger.addHandler(handler)
    structlog.configure(
        processors=[*pre_chain, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    structlog.get_logger(app_logger.name).info("from structlog", user="ana")
    app_logger.warning("from stdlib")
    handler.close()
    records = read_back(store, "run-pf", "t")
    assert [("from structlog", "info", "ana"), ("from stdlib", "warning", None)] == [
        (r["event"], r["level"], r.get("user")) for r in records
    ]


def test_structlog_processor_round_trip(s3_target: Any, s3_bucket: str) -> None:
    """The tee processor stores every event in S3 and passes it on."""
    store = open_store(
        f"s3://{s3_bucket}",
        endpoint_url=s3_target.endpoint,
        access_key=s3_target.access_key,
        secret_key=s3_target.secret_key,
        region=s3_target.region,
    )
    seen: list[str] = []

    def capture(logger: object, method_name: str, event_dict: dict[str, Any]) -> str:
        seen.append(event_dict["event"])
        return "ok"

    with ObjectStoreWriter(store, pipelinerun="run-sp", task="t", compression="gzip") as writer:
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                ObjectStoreProcessor(writer),
                capture,
            ],
            logger_factory=structlog.ReturnLoggerFactory(),
        )
        log = structlog.get_logger().bind(run="run-sp")
        log.info("first", n=1)
        log.warning("second", odd={1, 2})
    records = read_back(store, "run-sp", "t")
    assert ["first", "second"] == seen
    assert [("first", "info", "run-sp"), ("second", "warning", "run-sp")] == [
        (r["event"], r["level"], r["run"]) for r in records
    ]
    assert "{1, 2}" == records[1]["odd"]


def test_structlog_factory_round_trip() -> None:
    """The logger factory after JSONRenderer stores rendered events in order."""
    store = MemoryStore()
    with ObjectStoreWriter(store, pipelinerun="run-sf", task="t") as writer:
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(),
            ],
            logger_factory=ObjectStoreLoggerFactory(writer),
        )
        log = structlog.get_logger()
        for i in range(100):
            log.info("event", i=i)
    records = read_back(store, "run-sf", "t")
    assert list(range(100)) == [r["i"] for r in records]


@pytest.mark.process
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_while_another_thread_logs(app_logger: logging.Logger, tmp_path: Path) -> None:
    """A child forked while a thread logs can log through the inherited handler."""
    store = open_store(str(tmp_path / "store"))
    handler = ObjectStoreHandler(store, pipelinerun="run-fork", task="t", max_age=0.5)
    app_logger.addHandler(handler)
    stop = threading.Event()

    def spam() -> None:
        while not stop.is_set():
            app_logger.debug("background")

    thread = threading.Thread(target=spam, daemon=True)
    thread.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12: fork with threads
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                app_logger.warning("from the child")
                handler.close()
                code = 0
            finally:
                os._exit(code)
        app_logger.warning("from the parent")
    finally:
        stop.set()
        thread.join(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.05)
    handler.close()
    assert 0 == os.waitstatus_to_exitcode(status)
    messages = [r["message"] for r in read_back(store, "run-fork", "t")]
    assert ["from the child", "from the parent"] == sorted(m for m in messages if m != "background")


EXIT_SCRIPT = """
import logging, sys
from objlog.stdlib import ObjectStoreHandler
handler = ObjectStoreHandler(sys.argv[1], pipelinerun="run-exit", task="t", max_age=60.0)
logging.basicConfig(level=logging.INFO, handlers=[handler])
for i in range(1000):
    logging.getLogger("app").info("record %d", i)
"""


@pytest.mark.process
def test_records_stored_at_interpreter_exit(tmp_path: Path) -> None:
    """A script that logs and simply exits leaves every record stored, and stderr quiet."""
    store_dir = tmp_path / "store"
    done = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, str(store_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OBJLOG_HOME": str(tmp_path / "home")},
    )
    assert (0, "") == (done.returncode, done.stderr)
    records = read_back(open_store(str(store_dir)), "run-exit", "t")
    assert [f"record {i}" for i in range(1000)] == [r["message"] for r in records]


def test_processor_in_structlog_stdlib_chain(app_logger: logging.Logger) -> None:
    """The tee processor works in a structlog.stdlib chain that ends in stdlib logging."""
    store = MemoryStore()
    console: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            console.append(self.format(record))

    app_logger.addHandler(ListHandler())
    with ObjectStoreWriter(store, pipelinerun="run-ss", task="t") as writer:
        structlog.configure(
            processors=[
                structlog.stdlib.filter_by_level,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                ObjectStoreProcessor(writer),
                structlog.processors.JSONRenderer(),
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
        )
        structlog.get_logger(app_logger.name).info("via stdlib", step=2)
    records = read_back(store, "run-ss", "t")
    assert [("via stdlib", 2, app_logger.name)] == [
        (r["event"], r["step"], r["logger"]) for r in records
    ]
    assert 1 == len(console)


@pytest.mark.parametrize(
    "options",
    [{"max_sise_bytes": 10}, {"max_age": "5"}, {"compression": "lz4"}, {"max_age": 0}],
)
def test_bad_writer_options_raise_config_error(options: dict[str, object]) -> None:
    """Unknown or malformed writer options raise ConfigError from the handler."""
    with pytest.raises(ConfigError):
        ObjectStoreHandler(MemoryStore(), pipelinerun="r", task="t", **options)


def test_bad_names_raise_config_error() -> None:
    """A pipelinerun that cannot be a key segment raises ConfigError."""
    with pytest.raises(ConfigError):
        ObjectStoreHandler(MemoryStore(), pipelinerun="a/b", task="t")
