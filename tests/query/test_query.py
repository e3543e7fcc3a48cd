"""
``objlog query`` on moto: the columns of every record producer, filters and their
pushdown into the listing, the three output shapes, and errors.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from objlog import ObjectStoreHandler, ObjectStoreWriter, open_store
from objlog._query import QueryScope, open_query
from objlog.cli import main
from objlog.errors import ConfigError, MissingBackendError
from objlog.structlog import ObjectStoreProcessor
from objlog.typing import ObjectStore
from s3harness import S3Target

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def s3_env(s3_target: S3Target, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the AWS_* variables at the bucket; return its store URL."""
    for name, value in s3_target.env().items():
        monkeypatch.setenv(name, value)
    return f"s3://{s3_bucket}/q"


@pytest.fixture
def store(s3_env: str) -> Iterator[ObjectStore]:
    opened = open_store(s3_env)
    yield opened
    opened.close()


def _stdlib_records(store: ObjectStore) -> None:
    handler = ObjectStoreHandler(store, pipelinerun="pr1", task="stdlib")
    logger = logging.getLogger("objlog-query-test")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        logger.info("hello %s", "world", extra={"user": "bob"})
        logger.warning("careful")
        logger.error("broken", extra={"code": 7})
    finally:
        logger.removeHandler(handler)
        handler.close()


def _structlog_records(store: ObjectStore) -> None:
    writer = ObjectStoreWriter(store, pipelinerun="pr1", task="structlog")
    log = structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            ObjectStoreProcessor(writer),
            structlog.processors.JSONRenderer(),
        ],
    )
    log.info("epoch done", epoch=3)
    log.error("epoch failed", epoch=4)
    writer.close()


def _run_records(url: str) -> None:
    script = 'echo "INFO starting"; echo "ERROR failed thing" >&2; echo plain'
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    subprocess.run(
        [
            *(sys.executable, "-m", "objlog", "run", "--store", url, "--pipelinerun", "pr2"),
            *("--task", "run", "--no-spool", "-q", "--", "sh", "-c", script),
        ],
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )


@pytest.fixture
def filled(store: ObjectStore, s3_env: str) -> ObjectStore:
    """Records of the stdlib handler, structlog and objlog run in one store."""
    _stdlib_records(store)
    _structlog_records(store)
    _run_records(s3_env)
    return store


def _rows(store: ObjectStore, sql: str, scope: QueryScope | None = None) -> list[dict[str, Any]]:
    with open_query(store, sql, scope) as result:
        return [dict(zip(result.columns, row, strict=True)) for row in result.rows()]


def test_columns_from_every_producer(filled: ObjectStore) -> None:
    """One row per record; key columns from the key; level and message from each producer."""
    rows = _rows(
        filled,
        "SELECT pipelinerun, task, level, message, user, code, epoch, stream, key, timestamp "
        "FROM logs ORDER BY task, timestamp",
    )
    got = [(r["pipelinerun"], r["task"], r["level"], r["message"]) for r in rows]
    assert {
        ("pr2", "run", "info", "INFO starting"),
        ("pr2", "run", "error", "ERROR failed thing"),
        ("pr2", "run", None, "plain"),
        ("pr1", "stdlib", "info", "hello world"),
        ("pr1", "stdlib", "warning", "careful"),
        ("pr1", "stdlib", "error", "broken"),
        ("pr1", "structlog", "info", "epoch done"),
        ("pr1", "structlog", "error", "epoch failed"),
    } == set(got)
    assert 8 == len(got)
    by_message = {r["message"]: r for r in rows}
    assert "bob" == by_message["hello world"]["user"]
    assert 7 == by_message["broken"]["code"]
    assert 4 == by_message["epoch failed"]["epoch"]
    assert "stderr" == by_message["ERROR failed thing"]["stream"]
    assert all(r["key"].startswith(f"q/logs/{r['pipelinerun']}/{r['task']}/") for r in rows)
    assert all(isinstance(r["timestamp"], _dt.datetime) for r in rows)
    assert all(r["timestamp"].utcoffset() == _dt.timedelta(0) for r in rows)


def test_level_filter_and_group_by(filled: ObjectStore) -> None:
    """The issue's example query counts per task and level."""
    rows = _rows(filled, "SELECT task, level, count(*) AS n FROM logs GROUP BY ALL ORDER BY ALL")
    assert {
        ("run", "error", 1),
        ("run", "info", 1),
        ("run", None, 1),
        ("stdlib", "error", 1),
        ("stdlib", "info", 1),
        ("stdlib", "warning", 1),
        ("structlog", "error", 1),
        ("structlog", "info", 1),
    } == {(r["task"], r["level"], r["n"]) for r in rows}


def test_task_scope_reads_fewer_objects(filled: ObjectStore) -> None:
    """--task narrows the listing: fewer batches are read, and only that task's rows."""
    with open_query(filled, "SELECT count(*) FROM logs") as everything:
        all_rows, all_objects = next(everything.rows())[0], everything.objects
    scope = QueryScope(pipelinerun="pr1", task="structlog")
    with open_query(filled, "SELECT DISTINCT task FROM logs", scope) as narrowed:
        tasks, objects = [r[0] for r in narrowed.rows()], narrowed.objects
    assert 8 == all_rows
    assert ["structlog"] == tasks
    assert 1 == objects < all_objects


