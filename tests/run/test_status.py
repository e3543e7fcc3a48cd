"""objlog._status: secrets out of the stored command line, the document, the status writer."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog._status import (
    FAILED,
    REDACTED,
    RUNNING,
    SUCCEEDED,
    UNKNOWN,
    StatusWriter,
    TaskStatus,
    parse_status,
    redact_argv,
)
from objlog.errors import PermanentStoreError
from objlog.stores.memory import MemoryStore

# A secret: long enough never to occur by chance in the rest of a command line.
secrets_ = st.text(alphabet="QWXYZ+!%~", min_size=12, max_size=30)  # no plain character
# Plain arguments: no secret word, no '=', ':' or '@' to look like an assignment or a URL.
plain = st.text(alphabet="abcdefghmnorxyz0123456789-_./ ", max_size=20).filter(
    lambda s: not s.startswith(("--", "-u")) and s != "-u"
)
option_names = st.sampled_from(
    ["password", "passwd", "db-password", "token", "auth-token", "api-key", "secret",
     "client-secret", "access-key", "credentials", "sig", "AWS_SECRET"]
)  # fmt: skip
env_names = st.sampled_from(
    ["AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "api_key", "HF_TOKEN",
     "AWS_SESSION_TOKEN", "MY_SECRET_VALUE", "PGPASSWORD", "PASSWORD", "token"]
)  # fmt: skip


@st.composite
def secret_args(draw: st.DrawFn) -> tuple[list[str], str]:
    """A command line of plain arguments with one secret in one of the redacted places."""
    secret = draw(secrets_)
    form = draw(st.integers(0, 6))
    if form == 0:
        piece = [f"--{draw(option_names)}", secret]
    elif form == 1:
        piece = [f"--{draw(option_names)}={secret}"]
    elif form == 2:
        piece = [f"{draw(env_names)}={secret}"]
    elif form == 3:
        piece = [f"--db=postgres://bob:{secret}@db.example:5432/x"]
    elif form == 4:
        piece = [f"https://h.example/o?X-Amz-Signature={secret}&x=1"]
    elif form == 5:
        piece = ["-H", f"Authorization: Bearer {secret}"]
    else:
        piece = ["-u", f"bob:{secret}"]
    before = draw(st.lists(plain, max_size=4))
    after = draw(st.lists(plain, max_size=4))
    return [*before, *piece, *after], secret


@given(case=secret_args())
def test_redaction_removes_the_secret(case: tuple[list[str], str]) -> None:
    """Wherever the secret sits among the shapes handled, it is gone; the length is kept."""
    argv, secret = case
    out = redact_argv(argv)
    assert len(argv) == len(out)
    assert not any(secret in arg for arg in out), out
    assert any(REDACTED in arg for arg in out)


@given(argv=st.lists(plain, max_size=8))
def test_plain_arguments_are_kept(argv: list[str]) -> None:
    """A command line without anything secret-looking comes back unchanged."""
    assert argv == redact_argv(argv)


@given(case=secret_args())
def test_redaction_is_idempotent(case: tuple[list[str], str]) -> None:
    """Redacting twice changes nothing more."""
    once = redact_argv(case[0])
    assert once == redact_argv(once)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--password-file", "/run/pw"], ["--password-file", "/run/pw"]),
        (["login", "--password-stdin", "reg"], ["login", "--password-stdin", "reg"]),
        (["--no-auth", "train.py"], ["--no-auth", "train.py"]),
        (["--author", "ann"], ["--author", "ann"]),
        (["--token"], ["--token"]),
        (["https://ann@h/x"], ["https://ann@h/x"]),
        (["--user=ann"], ["--user=ann"]),
    ],
)  # fmt: skip
def test_redaction_keeps_what_holds_no_secret(argv: list[str], expected: list[str]) -> None:
    """Options naming a file or a flag, and URLs without a password, are kept."""
    assert expected == redact_argv(argv)


times = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)


@given(
    status=st.sampled_from([RUNNING, SUCCEEDED, FAILED]),
    started=times,
    seconds=st.floats(0, 10**6),
    exit_code=st.none() | st.integers(0, 255),
    command=st.lists(st.text(max_size=10), max_size=4),
    counts=st.tuples(*(st.integers(0, 2**40) for _ in range(5))),
    results=st.lists(st.text(min_size=1, max_size=8), max_size=3),
)
def test_document_round_trips(
    status: str,
    started: dt.datetime,
    seconds: float,
    exit_code: int | None,
    command: list[str],
    counts: tuple[int, int, int, int, int],
    results: list[str],
) -> None:
    """parse_status(encode()) gives back the status (times to the microsecond)."""
    finished = started + dt.timedelta(microseconds=int(seconds * 1e6))
    original = TaskStatus(
        pipelinerun="pr",
        task="t",
        status=status,
        started=started,
        finished=finished,
        exit_code=exit_code,
        step_exit_code=exit_code,
        signal="SIGTERM" if exit_code == 143 else None,
        host="h",
        command=tuple(command),
        objlog_version="1.0",
        lines_stored=counts[0],
        lines_spooled=counts[1],
        lines_lost=counts[2],
        output_bytes=counts[3],
        stored_bytes=counts[4],
        results=tuple(results),
    )
    assert original == parse_status(original.encode(), "pr", "t")


@pytest.mark.parametrize(
    "data",
    [b"{}", b'{"status": "weird", "exit_code": "0", "started": 5}', b'{"lines": [1]}'],
)
def test_odd_documents_read_as_unknown_fields(data: bytes) -> None:
    """Missing or mistyped fields read as unknown, not as an error."""
    got = parse_status(data, "pr", "t")
    assert (UNKNOWN, None, None) == (got.status, got.exit_code, got.started)
    assert 0 == got.lines_stored


@pytest.mark.parametrize("data", [b"[1]", b"not json", b"\xff"])
def test_non_documents_raise_value_error(data: bytes) -> None:
    """Not a JSON object: ValueError (readers turn it into unknown)."""
    with pytest.raises(ValueError):
        parse_status(data, "pr", "t")


def _status(state: str) -> TaskStatus:
    return TaskStatus(pipelinerun="pr", task="t", status=state)


def test_writer_reports_a_refused_put_and_never_raises() -> None:
    """A store that refuses the status: one warning naming the key, no exception."""
    store = MemoryStore()

    def refuse(verb: str, key: str) -> None:
        raise PermanentStoreError("AccessDenied", bucket="memory", key=key, reason="AccessDenied")

    store.fault = refuse
    said: list[str] = []
    writer = StatusWriter(store, "status/pr/t/status.json", said.append, timeout=1.0)
    writer.start(_status(RUNNING))
    assert not writer.finish(_status(SUCCEEDED))
    assert 2 == len(said)
    assert all("status/pr/t/status.json" in line for line in said)


def test_end_status_is_not_overwritten_by_a_slow_start() -> None:
    """The end waits for the start PUT in flight: the stored status is the end one."""
    store = MemoryStore()
    held = threading.Event()
    release = threading.Event()

    def hold_first(verb: str, key: str) -> None:
        if not held.is_set():
            held.set()
            release.wait(10)

    store.fault = hold_first
    writer = StatusWriter(store, "status/pr/t/status.json", timeout=5.0)
    writer.start(_status(RUNNING))
    assert held.wait(10)
    threading.Timer(0.3, release.set).start()
    assert writer.finish(_status(FAILED))
    assert FAILED == parse_status(store.get_object("status/pr/t/status.json"), "pr", "t").status
