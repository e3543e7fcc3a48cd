"""run_step stores the task's status: running while the step runs, then its outcome."""

from __future__ import annotations

import io
import sys
import threading
import time
from pathlib import Path

import pytest

from objlog import reader
from objlog._run import RunOptions, run_step
from objlog._status import FAILED, RUNNING, SUCCEEDED
from objlog.errors import PermanentStoreError
from objlog.stores.memory import MemoryStore

KEY = "status/pr/t/status.json"


def _run(store: MemoryStore, code: str, **kw: object) -> tuple[object, list[str]]:
    said: list[str] = []
    options = RunOptions(
        command=[sys.executable, "-c", code, "--token=tok-SECRET-1"],
        pipelinerun="pr",
        task="t",
        **kw,  # type: ignore[arg-type]
    )
    report = run_step(store, options, stdout=io.BytesIO(), stderr=io.BytesIO(), say=said.append)
    return report, said


def test_silent_step_has_a_succeeded_status() -> None:
    """A step that prints nothing leaves a status: succeeded, exit 0, times, no secret."""
    store = MemoryStore()
    report, _ = _run(store, "pass")
    assert report.status_stored  # type: ignore[attr-defined]
    got = reader.read_status(store, "pr", "t")
    assert (SUCCEEDED, 0, 0, None) == (got.status, got.exit_code, got.step_exit_code, got.signal)
    assert got.started is not None and got.finished is not None
    assert got.duration is not None and 0 <= got.duration < 60
    assert got.host
    assert got.command[-1] == "--token=***"
    assert b"tok-SECRET-1" not in store.get_object(KEY)
    assert ["t"] == reader.list_tasks(store, "pr")
    assert ["pr"] == reader.list_runs(store)


def test_failed_step_counts_lines_and_bytes() -> None:
    """Exit 3: failed with exit code 3; lines and bytes as the report says."""
    store = MemoryStore()
    report, _ = _run(store, "import sys\nprint('a')\nprint('bb', file=sys.stderr)\nsys.exit(3)")
    got = reader.read_status(store, "pr", "t")
    assert (FAILED, 3, 3) == (got.status, got.exit_code, got.step_exit_code)
    assert (2, 0, 0) == (got.lines_stored, got.lines_spooled, got.lines_lost)
    assert 5 == got.output_bytes  # "a\n" + "bb\n"
    assert got.stored_bytes == report.stored_bytes > 0  # type: ignore[attr-defined]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_killed_step_names_the_signal() -> None:
    """A step killed by SIGTERM: failed, exit 143, signal SIGTERM."""
    store = MemoryStore()
    _run(store, "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)")
    got = reader.read_status(store, "pr", "t")
    assert (FAILED, 143, 143, "SIGTERM") == (
        got.status,
        got.exit_code,
        got.step_exit_code,
        got.signal,
    )


def test_status_is_running_while_the_step_runs(tmp_path: Path) -> None:
    """Before the step ends the status says running, with its start time."""
    store = MemoryStore()
    gate = tmp_path / "go"
    code = f"import pathlib, time\nwhile not pathlib.Path({str(gate)!r}).exists(): time.sleep(0.05)"
    seen: list[object] = []

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = reader.read_status(store, "pr", "t")
            if status.status != "unknown":
                seen.append(status)
                break
            time.sleep(0.05)
        gate.write_text("go")

    watcher = threading.Thread(target=watch)
    watcher.start()
    _run(store, code)
    watcher.join()
    assert 1 == len(seen)
    running = seen[0]
    assert RUNNING == running.status  # type: ignore[attr-defined]
    assert running.started is not None and running.finished is None  # type: ignore[attr-defined]
    assert SUCCEEDED == reader.read_status(store, "pr", "t").status


def test_status_store_failure_never_fails_the_step() -> None:
    """The store refuses status objects: a warning each time, the step and its log unharmed."""
    store = MemoryStore()

    def refuse_status(verb: str, key: str) -> None:
        if verb == "put" and key.startswith("status/"):
            raise PermanentStoreError("AccessDenied", bucket="memory", key=key, reason="Denied")

    store.fault = refuse_status
    report, said = _run(store, "print('kept')")
    assert 0 == report.exit_status  # type: ignore[attr-defined]
    assert not report.status_stored  # type: ignore[attr-defined]
    assert 2 == sum("status not stored" in line for line in said), said
    assert ["kept"] == [r["line"] for r in reader.read_records(store, "pr", "t")]


def test_status_off_stores_none() -> None:
    """RunOptions(status=False): no status object."""
    store = MemoryStore()
    _run(store, "print(1)", status=False)
    assert [] == [k for k in store.keys() if k.startswith("status/")]  # noqa: SIM118 (not a dict)
