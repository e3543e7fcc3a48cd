"""``objlog cat`` on hostile objects: bounded memory, and no raw escape sequence on a terminal."""

from __future__ import annotations

import datetime as dt
import errno
import gzip
import json
import os
import pty
import re
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog import _layout
from objlog.cli import escape_controls
from s3harness import S3Target

pytestmark = pytest.mark.process

TIMEOUT = 180  # seconds for one CLI call on a loaded 2-core box
MIB = 1024**2
T0 = dt.datetime(2026, 11, 21, 11, 40, 0, tzinfo=dt.timezone.utc)
# One record of `objlog run` (OSC 52 writes the clipboard, then BEL) and one
# structured record (ESC [2J clears the screen), plus C1 CSI and a bidi override.
CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"
CLEAR = "\x1b[2J"
HOSTILE = [
    {"timestamp": "2026-11-21T11:40:00.000001Z", "stream": "stdout", "sequence": 0,
     "line": f"before {CLIPBOARD} after"},
    {"timestamp": "2026-11-21T11:40:00.000002Z", "level": "info",
     "message": f"{CLEAR}title \u009b31m red \u202eevil"},
]  # fmt: skip


@pytest.fixture
def s3_env(s3_target: S3Target, s3_bucket: str, tmp_path: Path) -> dict[str, str]:
    """Environment pointing objlog at a fresh bucket on the S3 server."""
    return {
        **os.environ,
        **s3_target.env(),
        "OBJLOG_STORE": f"s3://{s3_bucket}",
        "OBJLOG_HOME": str(tmp_path / "home"),
    }


def _batch_key(seq: int) -> str:
    stamp = (T0 + dt.timedelta(seconds=seq)).strftime("%Y%m%dT%H%M%S.%fZ")
    return _layout.logs_prefix("", "pr", "t") + f"{stamp}-w1-{seq:08d}.jsonl.gz"


def _put(target: S3Target, bucket: str, key: str, body: bytes) -> None:
    target.boto3_client().put_object(Bucket=bucket, Key=key, Body=body)


def _jsonl(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _gzip_with_long_line(before: bytes, line_bytes: int, after: bytes) -> bytes:
    """Gzip of `before`, one line of `line_bytes` bytes of 'x', `after`: built in bounded memory."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [z.compress(before)]
    block = b"x" * MIB
    for _ in range(line_bytes // MIB):
        parts.append(z.compress(block))
    parts.append(z.compress(b"\n" + after))
    parts.append(z.flush())
    return b"".join(parts)


def test_long_line_streams_in_bounded_memory(
    s3_target: S3Target, s3_bucket: str, s3_env: dict[str, str], tmp_path: Path
) -> None:
    """256 MiB line in a tiny gzip: cat stays far below it; neighbours intact, cut marked."""
    if not sys.platform.startswith("linux"):
        pytest.skip("VmHWM is in /proc/self/status on Linux only")
    line_bytes = 256 * MIB
    before = _jsonl([{"timestamp": "2026-11-21T11:40:00Z", "message": "first"}])
    after = _jsonl([{"timestamp": "2026-11-21T11:40:01Z", "message": "last"}])
    body = _gzip_with_long_line(before, line_bytes, after)
    assert len(body) < 2 * MIB  # the hostile object is small; its line is not
    _put(s3_target, s3_bucket, _batch_key(0), body)
    # Wrap the CLI so the child prints its own peak RSS when it exits.
    wrapper = tmp_path / "cat_rss.py"
    wrapper.write_text(
        "import sys\n"
        "from objlog.cli import main\n"
        "status = main(sys.argv[1:])\n"
        # VmHWM, not ru_maxrss: that survives execve (a big pytest parent's RSS).
        "peak = next(int(l.split()[1]) for l in open('/proc/self/status')"
        " if l.startswith('VmHWM:'))\n"
        "print(f'OBJLOG_TEST_MAXRSS={peak}', file=sys.stderr)\n"
        "sys.exit(status)\n"
    )
    proc = subprocess.run(
        [sys.executable, str(wrapper), "cat", "--json", "--max-line-bytes", "65536", "pr", "t"],
        env=s3_env,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert 0 == proc.returncode, proc.stderr.decode(errors="replace")
    match = re.search(rb"OBJLOG_TEST_MAXRSS=(\d+)", proc.stderr)
    assert match is not None, proc.stderr.decode(errors="replace")
    peak = int(match.group(1)) * 1024  # VmHWM is in kB
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert ["first", "x" * 65536 + "\u2026", "last"] == [r["message"] for r in records]
    assert line_bytes == records[1]["objlog_truncated"]
    # The interpreter, boto3 and the S3 client alone take ~60-90 MiB.
    assert peak < 160 * MIB, f"peak RSS {peak / MIB:.0f} MiB for a {line_bytes // MIB} MiB line"


def _read_pty(master: int) -> bytes:
    """Read everything from a pty master until the slave side is closed everywhere."""
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError as exc:  # Linux: EIO once the child closed the slave
            if exc.errno != errno.EIO:
                raise
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def _cat_on_pty(args: list[str], env: dict[str, str]) -> tuple[int, bytes]:
    """Run ``objlog cat ARGS`` with stdout on a pseudo-terminal; return (status, what it showed)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "objlog", "cat", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=subprocess.PIPE,
        )
        os.close(slave)
        slave = -1
        shown = _read_pty(master)
        proc.wait(TIMEOUT)
        assert proc.stderr is not None
        assert b"" == proc.stderr.read()
        proc.stderr.close()
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    return proc.returncode, shown


