"""``objlog ls``/``cat``/``run`` under the hive layout, and DuckDB reading it directly."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from objlog import cli
from objlog.writer import ObjectStoreWriter


def _write(url: str, task: str, n: int) -> None:
    """Write `n` records through a writer opened from `url` (its ?layout= applies)."""
    with ObjectStoreWriter(url, pipelinerun="run-1", task=task) as writer:
        for i in range(n):
            record = {"timestamp": f"2026-11-21T10:00:0{i}Z", "n": i, "level": "info"}
            writer.write(json.dumps(record))


def test_objlog_layout_reaches_writer_ls_and_cat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """OBJLOG_LAYOUT=hive: the writer keys by partition; ls and cat find the run anyway."""
    monkeypatch.setenv("OBJLOG_LAYOUT", "hive")
    url = str(tmp_path / "store")
    w = ObjectStoreWriter(url, pipelinerun="run-1", task="train")
    w.write(json.dumps({"n": 0}))
    w.close()
    assert [] == list((tmp_path / "store" / "logs").glob("run-1"))
    assert list((tmp_path / "store" / "logs").glob("dt=*/hour=*/pipelinerun=run-1/task=train/*"))
    assert 0 == cli.main(["ls", url, "--json"])
    assert "run-1" == json.loads(capsys.readouterr().out)["pipelinerun"]
    assert 0 == cli.main(["cat", url, "run-1", "train", "--json"])
    assert {"n": 0} == json.loads(capsys.readouterr().out)


def test_file_url_layout_query_with_objlog_run(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """``file:///DIR?layout=hive``: objlog run writes hive keys, cat and ls read them back."""
    url = (tmp_path / "store").as_uri() + "?layout=hive"
    code = cli.main(
        [
            "run",
            "--store",
            url,
            "--pipelinerun",
            "pr",
            "--task",
            "t",
            "-q",
            "--",
            sys.executable,
            "-c",
            "print('hello hive')",
        ]
    )
    assert 0 == code
    assert list((tmp_path / "store" / "logs").glob("dt=*/hour=*/pipelinerun=pr/task=t/*.jsonl*"))
    capsysbinary.readouterr()
    assert 0 == cli.main(["cat", url, "pr", "t"])
    assert b"hello hive" in capsysbinary.readouterr().out
    assert 0 == cli.main(["ls", url, "pr", "--json"])
    row = json.loads(capsysbinary.readouterr().out)
    assert ("t", "succeeded") == (row["task"], row["status"])


def test_a_bad_layout_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed OBJLOG_LAYOUT fails ls with a message naming the variable, exit status 2."""
    monkeypatch.setenv("OBJLOG_LAYOUT", "{prefix}/logs/{pipelinerun}/{task}/{time}{ext}")
    code = cli.main(["ls", str(tmp_path / "store")])
    assert 0 != code
    assert "writer_id" in capsys.readouterr().err


def test_duckdb_reads_the_hive_layout_directly(tmp_path: Path) -> None:
    """DuckDB's read_json with hive_partitioning selects by dt, hour, pipelinerun and task."""
    duckdb = pytest.importorskip("duckdb")
    url = (tmp_path / "store").as_uri() + "?layout=hive"
    _write(url, "train", 3)
    _write(url, "eval", 2)
    glob = str(tmp_path / "store" / "logs" / "*" / "*" / "*" / "*" / "*.jsonl.gz")
    con = duckdb.connect()
    rows = con.execute(
        "SELECT pipelinerun, task, count(*) AS n, max(n) AS last"
        " FROM read_json(?, format = 'newline_delimited', hive_partitioning = true)"
        " WHERE dt >= '2000-01-01' AND hour BETWEEN '00' AND '23' AND pipelinerun = 'run-1'"
        " GROUP BY ALL ORDER BY task",
        [glob],
    ).fetchall()
    assert [("run-1", "eval", 2, 1), ("run-1", "train", 3, 2)] == rows


@pytest.mark.parametrize("layout", ["kfp", "hive"])
def test_query_reads_either_layout(
    tmp_path: Path, layout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``objlog query`` on ``?layout=``: every record of every task, and --task narrows it."""
    pytest.importorskip("duckdb")
    url = (tmp_path / "store").as_uri() + f"?layout={layout}"
    _write(url, "train", 3)
    _write(url, "eval", 2)
    sql = "SELECT task, count(*) AS n FROM logs GROUP BY task ORDER BY task"
    assert 0 == cli.main(["query", "--store", url, "--json", sql])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert 0 == cli.main(["query", "--store", url, "--task", "eval", "--json", sql])
    narrowed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert ([{"task": "eval", "n": 2}, {"task": "train", "n": 3}], [{"task": "eval", "n": 2}]) == (
        rows,
        narrowed,
    )
