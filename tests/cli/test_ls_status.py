"""objlog ls with statuses (newest runs first, --limit, --json) and the end of a follow."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import time
from pathlib import Path

import pytest

from objlog import cli, reader
from objlog._layout import status_key
from objlog._run import RunOptions, run_step
from objlog._status import SUCCEEDED, TaskStatus
from objlog.stores.local import LocalStore
from objlog.writer import ObjectStoreWriter

SECRET = "tok-NEVER-SHOWN-42"


def _step(store: LocalStore, pr: str, task: str, code: str) -> None:
    options = RunOptions(
        command=[sys.executable, "-c", code, f"--token={SECRET}"], pipelinerun=pr, task=task
    )
    run_step(store, options, stdout=io.BytesIO(), stderr=io.BytesIO())


def _put_status(store: LocalStore, pr: str, task: str, started: dt.datetime) -> None:
    status = TaskStatus(
        pipelinerun=pr,
        task=task,
        status=SUCCEEDED,
        started=started,
        finished=started + dt.timedelta(seconds=3),
        exit_code=0,
    )
    store.put_object(status_key(store.prefix, pr, task), status.encode())


def _ls(capsys: pytest.CaptureFixture[str], store: LocalStore, *args: str) -> tuple[int, str]:
    code = cli.main(["ls", "--store", str(store.directory), *args])
    return code, capsys.readouterr().out


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    """A local directory store (what ``ls`` would open from a path)."""
    return LocalStore(tmp_path / "store")


def test_ls_run_lists_tasks_with_outcome(
    store: LocalStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """ls PR --json: status, exit code, RFC 3339 times, size; unknown for a library-written task."""
    _step(store, "pr", "ok", "print('fine')")
    _step(store, "pr", "bad", "import sys; sys.exit(4)")
    _step(store, "pr", "silent", "pass")
    with ObjectStoreWriter(store, pipelinerun="pr", task="lib") as writer:
        writer.write('{"message": "from the library"}')
    code, out = _ls(capsys, store, "pr", "--json")
    assert 0 == code
    lines = {row["task"]: row for row in map(json.loads, out.splitlines())}
    assert {"ok", "bad", "silent", "lib"} == set(lines)
    assert ("succeeded", 0) == (lines["ok"]["status"], lines["ok"]["exit_code"])
    assert ("failed", 4) == (lines["bad"]["status"], lines["bad"]["exit_code"])
    assert ("succeeded", 0) == (lines["silent"]["status"], lines["silent"]["exit_code"])
    assert ("unknown", None, None) == (
        lines["lib"]["status"],
        lines["lib"]["exit_code"],
        lines["lib"]["finished"],
    )
    for row in lines.values():
        assert "pr" == row["pipelinerun"]
        assert row["started"].endswith("Z")  # the library task: its first batch's time
        dt.datetime.fromisoformat(row["started"].replace("Z", "+00:00"))
        assert row["size_bytes"] >= 0
    assert lines["ok"]["finished"].endswith("Z")
    assert lines["ok"]["size_bytes"] > 0
    assert SECRET not in out


def test_ls_run_table_has_the_columns(
    store: LocalStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """The human table: task, status, start, duration, exit code, size; no secret."""
    _step(store, "pr", "bad", "import sys; sys.exit(4)")
    code, out = _ls(capsys, store, "pr")
    assert 0 == code
    header, row = out.splitlines()
    assert ["TASK", "STATUS", "STARTED", "DURATION", "EXIT", "SIZE"] == header.split()
    cells = row.split()
    assert ["bad", "failed"] == cells[:2]
    assert cells[2].endswith("Z")
    assert cells[3].endswith("s")
    assert "4" == cells[4]
    assert SECRET not in out


def test_ls_runs_newest_first_with_limit(
    store: LocalStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """Runs are sorted by start time, newest first, whatever their names; --limit cuts."""
    base = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for name, hours in (("b-old", 0), ("a-new", 5), ("c-mid", 2)):
        _put_status(store, name, "t", base + dt.timedelta(hours=hours))
    code, out = _ls(capsys, store, "--json")
    assert 0 == code
    rows = [json.loads(line) for line in out.splitlines()]
    assert ["a-new", "c-mid", "b-old"] == [r["pipelinerun"] for r in rows]
    assert "2026-01-01T05:00:00Z" == rows[0]["started"]
    assert all(r["status"] == "succeeded" for r in rows)
    code, out = _ls(capsys, store, "--limit", "2")
    assert ["RUN", "a-new", "c-mid"] == [line.split()[0] for line in out.splitlines()]


def test_ls_limit_must_be_positive(store: LocalStore, capsys: pytest.CaptureFixture[str]) -> None:
    """--limit 0 is a usage error."""
    assert 2 == cli.main(["ls", "--store", str(store.directory), "--limit", "0"])
    assert "--limit" in capsys.readouterr().err


def test_reader_never_takes_the_status_for_a_batch(store: LocalStore) -> None:
    """A silent step: a status, no log records; listing and reading agree."""
    _step(store, "pr", "silent", "pass")
    assert [] == reader.list_task_objects(store, "pr", "silent").logs
    assert [] == list(reader.read_records(store, "pr", "silent", follow=True, until=lambda: True))
    assert reader.is_finished(store, "pr", "silent")
    assert reader.is_finished(store, "pr")


def test_follow_ends_once_finished_after_a_last_poll(store: LocalStore) -> None:
    """A batch stored just before the step is seen finished is still yielded, then the end."""
    with ObjectStoreWriter(store, pipelinerun="pr", task="t") as writer:
        writer.write('{"message": "one"}')

    def finished_after_a_last_batch() -> bool:
        # As objlog run does: the last log batch is stored, then the end status.
        with ObjectStoreWriter(store, pipelinerun="pr", task="t") as late:
            late.write('{"message": "two"}')
        return True

    started = time.monotonic()
    records = reader.read_records(
        store, "pr", "t", follow=True, poll_interval=60, until=finished_after_a_last_batch
    )
    assert ["one", "two"] == [r["message"] for r in records]
    assert time.monotonic() - started < 30  # never waited a poll interval


def test_run_with_a_task_without_status_is_never_finished(store: LocalStore) -> None:
    """A run is finished only when every task has a finished status."""
    _step(store, "pr", "a", "pass")
    with ObjectStoreWriter(store, pipelinerun="pr", task="lib") as writer:
        writer.write("x")
    assert reader.is_finished(store, "pr", "a")
    assert not reader.is_finished(store, "pr", "lib")
    assert not reader.is_finished(store, "pr")
    assert not reader.is_finished(store, "nope")