@pytest.fixture
def hostile(s3_target: S3Target, s3_bucket: str) -> None:
    """Store one batch holding records with escape sequences, C1 and bidi characters."""
    _put(s3_target, s3_bucket, _batch_key(0), gzip.compress(_jsonl(HOSTILE)))


@pytest.mark.usefixtures("hostile")
def test_cat_on_terminal_shows_controls_visibly(s3_env: dict[str, str]) -> None:
    """On a terminal, OSC 52 and ESC [2J come out as ^[...^G text: no raw ESC, C1 or bidi."""
    status, shown = _cat_on_pty(["pr", "t"], s3_env)
    assert 0 == status
    assert b"\x1b" not in shown
    assert b"\x07" not in shown
    text = shown.decode("utf-8")
    assert "before ^[]52;c;cm0gLXJmIH4=^G after" in text
    assert "^[[2Jtitle <U+009B>31m red <U+202E>evil" in text
    assert not re.search("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)


@pytest.mark.usefixtures("hostile")
def test_cat_raw_on_terminal_and_piped_keep_the_bytes(s3_env: dict[str, str]) -> None:
    """Piped (and --raw on a terminal) output is the stored bytes; --escape forces escaping."""
    piped = subprocess.run(
        [sys.executable, "-m", "objlog", "cat", "pr", "t"],
        env=s3_env,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert 0 == piped.returncode, piped.stderr
    lines = piped.stdout.decode("utf-8").split("\n")
    assert f"before {CLIPBOARD} after" == lines[0]
    assert lines[1].endswith(f"{CLEAR}title \u009b31m red \u202eevil")
    status, shown = _cat_on_pty(["--raw", "pr", "t"], s3_env)
    assert 0 == status
    assert CLIPBOARD.encode() in shown
    forced = subprocess.run(
        [sys.executable, "-m", "objlog", "cat", "--escape", "pr", "t"],
        env=s3_env,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert 0 == forced.returncode, forced.stderr
    assert forced.stdout.startswith(b"before ^[]52;c;cm0gLXJmIH4=^G after\n")


@pytest.mark.usefixtures("hostile")
def test_cat_json_escapes_controls(s3_env: dict[str, str]) -> None:
    """--json (on a terminal too) writes ESC, C1 and bidi as \\u escapes; values round-trip."""
    status, shown = _cat_on_pty(["--json", "pr", "t"], s3_env)
    assert 0 == status
    assert b"\x1b" not in shown
    text = shown.decode("utf-8")
    assert not re.search("[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e]", text)
    assert "\\u001b]52;c;" in text
    assert HOSTILE == [json.loads(line) for line in text.splitlines() if line.strip()]


# -- the escaping function -----------------------------------------------------------------

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@given(st.text())
def test_escape_controls_leaves_nothing_a_terminal_acts_on(text: str) -> None:
    """No C0 control but tab and newline, no DEL, C1 or bidi survives; escaping is idempotent."""
    shown = escape_controls(text)
    assert _UNSAFE.search(shown) is None
    assert shown == escape_controls(shown)
    assert shown.count("\n") == text.count("\n")
    assert shown.count("\t") == text.count("\t")


@given(st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs"))))
def test_escape_controls_keeps_printable_text(text: str) -> None:
    """Text without control or format characters comes out unchanged."""
    assert text == escape_controls(text)


@given(st.lists(st.sampled_from(["\x1b", "\x07", "\x9b", "\x7f", "\u202e", "\r", "a", "^", "["])))
def test_escape_controls_tells_different_controls_apart(chars: list[str]) -> None:
    """Each control character has its own visible form, so different controls look different."""
    forms = {c: escape_controls(c) for c in chars if _UNSAFE.match(c)}
    assert len(set(forms.values())) == len(forms)
    for form in forms.values():
        assert form.isprintable()


def test_escape_controls_examples() -> None:
    """Caret notation for C0 and DEL, <U+XXXX> for C1 and bidi, tab and newline kept."""
    assert "^[[2J^G^M^?<U+009B><U+202E>\t\n" == escape_controls("\x1b[2J\x07\r\x7f\x9b\u202e\t\n")


def test_messages_on_stderr_show_control_characters_visibly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A hostile key in a warning (objlog: skipped KEY) cannot drive the terminal."""
    from objlog import cli

    cli._say("warning: skipped logs/r/t/\x1b]52;c;aGk=\x07x.jsonl.gz")
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert "^[]52;c;aGk=^G" in err
