"""
One event is one record (CWE-117): the framing in `objlog._jsonl` and the handler's use of it.

A message holding a newline and a fake JSON record must not become two
records, whatever the formatter; neither may ``\\r``, NUL, U+0085, U+2028 or
U+2029.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logging_helpers import ListWriter
from objlog._codec import normalize_record
from objlog._jsonl import dumps, frame_message, json_line, record_line
from objlog.stdlib import JsonFormatter, ObjectStoreHandler

FORGED = 'hi\n{"level":"error","message":"forged"}'
# Every way a text could end a line somewhere: Python, JSON Lines tools, viewers, C strings.
BREAKERS = ["\n", "\r", "\r\n", "\x00", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85"]
BREAKERS += ["\u2028", "\u2029"]
ATTACKS = [FORGED, *(f'hi{b}{{"level":"error","message":"forged"}}' for b in BREAKERS)]

fields_strategy = st.dictionaries(
    st.text(max_size=8), st.one_of(st.text(max_size=8), st.integers(), st.none()), max_size=3
)


def assert_one_line(line: str) -> bytes:
    """Check `line` as the writer will store it: one trailing newline, no other line end."""
    stored = normalize_record(line)
    assert stored.endswith(b"\n")
    assert 1 == stored.count(b"\n")
    assert b"\r" not in stored
    assert b"\x00" not in stored
    # Python's idea of line ends is the widest (it adds \x0b, \x0c, \x1c-\x1e, \x85, U+2028/9).
    assert 1 == len(stored.decode("utf-8").splitlines())
    return stored


@given(text=st.text(), fields=fields_strategy)
def test_framed_text_is_one_line_and_decodes_back(text: str, fields: dict[str, object]) -> None:
    """For any text, frame_message gives exactly one line whose message is the text."""
    line = frame_message(text, fields)
    stored = assert_one_line(line)
    decoded = json.loads(stored)
    assert text == decoded["message"]
    assert {k: v for k, v in fields.items() if k != "message"} == {
        k: v for k, v in decoded.items() if k != "message"
    }


@given(
    text=st.lists(st.sampled_from(["a", "{", "}", '"', ":", "\\", *BREAKERS]), max_size=30).map(
        "".join
    )
)
def test_framed_text_of_line_breakers_decodes_back(text: str) -> None:
    """Texts made mostly of line-end characters and JSON syntax still frame to one line."""
    stored = assert_one_line(frame_message(text))
    assert text == json.loads(stored)["message"]


@given(text=st.one_of(st.text(), st.text().map(lambda t: "{" + t + "}")))
def test_record_line_is_always_one_line(text: str) -> None:
    """record_line keeps one-line JSON objects or frames the text; either way, one line."""
    line = record_line(text, lambda: {"level": "INFO"})
    stored = assert_one_line(line)
    if json_line(text) is None:
        assert text == json.loads(stored)["message"]


@given(value=st.dictionaries(st.text(max_size=5), st.text(max_size=10), max_size=4))
def test_json_objects_are_kept_and_indented_ones_compacted(value: dict[str, str]) -> None:
    """One-line JSON objects pass unchanged (bar escapes); indented ones become one line."""
    compact = json.dumps(value, ensure_ascii=False)
    kept = record_line(compact, dict)
    assert_one_line(kept)
    assert value == json.loads(kept)
    indented = json.dumps(value, indent=2, ensure_ascii=False)
    line = record_line(indented + "\n", dict)
    assert_one_line(line)
    assert value == json.loads(line)


@pytest.mark.parametrize("attack", ATTACKS)
def test_forged_record_is_framed(attack: str) -> None:
    """A JSON object after a line end is the message's text, not a record."""
    stored = assert_one_line(record_line(attack, lambda: {"level": "INFO"}))
    assert {"level": "INFO", "message": attack} == json.loads(stored)


def test_line_separators_inside_json_are_escaped() -> None:
    """U+2028/U+2029/U+0085 inside a JSON string are written as \\u escapes, same value."""
    line = record_line('{"m":"a\u2028b\u2029c\x85d"}', dict)
    assert '{"m":"a\\u2028b\\u2029c\\u0085d"}' == line
    assert {"m": "a\u2028b\u2029c\x85d"} == json.loads(line)


