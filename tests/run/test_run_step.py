"""run_step in-process on the in-memory store: results, failures and what the report says."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from objlog import reader
from objlog._run import EXIT_STORE_FAILED, RunOptions, run_step
from objlog.errors import PermanentStoreError, StoreError
from objlog.results import ResultWriter
from objlog.stores.memory import MemoryStore


def _options(tmp_path: Path, code: str, **kw: object) -> RunOptions:
    return RunOptions(
        command=[sys.executable, "-c", code],
        pipelinerun="pr",
        task="t",
        **kw,  # type: ignore[arg-type]
    )


def test_run_step_stores_lines_results_and_archive(tmp_path: Path) -> None:
    """Both streams, a result and main-log.tgz are stored; the status is the child's."""
    store = MemoryStore()
    metrics = tmp_path / "m.json"
    metrics.write_text('{"accuracy": 0.9}')
    out, err = io.BytesIO(), io.BytesIO()
    code = "import sys; print('a'); print('b', file=sys.stderr); sys.exit(5)"
    report = run_step(
        store,
        _options(tmp_path, code, results=[("metrics", str(metrics))], archive_log=True),
        stdout=out,
        stderr=err,
    )
    assert 5 == report.exit_status
    assert 5 == report.child_status
    assert 2 == report.lines
    assert report.synced
    assert [] == report.failures
    assert ["main-log", "metrics"] == sorted(report.results)
    assert b"a\n" == out.getvalue()
    assert b"b\n" == err.getvalue()
    lines = sorted(r["line"] for r in reader.read_records(store, "pr", "t"))
    assert ["a", "b"] == lines
    assert b'{"accuracy": 0.9}' == ResultWriter(store).read("pr", "t", "metrics")
    assert ["a", "b"] == sorted(ResultWriter(store).read("pr", "t", "main-log").decode().split())


def test_failed_result_turns_success_into_exit_1(tmp_path: Path) -> None:
    """A result the store refuses is reported and a successful step exits 1; the log is kept."""
    store = MemoryStore()
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights")

    def refuse_results(verb: str, key: str) -> None:
        if verb == "put" and "/artifacts/" in f"/{key}":
            raise PermanentStoreError(
                "AccessDenied", bucket="memory", key=key, reason="AccessDenied"
            )

    store.fault = refuse_results
    report = run_step(
        store,
        _options(tmp_path, "print('trained')", results=[("model", str(source))]),
        stdout=io.BytesIO(),
        stderr=io.BytesIO(),
    )
    assert 1 == report.exit_status
    assert 0 == report.child_status
    assert 1 == len(report.failures)
    assert report.failures[0].startswith("result model:")
    assert [{"line": "trained"}] == [
        {"line": r["line"]} for r in reader.read_records(store, "pr", "t")
    ]


@pytest.mark.parametrize(("child_exit", "expected"), [(0, EXIT_STORE_FAILED), (4, 4)])
def test_store_down_without_spool_loses_lines_and_exits_non_zero(
    tmp_path: Path, child_exit: int, expected: int
) -> None:
    """Store down, no spool: every line is counted lost; a step's success becomes exit 1."""
    store = MemoryStore()

    def down(verb: str, key: str) -> None:
        raise StoreError("connection refused", bucket="memory", key=key, reason="Down")

    store.fault = down
    code = f"import sys; print('x'); print('y'); sys.exit({child_exit})"
    report = run_step(
        store,
        _options(tmp_path, code, sync_timeout=1.0),
        stdout=io.BytesIO(),
        stderr=io.BytesIO(),
    )
    assert expected == report.exit_status
    assert child_exit == report.child_status
    assert not report.synced
    assert (0, 0, 2) == (report.lines_stored, report.lines_spooled, report.lines_lost)
    assert any("not fully stored" in f for f in report.failures)


def test_store_down_with_spool_spools_every_line_and_exits_with_the_step(tmp_path: Path) -> None:
    """Store down, a spool: every line is counted spooled (none stored, none lost); exit 0."""
    store = MemoryStore()

    def down(verb: str, key: str) -> None:
        raise StoreError("connection refused", bucket="memory", key=key, reason="Down")

    store.fault = down
    spool = tmp_path / "spool"
    report = run_step(
        store,
        _options(tmp_path, "for i in range(50): print(i)", sync_timeout=1.0, spool_dir=spool),
        stdout=io.BytesIO(),
        stderr=io.BytesIO(),
    )
    assert 0 == report.exit_status
    assert (0, 50, 0) == (report.lines_stored, report.lines_spooled, report.lines_lost)
    assert spool == report.spool_dir
    assert any(p.is_file() for p in spool.rglob("*")), "nothing was spooled"


def test_healthy_run_counts_every_line_stored(tmp_path: Path) -> None:
    """A healthy run: every line (split pieces count one each) is stored, none spooled or lost."""
    store = MemoryStore()
    code = "print('a' * 40); print('short')"
    report = run_step(
        store,
        _options(tmp_path, code, max_line_bytes=16),
        stdout=io.BytesIO(),
        stderr=io.BytesIO(),
    )
    assert 0 == report.exit_status
    assert 2 == report.lines
    assert (4, 0, 0) == (report.lines_stored, report.lines_spooled, report.lines_lost)
    assert 4 == len(list(reader.read_records(store, "pr", "t")))
