"""``objlog cat`` reading the way people do: a whole run, tail, time windows, colour, ``\\r``."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_cat_hostile import _cat_on_pty

from objlog import cli
from objlog.stores import open_store
from objlog.writer import ObjectStoreWriter
from s3harness import S3Target

TIMEOUT = 180  # seconds for one CLI call on a loaded 2-core box
T0 = dt.datetime(2026, 11, 30, 10, 0, 0, tzinfo=dt.timezone.utc)
SGR = re.compile(rb"\x1b\[[0-9;]*m")


def _ts(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _line(seconds: float, line: str, seq: int = 0) -> dict[str, Any]:
    """A record as ``objlog run`` stores a line of the step's output."""
    return {"timestamp": _ts(seconds), "stream": "stdout", "sequence": seq, "line": line}


@pytest.fixture
def s3_env(
    s3_target: S3Target, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point objlog (in this process and in children) at a fresh bucket on the S3 server."""
    env = {**s3_target.env(), "OBJLOG_STORE": f"s3://{s3_bucket}"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return {**os.environ, "OBJLOG_HOME": str(tmp_path / "home")}


def _store_task(task: str, records: list[dict[str, Any]], pipelinerun: str = "pr") -> None:
    """Store `records` for one task through a writer of its own, as a step would."""
    store = open_store(os.environ["OBJLOG_STORE"])
    try:
        with ObjectStoreWriter(store, pipelinerun=pipelinerun, task=task) as writer:
            for record in records:
                writer.write(json.dumps(record))
    finally:
        store.close()


@pytest.fixture
def run_of_three(s3_env: dict[str, str]) -> None:
    """Tasks a, b, c whose lines interleave in time, with a tie at 3 s."""
    _store_task("b", [_line(1, "b at 1"), _line(3, "b at 3", 1), _line(5, "b at 5", 2)])
    _store_task("a", [_line(0, "a at 0"), _line(3, "a at 3", 1)])
    _store_task(
        "c",
        [
            {"timestamp": _ts(2), "level": "warning", "logger": "app", "message": "c at 2"},
            {"timestamp": _ts(4), "level": "error", "logger": "app", "message": "c at 4"},
        ],
    )


def _cat(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = cli.main(["cat", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.usefixtures("run_of_three")
def test_cat_run_merges_tasks_in_time_order_with_prefixes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """cat PR: every task's lines in time order, ties in task order, each prefixed [task]."""
    status, out, err = _cat(capsys, "pr")
    assert (0, "") == (status, err)
    expected = [
        "[a] a at 0",
        "[b] b at 1",
        f"[c] {_ts(2)} WARNING  app: c at 2",
        "[a] a at 3",
        "[b] b at 3",
        f"[c] {_ts(4)} ERROR    app: c at 4",
        "[b] b at 5",
    ]
    assert expected == out.splitlines()
    status, out, _ = _cat(capsys, "pr", "--no-prefix", "--no-timestamps")
    assert 0 == status
    assert ["a at 0", "b at 1", "WARNING  app: c at 2"] == out.splitlines()[:3]


@pytest.mark.usefixtures("run_of_three")
def test_cat_one_task_has_no_prefix_unless_asked(capsys: pytest.CaptureFixture[str]) -> None:
    """cat PR TASK prints the task's lines bare; --prefix adds [task]."""
    assert (0, "b at 1\nb at 3\nb at 5\n", "") == _cat(capsys, "pr", "b")
    assert (0, "[b] b at 1\n[b] b at 3\n[b] b at 5\n", "") == _cat(capsys, "--prefix", "pr", "b")


@pytest.mark.usefixtures("run_of_three")
def test_cat_run_json_names_the_task(capsys: pytest.CaptureFixture[str]) -> None:
    """--json of a run adds objlog_task to each record (JSON Lines stay parseable)."""
    status, out, _ = _cat(capsys, "--json", "pr")
    assert 0 == status
    records = [json.loads(line) for line in out.splitlines()]
    assert ["a", "b", "c", "a", "b", "c", "b"] == [r["objlog_task"] for r in records]
    assert _line(0, "a at 0") == {k: v for k, v in records[0].items() if k != "objlog_task"}
    status, out, _ = _cat(capsys, "--json", "pr", "a")
    assert "objlog_task" not in json.loads(out.splitlines()[0])


@pytest.mark.usefixtures("run_of_three")
def test_tail_takes_the_last_records_of_the_selection(capsys: pytest.CaptureFixture[str]) -> None:
    """-n N keeps the last N records after --level and --grep; -n 0 prints nothing."""
    assert ["[a] a at 3", "[b] b at 3"] == _cat(capsys, "-n", "4", "pr")[1].splitlines()[:2]
    assert 3 == len(_cat(capsys, "--tail", "3", "pr")[1].splitlines())
    _, out, _ = _cat(capsys, "-n", "1", "--level", "warning", "--no-timestamps", "pr")
    assert ["[c] ERROR    app: c at 4"] == out.splitlines()
    _, out, _ = _cat(capsys, "-n", "2", "--grep", "at [01]", "pr")
    assert ["[a] a at 0", "[b] b at 1"] == out.splitlines()
    assert (0, "", "") == _cat(capsys, "-n", "0", "pr")
    assert (0, "b at 5\n", "") == _cat(capsys, "--tail=1", "pr", "b")


@pytest.mark.usefixtures("run_of_three")
def test_since_and_until_take_rfc3339_with_offsets(capsys: pytest.CaptureFixture[str]) -> None:
    """--since/--until bound the records (inclusive), in UTC or with an offset."""
    status, out, _ = _cat(
        capsys, "pr", "--since", "2026-11-30T11:00:01+01:00", "--until", _ts(3), "--no-timestamps"
    )
    assert 0 == status
    assert ["[b] b at 1", "[c] WARNING  app: c at 2", "[a] a at 3", "[b] b at 3"] == (
        out.splitlines()
    )


def test_since_duration_back_from_now(
    s3_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """--since 10min keeps what the last ten minutes wrote; --until 1h30m keeps the older."""
    now = dt.datetime.now(dt.timezone.utc)
    stamp = (now - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    old = {"timestamp": stamp, "stream": "stdout", "sequence": 0, "line": "two hours ago"}
    stamp = (now - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    _store_task("t", [old, {**old, "timestamp": stamp, "sequence": 1, "line": "a minute ago"}])
    assert (0, "[t] a minute ago\n", "") == _cat(capsys, "--since", "10min", "pr")
    assert (0, "two hours ago\n", "") == _cat(capsys, "--until", "1h30m", "pr", "t")
    window = _cat(capsys, "--since", "3h", "--until", "1h 30m", "pr")
    assert (0, "[t] two hours ago\n", "") == window
    assert 2 == len(_cat(capsys, "--since", "2d", "pr")[1].splitlines())


@pytest.mark.usefixtures("run_of_three")
@pytest.mark.parametrize(
    "args",
    [
        ["--since", "10 parsecs"],
        ["--since", "10M"],  # months to systemd, minutes to some: refused
        ["--until", "soon"],
        ["--since", "1h", "--until", "2h"],  # since after until
        ["--until", "1h", "--follow"],
        ["--since", "99999999999999999999d"],
        ["--tail", "-1"],
        ["--tail", "x"],
        ["--color", "sometimes"],
    ],
)
def test_bad_reading_options_are_usage_errors(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A window or tail that cannot be read is one objlog: error: line and exit status 2."""
    try:
        status = cli.main(["cat", "pr", *args])
    except SystemExit as exc:  # argparse refuses before main() runs the command
        status = int(exc.code or 0)
    captured = capsys.readouterr()
    assert 2 == status
    assert "" == captured.out
    lines = captured.err.splitlines()
    assert 1 == len(lines)
    assert lines[0].startswith("objlog: error: ")


@pytest.mark.usefixtures("run_of_three")
def test_timestamps_on_and_off(capsys: pytest.CaptureFixture[str]) -> None:
    """--timestamps dates every line; --no-timestamps none; the default dates logger records."""
    _, out, _ = _cat(capsys, "-t", "pr")
    assert f"[a] {_ts(0)} a at 0" == out.splitlines()[0]
    assert f"[c] {_ts(2)} WARNING  app: c at 2" == out.splitlines()[2]
    _, out, _ = _cat(capsys, "--no-timestamps", "pr")
    assert not any(_ts(n) in out for n in range(6))
    _, out, _ = _cat(capsys, "pr", "a")
    assert "a at 0\na at 3\n" == out


# -- carriage returns ----------------------------------------------------------------------

TQDM = "\r  0%|          | 0/3\r 33%|###3      | 1/3\r100%|##########| 3/3"


@pytest.fixture
def progress(s3_env: dict[str, str]) -> None:
    """A progress bar line, a hostile redraw and a CRLF line."""
    _store_task(
        "t",
        [
            _line(0, TQDM),
            _line(1, "working\r\x1b[K\x1b]52;c;aGk=\x07done", 1),
            _line(2, "dos line\r", 2),
        ],
    )


@pytest.mark.usefixtures("progress")
def test_progress_line_shows_its_last_state_when_shown(capsys: pytest.CaptureFixture[str]) -> None:
    """--escape (a terminal's default) shows the last state; what remains is still escaped."""
    status, out, _ = _cat(capsys, "--escape", "pr", "t")
    assert 0 == status
    assert ["100%|##########| 3/3", "^[]52;c;aGk=^Gdone", "dos line"] == out.splitlines()


@pytest.mark.usefixtures("progress")
def test_raw_and_json_keep_the_carriage_returns(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """--raw (and piped output) keep every byte; --json keeps the \\r in the line."""
    assert 0 == cli.main(["cat", "--raw", "pr", "t"])
    out = capsysbinary.readouterr().out
    assert TQDM.encode() + b"\n" == out.split(b"\n", 1)[0] + b"\n"
    assert b"\x1b]52;c;aGk=\x07done\n" in out
    assert 0 == cli.main(["cat", "--json", "pr", "t"])
    lines = capsysbinary.readouterr().out.splitlines()
    assert TQDM == json.loads(lines[0])["line"]


@given(st.lists(st.text(alphabet="ab \r\x1b[K", max_size=8), max_size=6), st.booleans())
def test_last_state_properties(parts: list[str], newline: bool) -> None:
    """No \\r is left; the result is a part of the line; the newline is kept; idempotent."""
    data = "\r".join(parts).encode() + (b"\n" if newline else b"")
    shown = cli.last_state(data)
    body = shown[:-1] if newline else shown
    assert b"\r" not in shown
    assert shown.endswith(b"\n") == newline
    assert body in data
    assert shown == cli.last_state(shown)
    if b"\r" not in data:
        assert data == shown


def test_last_state_examples() -> None:
    """The last part that is not blank, less an erase-line that opens it."""
    assert b"100%\n" == cli.last_state(b"\r 10%\r 50%\r100%\n")
    assert b"done" == cli.last_state(b"work\r\x1b[2Kdone")
    assert b"done\n" == cli.last_state(b"done\r   \r\n")
    assert b"crlf\n" == cli.last_state(b"crlf\r\n")
    assert b"plain \x1b[K\n" == cli.last_state(b"plain \x1b[K\n")


# -- durations -------------------------------------------------------------------------------

_UNIT_SECONDS = {"s": 1, "sec": 1, "seconds": 1, "m": 60, "min": 60, "mins": 60, "minutes": 60}
_UNIT_SECONDS |= {"h": 3600, "hr": 3600, "d": 86400, "days": 86400, "w": 604800, "weeks": 604800}


@given(
    st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(sorted(_UNIT_SECONDS))),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(["", " "]),
)
def test_duration_round_trip(parts: list[tuple[int, str]], space: str) -> None:
    """A generated duration (10m, 1h30m, 2d 4h...) parses to the sum of its parts in seconds."""
    text = space.join(f"{n}{unit}" for n, unit in parts)
    assert sum(n * _UNIT_SECONDS[unit] for n, unit in parts) == cli._parse_duration(text)
    now = T0 + dt.timedelta(days=100_000)
    seconds = sum(n * _UNIT_SECONDS[unit] for n, unit in parts)
    assert now - dt.timedelta(seconds=seconds) == cli._parse_since(text, now)


@given(st.text(max_size=12))
def test_duration_refusals_are_usage_errors(text: str) -> None:
    """Anything else is either an RFC 3339 time or refused with a usage error, never a crash."""
    if cli._parse_duration(text) is not None:
        return
    try:
        when = cli._parse_time(text, "--since", T0)
    except cli._UsageError as exc:
        assert str(exc).startswith("--since ")
    else:
        assert when.tzinfo is not None


def test_duration_examples() -> None:
    """The issue's forms parse; look-alikes do not."""
    assert [600, 600, 5400, 172800, 90, 5400] == [
        cli._parse_duration(t) for t in ("10m", "10min", "1h30m", "2d", "90s", "1.5h")
    ]
    assert [None] * 6 == [cli._parse_duration(t) for t in ("10M", "10ms", "h", "1", "", "-1h")]


# -- colour, on a terminal and piped ----------------------------------------------------------


@pytest.mark.process
@pytest.mark.usefixtures("run_of_three")
def test_colour_by_level_on_a_terminal_only(s3_env: dict[str, str]) -> None:
    """On a pty: error red, warning yellow; NO_COLOR or a pipe: not one escape sequence."""
    status, shown = _cat_on_pty(["--no-timestamps", "pr"], s3_env)
    assert 0 == status
    lines = shown.splitlines()
    assert b"\x1b[33mWARNING  app: c at 2\x1b[0m" in lines[2]
    assert b"\x1b[31mERROR    app: c at 4\x1b[0m" in lines[5]
    assert [b"[a] a at 0"] == [SGR.sub(b"", lines[0])]
    status, shown = _cat_on_pty(["pr"], {**s3_env, "NO_COLOR": "1"})
    assert 0 == status
    assert b"\x1b" not in shown
    assert b"[c] " in shown
    piped = subprocess.run(
        [sys.executable, "-m", "objlog", "cat", "pr"],
        env=s3_env,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert 0 == piped.returncode, piped.stderr
    assert b"\x1b" not in piped.stdout
    forced = subprocess.run(
        [sys.executable, "-m", "objlog", "cat", "--color", "always", "pr"],
        env=s3_env,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert b"\x1b[31m" in forced.stdout


# -- follow a run ------------------------------------------------------------------------------


def _readline(proc: subprocess.Popen[bytes]) -> bytes:
    assert proc.stdout is not None
    return proc.stdout.readline()


@pytest.fixture
def follower(s3_env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``objlog cat -f -n 1 pr`` on a run that has two lines of task a; interrupted afterwards."""
    _store_task("a", [_line(0, "a old"), _line(1, "a last", 1)])
    proc = subprocess.Popen(
        [sys.executable, "-m", "objlog", "cat", "-f", "-n", "1", "--poll-interval", "0.2", "pr"],
        env=s3_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=TIMEOUT)


@pytest.mark.process
def test_follow_a_run_tails_then_shows_a_task_that_starts_later(
    follower: subprocess.Popen[bytes],
) -> None:
    """cat -f -n 1 PR: the last stored line, then lines of a task that starts afterwards."""
    assert b"[a] a last\n" == _readline(follower)
    _store_task("b", [_line(5, "b new")])
    assert b"[b] b new\n" == _readline(follower)
    _store_task("a", [_line(6, "a new", 2)])
    assert b"[a] a new\n" == _readline(follower)
