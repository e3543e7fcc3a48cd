"""Pure parts of the step runner and the CLI: line splitting, records, rendering, parsing."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from objlog import _layout, cli
from objlog._run import LineSink, RunOptions, generate_run_id, split_lines
from objlog.errors import ConfigError


def _feed(chunks: list[bytes], limit: int) -> tuple[list[tuple[bytes, bool]], bytes]:
    pieces: list[tuple[bytes, bool]] = []
    rest = b""
    for chunk in chunks:
        got, rest = split_lines(rest, chunk, limit)
        pieces.extend(got)
    return pieces, rest


@settings(max_examples=200, deadline=None)
@given(
    chunks=st.lists(st.binary(max_size=64).map(lambda b: b.replace(b"\x00", b"\n")), max_size=12),
    limit=st.integers(16, 40),
)
def test_split_lines_round_trip_and_bounds(chunks: list[bytes], limit: int) -> None:
    """Pieces plus the rest rebuild the input exactly; no piece or rest exceeds the limit."""
    pieces, rest = _feed(chunks, limit)
    rebuilt = b"".join(p + (b"\n" if complete else b"") for p, complete in pieces) + rest
    assert b"".join(chunks) == rebuilt
    assert all(len(p) <= limit for p, _ in pieces)
    assert len(rest) <= limit


def test_split_lines_does_not_cut_utf8_characters() -> None:
    """A long line of 3-byte characters is cut between characters, so every piece decodes."""
    line = ("€" * 40).encode()  # 120 bytes
    pieces, rest = _feed([line + b"\n"], 32)
    assert b"" == rest
    assert line == b"".join(p for p, _ in pieces)
    assert [False, False, False, True] == [c for _, c in pieces]
    for p, _ in pieces:
        p.decode("utf-8")


class ListWriter:
    """A writer that keeps each record (one per line of a ``write`` call) in `lines`."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, data: str) -> int:
        self.lines.extend(data.splitlines())
        return len(data)


def test_line_sink_records() -> None:
    """Records carry timestamp, stream, a global sequence, and exact bytes for non-UTF-8 lines."""
    writer = ListWriter()
    written = writer.lines
    archive = io.BytesIO()
    sink = LineSink(writer, archive)
    sink.emit("stdout", [(b"hello", True), (b"long-", False)], "2026-11-21T11:40:00.000000Z")
    sink.emit("stderr", [(b"bad \xff byte", True)], "2026-11-21T11:40:01.000000Z")
    sink.emit("stdout", [(b"tail", True)], "2026-11-21T11:40:02.000000Z", final=True)
    records = [json.loads(w) for w in written]
    assert [0, 1, 2, 3] == [r["sequence"] for r in records]
    assert ["stdout", "stdout", "stderr", "stdout"] == [r["stream"] for r in records]
    assert {
        "timestamp": "2026-11-21T11:40:00.000000Z",
        "stream": "stdout",
        "sequence": 0,
        "line": "hello",
    } == records[0]
    assert records[1]["partial"] is True
    assert "bad \\xff byte" == records[2]["line"]
    assert b"bad \xff byte" == base64.b64decode(records[2]["raw_b64"])
    assert records[3]["newline"] is False
    assert 3 == sink.lines
    assert b"hello\nlong-bad \xff byte\ntail" == archive.getvalue()


def test_line_sink_close_archive_stops_archiving_but_not_logging() -> None:
    """close_archive returns the counts so far, closes the archive; later lines still log."""
    writer = ListWriter()
    written = writer.lines

    class KeptBytesIO(io.BytesIO):
        def close(self) -> None:
            self.kept = self.getvalue()
            super().close()

    archive = KeptBytesIO()
    sink = LineSink(writer, archive)
    sink.emit("stdout", [(b"one", True), (b"tw", False)], "2026-11-21T11:40:00.000000Z")
    assert (1, 2) == sink.close_archive()
    assert archive.closed
    sink.emit("stdout", [(b"three", True)], "2026-11-21T11:40:01.000000Z")
    assert ["one", "tw", "three"] == [json.loads(w)["line"] for w in written]
    assert b"one\ntw" == archive.kept
    assert (2, 3) == sink.close_archive()


def test_generated_run_id_is_a_valid_segment() -> None:
    """A generated run id has the documented shape and is a valid key segment."""
    rid = generate_run_id(dt.datetime(2026, 11, 21, 11, 40, 30, tzinfo=dt.timezone.utc))
    assert rid.startswith("run-20261121-114030-")
    assert 26 == len(rid)
    assert rid == _layout.validate_segment(rid, "pipelinerun")


def test_run_options_reject_empty_command() -> None:
    """An empty command is a ConfigError."""
    with pytest.raises(ConfigError):
        RunOptions(command=[], pipelinerun="pr", task="t")


def test_render_record_text() -> None:
    """Handler records render as one readable line with extras; run records as their line."""
    record = {
        "timestamp": "2026-11-21T11:40:00Z",
        "level": "warning",
        "logger": "train",
        "message": "slow epoch",
        "epoch": 3,
        "note": "two words",
        "process": 42,
        "exc_info": "Traceback...\nValueError: x\n",
    }
    expected = (
        '2026-11-21T11:40:00Z WARNING  train: slow epoch epoch=3 note="two words"\n'
        "Traceback...\nValueError: x"
    )
    assert expected == cli.render_record(record)
    assert "raw line" == cli.render_record({"stream": "stdout", "line": "raw line", "sequence": 1})


def test_parse_since() -> None:
    """--since takes durations back from now and RFC 3339 times; junk is a usage error."""
    now = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.timezone.utc)
    assert now - dt.timedelta(minutes=10) == cli._parse_since("10m", now)
    assert now - dt.timedelta(hours=1.5) == cli._parse_since("1.5h", now)
    assert now == cli._parse_since("2026-11-21T12:00:00Z", now)
    with pytest.raises(cli._UsageError):
        cli._parse_since("soon", now)


def test_split_store_positionals() -> None:
    """The first positional is the store when it has a '/' or when there is one too many."""
    ns = cli.build_parser().parse_args(["cat", "pr", "t"])
    assert (None, ["pr", "t"]) == cli._split_store(ns, ["pr", "t"], 2)
    assert ("s3://b/p", ["pr", "t"]) == cli._split_store(ns, ["s3://b/p", "pr", "t"], 2)
    assert ("dir", ["pr", "t"]) == cli._split_store(ns, ["dir", "pr", "t"], 2)
    assert ("./dir", []) == cli._split_store(ns, ["./dir"], 2)
    ns = cli.build_parser().parse_args(["cat", "--store", "s3://x", "pr", "t"])
    with pytest.raises(cli._UsageError):
        cli._split_store(ns, ["s3://b", "pr", "t"], 2)


def test_split_run_argv() -> None:
    """The command starts after '--' or at the first non-option; a later '--' is the child's."""
    split = cli._split_run_argv
    assert (["run", "--task", "t"], ["echo", "a", "--", "b"]) == split(
        ["run", "--task", "t", "echo", "a", "--", "b"]
    )
    assert (["run", "--task=t"], ["echo", "--", "x"]) == split(
        ["run", "--task=t", "--", "echo", "--", "x"]
    )
    assert (["run", "--archive-log", "-q"], ["ls"]) == split(["run", "--archive-log", "-q", "ls"])
    assert (["cat", "run", "t"], None) == split(["cat", "run", "t"])
    assert (["run", "--task", "t"], None) == split(["run", "--task", "t"])
