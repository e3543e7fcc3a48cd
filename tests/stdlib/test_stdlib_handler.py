"""
Tests for `objlog.stdlib.ObjectStoreHandler` logic, against a list-backed writer stand-in.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

import objlog.stdlib
from logging_helpers import ListWriter
from objlog._codec import decode_batch
from objlog._shutdown import mark_objlog_thread
from objlog.errors import ConfigError, StoreError, SyncTimeout
from objlog.stdlib import SDK_LOGGERS, FeedbackFilter, JsonFormatter, ObjectStoreHandler
from objlog.stores.memory import MemoryStore


@pytest.fixture
def writer() -> ListWriter:
    """A fresh list-backed writer."""
    return ListWriter()


@pytest.fixture(autouse=True)
def close_handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every handler a test made, so logging's exit hook finds none left."""
    made: list[ObjectStoreHandler] = []
    original = ObjectStoreHandler.__init__

    def tracking_init(self: ObjectStoreHandler, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        made.append(self)

    monkeypatch.setattr(ObjectStoreHandler, "__init__", tracking_init)
    yield
    for handler in made:
        handler.writer.sync_error = None  # type: ignore[attr-defined]
        handler.close()


@pytest.fixture
def logger(writer: ListWriter) -> Iterator[logging.Logger]:
    """A non-propagating logger with one ObjectStoreHandler on `writer`."""
    log = logging.getLogger("objlog_test.handler")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    handler = ObjectStoreHandler(writer=writer)  # type: ignore[arg-type]
    log.addHandler(handler)
    yield log
    log.removeHandler(handler)
    handler.close()


def test_record_becomes_json_line(logger: logging.Logger, writer: ListWriter) -> None:
    """One record is one JSON line with the message and extras."""
    logger.info("started %d", 3, extra={"run": "r1"})
    fields = json.loads(writer.lines[0])
    assert ("started 3", "r1", "info") == (fields["message"], fields["run"], fields["level"])


def test_default_formatter_is_json() -> None:
    """Without setFormatter the handler formats with JsonFormatter."""
    handler = ObjectStoreHandler(writer=ListWriter())  # type: ignore[arg-type]
    assert isinstance(handler.formatter, JsonFormatter)


def test_user_formatter_replaces_default(logger: logging.Logger, writer: ListWriter) -> None:
    """A user's formatter produces the text, framed as the message of one JSON line."""
    logger.handlers[0].setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    logger.warning("plain")
    (fields,) = [json.loads(line) for line in writer.lines]
    assert "WARNING:objlog_test.handler:plain" == fields["message"]
    assert ("warning", "objlog_test.handler") == (fields["level"], fields["logger"])
    assert ["timestamp", "level", "logger", "message"] == list(fields)


class BrokenFormatter(logging.Formatter):
    """A formatter that always raises."""

    def format(self, record: logging.LogRecord) -> str:
        raise RuntimeError("formatter bug")


def test_emit_never_raises_with_broken_formatter(
    logger: logging.Logger, writer: ListWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    """A formatter failure goes to handleError (stderr), not to the caller."""
    logger.handlers[0].setFormatter(BrokenFormatter())
    logger.error("lost")
    assert [] == writer.lines
    assert "formatter bug" in capsys.readouterr().err


def test_emit_never_raises_after_writer_closed(
    logger: logging.Logger, writer: ListWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    """A closed writer makes emit report through handleError, not raise."""
    writer.close()
    logger.error("after close")
    logger.error("after close again")
    assert 1 == capsys.readouterr().err.count("writer was closed")


def test_emit_quiet_without_raise_exceptions(
    logger: logging.Logger, writer: ListWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    """With logging.raiseExceptions off, failures are silent."""
    writer.close()
    previous = logging.raiseExceptions
    logging.raiseExceptions = False
    try:
        logger.error("after close")
    finally:
        logging.raiseExceptions = previous
    assert "" == capsys.readouterr().err


class LoggingFormatter(JsonFormatter):
    """A formatter that logs to the same logger while formatting."""

    def format(self, record: logging.LogRecord) -> str:
        logging.getLogger(record.name).error("from inside format")
        return super().format(record)


def test_reentrant_record_is_dropped(logger: logging.Logger, writer: ListWriter) -> None:
    """A record logged from inside emit on the same thread is dropped, not recursed."""
    logger.handlers[0].setFormatter(LoggingFormatter())
    logger.info("outer")
    assert ["outer"] == [json.loads(line)["message"] for line in writer.lines]


def test_flush_syncs_with_flush_timeout(writer: ListWriter) -> None:
    """flush() calls writer.sync(flush_timeout)."""
    handler = ObjectStoreHandler(writer=writer, flush_timeout=2.5)  # type: ignore[arg-type]
    handler.flush()
    assert [2.5] == writer.sync_timeouts


@pytest.mark.parametrize(
    "error", [SyncTimeout("too slow", pending_batches=2), StoreError("denied", bucket="b")]
)
def test_flush_reports_instead_of_raising(
    writer: ListWriter, error: Exception, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sync failure in flush() is reported on stderr, not raised."""
    writer.sync_error = error
    handler = ObjectStoreHandler(writer=writer)  # type: ignore[arg-type]
    handler.flush()
    assert str(error) in capsys.readouterr().err


def test_close_after_timed_out_flush_shares_the_budget(writer: ListWriter) -> None:
    """After flush() ran out of time, close() only gets the rest of the same budget."""
    writer.sync_error = SyncTimeout("too slow")
    handler = ObjectStoreHandler(writer=writer, flush_timeout=30.0)  # type: ignore[arg-type]
    handler.flush()
    handler.close()
    assert 2 == len(writer.sync_timeouts)
    assert writer.sync_timeouts[1] is not None
    assert writer.sync_timeouts[1] < 30.0


def test_close_after_good_flush_gets_full_timeout(writer: ListWriter) -> None:
    """After a successful flush(), close() may use the whole flush_timeout."""
    handler = ObjectStoreHandler(writer=writer, flush_timeout=30.0)  # type: ignore[arg-type]
    handler.flush()
    handler.close()
    assert [30.0, 30.0] == writer.sync_timeouts


def test_close_is_idempotent_and_keeps_passed_writer_open(writer: ListWriter) -> None:
    """close() twice syncs a passed-in writer once and never closes it; flush after is a no-op."""
    handler = ObjectStoreHandler(writer=writer)  # type: ignore[arg-type]
    handler.close()
    handler.close()
    handler.flush()
    assert (1, False, []) == (len(writer.sync_timeouts), writer.closed, writer.close_timeouts)


def test_shutdown_flushes_and_closes(writer: ListWriter) -> None:
    """logging.shutdown() with the handler syncs the writer and returns."""
    handler = ObjectStoreHandler(writer=writer, flush_timeout=3.0)  # type: ignore[arg-type]
    logging.shutdown([lambda: handler])  # type: ignore[list-item]
    assert [3.0, 3.0] == writer.sync_timeouts


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"pipelinerun": "r"},
        {"task": "t"},
        {"writer": ListWriter(), "pipelinerun": "r", "task": "t"},
        {"writer": ListWriter(), "max_age": 1.0},
        {"writer": ListWriter(), "flush_timeout": -1},
        {"writer": ListWriter(), "flush_timeout": float("inf")},
    ],
)
def test_bad_arguments(kwargs: dict[str, object]) -> None:
    """Missing or conflicting arguments raise ConfigError."""
    with pytest.raises(ConfigError):
        ObjectStoreHandler(**kwargs)  # type: ignore[arg-type]


def record(name: str, level: int) -> logging.LogRecord:
    """A bare record of logger `name` at `level`."""
    return logging.LogRecord(name, level, __file__, 1, "m", (), None)


@pytest.mark.parametrize(
    ("name", "level", "expected"),
    [
        ("botocore.endpoint", logging.DEBUG, False),
        ("urllib3.connectionpool", logging.DEBUG, False),
        ("botocore.credentials", logging.INFO, True),
        ("boto3", logging.DEBUG, True),
        ("app", logging.DEBUG, True),
        ("botocorex", logging.DEBUG, True),
    ],
)
def test_feedback_filter_off_upload_thread(name: str, level: int, expected: bool) -> None:
    """On an application thread only botocore/urllib3 DEBUG records are dropped."""
    assert expected == FeedbackFilter().filter(record(name, level))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("botocore.endpoint", False), ("boto3.resources", False), ("objlog.writer", False),
     ("minio", False), ("s3transfer.tasks", False), ("app", True)],
)  # fmt: skip
def test_feedback_filter_on_upload_thread(name: str, expected: bool) -> None:
    """On objlog's upload thread every SDK and objlog record is dropped, app records pass."""
    results: list[bool] = []

    def on_upload_thread() -> None:
        mark_objlog_thread()
        results.append(FeedbackFilter().filter(record(name, logging.WARNING)))

    thread = threading.Thread(target=on_upload_thread)
    thread.start()
    thread.join()
    assert [expected] == results


def test_feedback_filter_tolerates_odd_records() -> None:
    """A record without a string name or int level passes instead of raising."""
    odd = logging.makeLogRecord({"name": None, "levelno": None})
    weird_level = logging.makeLogRecord({"name": "botocore", "levelno": "DEBUG"})
    assert (True, True) == (FeedbackFilter().filter(odd), FeedbackFilter().filter(weird_level))


def test_handler_drops_sdk_debug(logger: logging.Logger, writer: ListWriter) -> None:
    """The handler's own filter drops botocore DEBUG records."""
    handler = logger.handlers[0]
    handler.handle(record("botocore.endpoint", logging.DEBUG))
    handler.handle(record("app", logging.DEBUG))
    assert ["app"] == [json.loads(line)["logger"] for line in writer.lines]


def test_repr_names_prefix_and_level(writer: ListWriter) -> None:
    """repr shows the writer's prefix and the level, nothing else."""
    handler = ObjectStoreHandler(writer=writer, level=logging.INFO)  # type: ignore[arg-type]
    assert "<ObjectStoreHandler 'logs/run/task/' (INFO)>" == repr(handler)


def test_threads_log_without_taking_the_handler_lock() -> None:
    """emit does not wait for the handler lock; each thread's records arrive in its order."""
    store = MemoryStore()
    handler = ObjectStoreHandler(store, pipelinerun="r", task="threads")
    log = logging.getLogger("objlog_test.handler.threads")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    per_thread = 300
    try:
        with handler.lock:  # type: ignore[union-attr]  # as another thread inside a handler
            threads = [
                threading.Thread(
                    target=lambda t=t: [log.info("t%d n%d", t, i) for i in range(per_thread)]
                )
                for t in range(4)
            ]
            for th in threads:
                th.start()
            for th in threads:
                th.join(30)
            assert not any(th.is_alive() for th in threads)  # none waited for the lock
    finally:
        log.removeHandler(handler)
        handler.close()
    messages = [
        json.loads(line)["message"]
        for key in sorted(store.keys())  # one writer's keys sort in write order
        for line in decode_batch(store.get_object(key), key).decode().splitlines()
    ]
    for t in range(4):
        assert [f"t{t} n{i}" for i in range(per_thread)] == [
            m for m in messages if m.startswith(f"t{t} ")
        ]


_names = st.lists(
    st.one_of(
        st.sampled_from([*sorted(SDK_LOGGERS), "app", "botocorex", "boto3x.y", ""]),
        st.text(alphabet="abo3.tcre", max_size=12),
    ).flatmap(
        lambda root: st.builds(lambda tail: root + tail, st.sampled_from(["", ".a", ".b.c"]))
    ),
    min_size=1,
    max_size=40,
)


@given(names=_names, level=st.sampled_from([logging.DEBUG, logging.INFO, logging.ERROR]))
def test_feedback_filter_memo_matches_the_rule(names: list[str], level: int) -> None:
    """With the per-name memo warm, cold or cleared, each verdict is the documented rule's."""
    objlog.stdlib._SDK_ROOT.clear()
    for name in names * 2:  # the second pass answers from the memo
        root = name.partition(".")[0]
        dropped = root in {"botocore", "urllib3"} and level <= logging.DEBUG
        assert FeedbackFilter().filter(record(name, level)) is not dropped


def test_feedback_filter_memo_stays_bounded() -> None:
    """Logger names made per request do not grow the memo without bound."""
    for i in range(objlog.stdlib._SDK_ROOT_MAX * 2 + 5):
        FeedbackFilter().filter(record(f"req{i}", logging.INFO))
    assert len(objlog.stdlib._SDK_ROOT) <= objlog.stdlib._SDK_ROOT_MAX


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_emit_guard_is_emptied_in_a_forked_child() -> None:
    """A thread inside emit at fork time does not leave its id behind in the child."""
    ghost = 0xDEAD  # stands for a parent's thread that was inside emit at the fork
    objlog.stdlib._EMITTING.add(ghost)
    try:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe
            os.write(w, b"%d" % len(objlog.stdlib._EMITTING))
            os._exit(0)
        os.close(w)
        child_sees = os.read(r, 16)
        os.close(r)
        os.waitpid(pid, 0)
        assert (b"0", True) == (child_sees, ghost in objlog.stdlib._EMITTING)
    finally:
        objlog.stdlib._EMITTING.discard(ghost)