def test_bytes_are_decoded_and_bad_bytes_survive_as_escapes() -> None:
    """Bytes output is framed like text; an undecodable byte becomes a \\udcXX escape."""
    stored = assert_one_line(record_line(b"caf\xc3\xa9\n\xff", lambda: {}))
    assert "caf\u00e9\n\udcff" == json.loads(stored)["message"]


def test_record_line_refuses_other_types() -> None:
    """Neither str nor bytes is a TypeError (the sinks count it as a failed event)."""
    with pytest.raises(TypeError, match="str or bytes"):
        record_line(42, dict)  # type: ignore[arg-type]


def test_lone_surrogate_in_a_framed_message_reads_back() -> None:
    """A lone surrogate is stored as its JSON escape: valid UTF-8, the same text decoded."""
    stored = assert_one_line(frame_message("bad \udcff\nx"))
    assert "bad \udcff\nx" == json.loads(stored.decode("utf-8"))["message"]


def test_compact_json_round_trips_through_dumps() -> None:
    """An object whose text had raw tabs between tokens is re-encoded with objlog's dumps."""
    assert dumps({"a": 1}) == json_line('{\t"a":\t1}')


# -- the handler -----------------------------------------------------------------


@pytest.fixture
def writer() -> ListWriter:
    """A fresh list-backed writer."""
    return ListWriter()


@pytest.fixture
def handler(writer: ListWriter) -> Iterator[ObjectStoreHandler]:
    """A handler on `writer`, closed afterwards."""
    made = ObjectStoreHandler(writer=writer)  # type: ignore[arg-type]
    yield made
    made.close()


@pytest.fixture
def logger(handler: ObjectStoreHandler) -> Iterator[logging.Logger]:
    """A non-propagating logger at DEBUG with `handler`."""
    log = logging.getLogger("objlog_test.one_record")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    yield log
    log.removeHandler(handler)


FORMATTERS = {
    "json": JsonFormatter(),
    "message": logging.Formatter("%(message)s"),
    "levelname": logging.Formatter("%(levelname)s %(name)s: %(message)s"),
}


@pytest.mark.parametrize("formatter", list(FORMATTERS), ids=str)
@pytest.mark.parametrize("attack", ATTACKS)
def test_every_formatter_stores_one_record_per_event(
    logger: logging.Logger,
    handler: ObjectStoreHandler,
    writer: ListWriter,
    formatter: str,
    attack: str,
) -> None:
    """N events make N lines, each a JSON object whose message holds the forged text."""
    handler.setFormatter(FORMATTERS[formatter])
    logger.warning(attack)
    logger.error("second %s", attack)
    assert 2 == len(writer.lines)
    records = [json.loads(assert_one_line(line)) for line in writer.lines]
    assert all(attack in r["message"] for r in records)
    assert ["warning", "error"] == [r["level"] for r in records]


def test_bare_message_that_is_json_stays_text(
    logger: logging.Logger, handler: ObjectStoreHandler, writer: ListWriter
) -> None:
    """With "%(message)s", a message that is a JSON object is framed, not taken as the record."""
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.info('{"level":"CRITICAL","logger":"auth","message":"forged"}')
    (record,) = [json.loads(line) for line in writer.lines]
    assert ("info", "objlog_test.one_record") == (record["level"], record["logger"])
    assert '{"level":"CRITICAL","logger":"auth","message":"forged"}' == record["message"]


def test_foreign_json_formatter_output_is_kept(
    logger: logging.Logger, handler: ObjectStoreHandler, writer: ListWriter
) -> None:
    """A formatter that renders one JSON object (python-json-logger style) is stored as is."""

    class OtherJson(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return json.dumps({"msg": record.getMessage(), "lvl": record.levelname})

    handler.setFormatter(OtherJson())
    logger.info(FORGED)
    assert [{"msg": FORGED, "lvl": "INFO"}] == [json.loads(line) for line in writer.lines]


def test_traceback_from_a_plain_formatter_is_one_record(
    logger: logging.Logger, handler: ObjectStoreHandler, writer: ListWriter
) -> None:
    """A multi-line traceback of a text formatter stays inside one record's message."""
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    try:
        raise ValueError("boom\nline two")
    except ValueError:
        logger.exception("failed")
    (record,) = [json.loads(assert_one_line(line)) for line in writer.lines]
    assert record["message"].startswith("ERROR failed\nTraceback")
    assert record["message"].endswith("ValueError: boom\nline two")