def test_since_and_until(filled: ObjectStore) -> None:
    """since/until keep the records in the window (by their timestamps)."""
    times = [r["timestamp"] for r in _rows(filled, "SELECT timestamp FROM logs ORDER BY 1")]
    middle = times[3]
    after = _rows(filled, "SELECT timestamp FROM logs", QueryScope(since=middle))
    before = _rows(filled, "SELECT timestamp FROM logs", QueryScope(until=middle))
    assert sorted(r["timestamp"] for r in after) == times[3:]
    assert sorted(r["timestamp"] for r in before) == times[:4]


def test_since_skips_old_batches_in_the_listing(filled: ObjectStore) -> None:
    """A since after every record: only each writer's last batch is fetched, no row matches."""
    # A batch's key time is when it opened, so only a writer's last batch may
    # hold records after any given time: the others are not fetched.
    writer = ObjectStoreWriter(filled, pipelinerun="pr3", task="many")
    for i in range(3):
        writer.write(f'{{"timestamp":"2026-11-21T10:00:0{i}Z","level":"info","n":{i}}}')
        writer.flush()
    writer.close()
    later = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(minutes=5)
    scope = QueryScope(pipelinerun="pr3", since=later)
    with open_query(filled, "SELECT count(*) FROM logs", QueryScope(pipelinerun="pr3")) as every:
        assert (3, 3) == (every.objects, next(every.rows())[0])
    with open_query(filled, "SELECT count(*) FROM logs", scope) as result:
        assert (1, 0) == (result.objects, next(result.rows())[0])


def test_cli_table_json_csv(filled: ObjectStore, s3_env: str, capsys: Any) -> None:
    """Aligned table by default, JSON Lines with --json, CSV with --csv."""
    sql = "SELECT task, count(*) AS n FROM logs WHERE level = 'error' GROUP BY task ORDER BY task"
    assert 0 == main(["query", "--store", s3_env, sql])
    table = capsys.readouterr().out.splitlines()
    assert ["task       n", "---------  -", "run        1", "stdlib     1", "structlog  1"] == table
    assert 0 == main(["query", "--store", s3_env, "--json", sql])
    lines = capsys.readouterr().out.splitlines()
    assert [{"task": "run", "n": 1}, {"task": "stdlib", "n": 1}, {"task": "structlog", "n": 1}] == [
        json.loads(line) for line in lines
    ]
    assert 0 == main(["query", "--store", s3_env, "--csv", "--task", "stdlib", sql])
    assert [["task", "n"], ["stdlib", "1"]] == list(
        csv.reader(io.StringIO(capsys.readouterr().out))
    )


def test_cli_json_times_are_rfc3339(filled: ObjectStore, s3_env: str, capsys: Any) -> None:
    """--json prints times as RFC 3339 UTC strings."""
    sql = "SELECT timestamp FROM logs WHERE message = 'careful'"
    assert 0 == main(["query", "--store", s3_env, "--json", sql])
    value = json.loads(capsys.readouterr().out)["timestamp"]
    assert value.endswith("Z")
    assert _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


def test_bad_sql_is_one_line_and_exit_2(filled: ObjectStore, s3_env: str, capsys: Any) -> None:
    """Bad SQL: one error line on stderr, exit status 2, no secret."""
    assert 2 == main(["query", "--store", s3_env, "SELEC nonsense FROM logs"])
    captured = capsys.readouterr()
    assert "" == captured.out
    assert 1 == len(captured.err.splitlines())
    assert captured.err.startswith("objlog: error: bad SQL")
    assert 2 == main(["query", "--store", s3_env, "SELECT no_such_column FROM logs"])
    err = capsys.readouterr().err
    assert 1 == len(err.splitlines()) and "no_such_column" in err
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in err


def test_empty_store_has_the_columns(store: ObjectStore) -> None:
    """With no batch the table still exists, empty."""
    rows = _rows(store, "SELECT pipelinerun, task, key, timestamp, level, message FROM logs")
    assert [] == rows


def test_bad_scope_is_a_config_error() -> None:
    """A bad name or an inverted window is refused before anything is read."""
    with pytest.raises(ConfigError):
        QueryScope(task="a/b")
    now = _dt.datetime.now(_dt.timezone.utc)
    with pytest.raises(ConfigError, match="until is before since"):
        QueryScope(since=now, until=now - _dt.timedelta(seconds=1))


def test_missing_duckdb_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without DuckDB the error says which extra to install."""
    monkeypatch.setitem(sys.modules, "duckdb", None)
    local = open_store(str(tmp_path / "store"))
    with (
        pytest.raises(MissingBackendError, match=r"objlog-s3\[query\]"),
        open_query(local, "SELECT 1"),
    ):
        pass


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_every_codec_and_renamed_key_fields(tmp_path: Path, compression: str) -> None:
    """gzip, zstd and plain batches read alike; record fields named like key columns are kept."""
    local = open_store(str(tmp_path / "store"))
    writer = ObjectStoreWriter(local, pipelinerun="pr", task="t", compression=compression)
    writer.write('{"level": "INFO", "message": "m", "task": "inner", "key": "k1", "n": 1}')
    writer.write('{"level": "WARN", "msg": "w", "n": "two"}')
    writer.write("not json at all")
    writer.close()
    rows = _rows(
        local,
        "SELECT task, level, message, record_task, record_key, n FROM logs "
        "WHERE message IS NOT NULL ORDER BY message",
    )
    assert [
        {"task": "t", "level": "info", "message": "m", "record_task": "inner", "record_key": "k1"},
        {"task": "t", "level": "warning", "message": "w", "record_task": None, "record_key": None},
    ] == [{k: v for k, v in r.items() if k != "n"} for r in rows]
    # A field of two types is JSON: both values are there.
    assert ["1", '"two"'] == [r["n"] for r in rows]
