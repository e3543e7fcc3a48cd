"""run_step in-process on the in-memory store: results, failures and what the report says."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from objlog import reader
from objlog._run import RunOptions, run_step
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


def test_store_down_without_spool_reports_loss_but_keeps_child_status(tmp_path: Path) -> None:
    """Store down, no spool: the report says what was lost; the status stays the child's."""
    store = MemoryStore()

    def down(verb: str, key: str) -> None:
        raise StoreError("connection refused", bucket="memory", key=key, reason="Down")

    store.fault = down
    report = run_step(
        store,
        _options(tmp_path, "print('x')", sync_timeout=1.0),
        stdout=io.BytesIO(),
        stderr=io.BytesIO(),
    )
    assert 0 == report.exit_status
    assert not report.synced
    assert any("not fully stored" in f for f in report.failures)
