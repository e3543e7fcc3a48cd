"""
Tests for `objlog.stdlib.JsonFormatter`: fields, extras, exceptions, non-JSON values.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logging_helpers import BrokenRepr, json_values
from objlog.errors import ConfigError
from objlog.stdlib import JsonFormatter


def make_record(msg: str = "hello %s", args: tuple[object, ...] = ("world",), **extra: object):
    """Build a record the way Logger.makeRecord does, extras included."""
    logger = logging.getLogger("objlog.test.app")
    return logger.makeRecord(
        logger.name, logging.WARNING, __file__, 10, msg, args, None, extra=extra or None
    )


def test_core_fields_in_order() -> None:
    """A record renders timestamp, level, logger, message, then identity fields."""
    record = make_record()
    fields = json.loads(JsonFormatter().format(record))
    assert [
        "timestamp",
        "level",
        "logger",
        "message",
        "process",
        "process_name",
        "thread",
        "thread_name",
    ] == list(fields)
    assert "warning" == fields["level"]
    assert "objlog.test.app" == fields["logger"]
    assert "hello world" == fields["message"]
    assert record.process == fields["process"]
    assert threading.current_thread().name == fields["thread_name"]


def test_timestamp_is_rfc3339_utc_microseconds() -> None:
    """The timestamp is the record's creation time in UTC with six fractional digits."""
    record = make_record()
    record.created = 1795174830.123456
    fields = json.loads(JsonFormatter().format(record))
    assert "2026-11-20T11:40:30.123456Z" == fields["timestamp"]


def test_extras_are_fields() -> None:
    """Fields passed with extra= appear as members after the message."""
    record = make_record(user="ana", attempt=3, tags=["a", "b"], nested={"k": [1, 2.5, None]})
    fields = json.loads(JsonFormatter().format(record))
    assert "ana" == fields["user"]
    assert 3 == fields["attempt"]
    assert ["a", "b"] == fields["tags"]
    assert {"k": [1, 2.5, None]} == fields["nested"]
    assert list(fields).index("message") < list(fields).index("user")


def test_extra_cannot_replace_core_fields() -> None:
    """An extra named like a core member is kept as "extra.<name>"; the core value stays."""
    record = make_record(level="fake", logger="fake", timestamp="fake", color="red")
    fields = json.loads(JsonFormatter().format(record))
    assert "warning" == fields["level"]
    assert "objlog.test.app" == fields["logger"]
    assert "fake" != fields["timestamp"]
    assert "red" == fields["color"]
    assert {"level": "fake", "logger": "fake", "timestamp": "fake"} == {
        k.removeprefix("extra."): v for k, v in fields.items() if k.startswith("extra.")
    }


def test_static_fields() -> None:
    """static_fields are added to every line; an extra of the same name is kept beside them."""
    formatter = JsonFormatter(static_fields={"service": "trainer"})
    fields = json.loads(formatter.format(make_record(service="other")))
    assert ("trainer", "other") == (fields["service"], fields["extra.service"])


def test_exception_rendered_as_text() -> None:
    """exc_info becomes the formatted traceback in `exception`."""
    try:
        raise KeyError("missing")
    except KeyError:
        record = make_record()
        record.exc_info = sys.exc_info()
    fields = json.loads(JsonFormatter().format(record))
    assert fields["exception"].startswith("Traceback (most recent call last):")
    assert fields["exception"].endswith("KeyError: 'missing'")


def test_exc_text_without_exc_info() -> None:
    """A record carrying only exc_text (e.g. unpickled) keeps it as `exception`."""
    record = make_record()
    record.exc_text = "Traceback: earlier"
    assert "Traceback: earlier" == json.loads(JsonFormatter().format(record))["exception"]


def test_stack_info_rendered() -> None:
    """stack_info becomes `stack`."""
    record = make_record()
    record.stack_info = "Stack (most recent call last):\n  File x"
    assert record.stack_info == json.loads(JsonFormatter().format(record))["stack"]


class Unjsonable:
    """An object JSON cannot encode."""

    def __repr__(self) -> str:
        return "<Unjsonable>"


def test_non_json_values_fall_back_to_repr() -> None:
    """Objects, bytes, sets, NaN, tuple keys, cycles and broken reprs never raise."""
    cycle: list[object] = []
    cycle.append(cycle)
    record = make_record(
        obj=Unjsonable(),
        data=b"\x00\xff",
        items={1},
        nan=math.nan,
        inf=-math.inf,
        tuple_keys={(1, 2): "x"},
        cycle=cycle,
        broken=BrokenRepr(),
        fine="ok",
    )
    fields = json.loads(JsonFormatter().format(record))
    assert "<Unjsonable>" == fields["obj"]
    assert "b'\\x00\\xff'" == fields["data"]
    assert "{1}" == fields["items"]
    assert "nan" == fields["nan"]
    assert "-inf" == fields["inf"]
    assert "{(1, 2): 'x'}" == fields["tuple_keys"]
    assert "[[...]]" == fields["cycle"]
    assert "<unrepresentable BrokenRepr object>" == fields["broken"]
    assert "ok" == fields["fine"]


def test_message_with_newlines_is_one_line() -> None:
    """Newlines and non-ASCII text stay inside one JSON line."""
    line = JsonFormatter().format(make_record("line1\nline2 \u00e9\u4e2d", ()))
    assert "\n" not in line
    assert "line1\nline2 \u00e9\u4e2d" == json.loads(line)["message"]


def test_lone_surrogate_survives() -> None:
    """A lone surrogate (from surrogateescape) yields a line that still parses."""
    line = JsonFormatter().format(make_record("bad \udcff byte", ()))
    assert "bad \udcff byte" == json.loads(line)["message"]


@given(st.dictionaries(st.from_regex(r"\Ax_[a-z]{1,8}\Z"), json_values, max_size=5))
def test_any_extras_give_one_valid_line(extras: dict[str, object]) -> None:
    """Whatever the extras hold, the output is one line of valid JSON with all of them."""
    line = JsonFormatter().format(make_record(**extras))
    assert "\n" not in line
    fields = json.loads(line)
    assert set(extras) <= set(fields)


def test_static_fields_cannot_replace_core_members() -> None:
    """A static field named like a core member is a ConfigError naming it, not a silent drop."""
    with pytest.raises(ConfigError, match="level"):
        JsonFormatter(static_fields={"level": "x", "app": 1})


def test_many_logger_names_keep_the_cache_bounded() -> None:
    """Thousands of logger names render correctly while the cache stays bounded."""
    formatter = JsonFormatter()
    for i in range(3000):
        record = logging.LogRecord(f"name{i}", logging.INFO, __file__, 1, "m", (), None)
        assert f"name{i}" == json.loads(formatter.format(record))["logger"]
    assert len(formatter._heads) <= 1024


def test_unhashable_identity_fields() -> None:
    """Odd record attributes (unhashable, None) still render."""
    record = make_record()
    record.processName = ["not", "hashable"]  # type: ignore[assignment]
    record.process = None
    fields = json.loads(JsonFormatter().format(record))
    assert (["not", "hashable"], None) == (fields["process_name"], fields["process"])


def test_huge_int_extra_falls_back_to_repr() -> None:
    """An int too long for str() (Python's digit limit) is written as its repr, not lost."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    if not limit:
        pytest.skip("this Python has no int digit limit")
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "big", None, None)
    record.big = 10 ** (limit + 10)
    line = JsonFormatter().format(record)
    assert "big" in json.loads(line)
