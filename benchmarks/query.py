"""
Group ``query`` (issue 15): records/s scanned by ``objlog query``.

The store gets gzip batches of JSON log records under one run and four tasks, as
objlog's writer keys and encodes them, up to the stored (compressed) size of the
mode: 128 MiB in full, 16 MiB quick, 256 KiB smoke. Three readers count the
records at level ``error``:

* ``objlog query "SELECT count(*) FROM logs WHERE level = 'error'"`` (the
  library call behind it: list, copy, DuckDB), against the S3 server;
* ``objlog cat --json PR | wc -l`` (every record decoded and printed by objlog's
  reader, counted by ``wc``), against the same server: the baseline of the
  second figure;
* DuckDB's ``read_json`` over a local copy of the same objects (the copy is not
  timed): the ceiling, and the baseline of the target (>= 0.5x).

records/s = records stored / seconds, each reader timed once per run (the
data set is large enough that one run is steady).
"""

from __future__ import annotations

import datetime as _dt
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._common import (
    REPO_ROOT,
    Figure,
    KiB,
    MiB,
    S3Target,
    Sizes,
    Target,
    new_name,
)
from benchmarks._stores import open_s3_store
from objlog import _layout
from objlog.typing import ObjectStore

#: Stored (compressed) bytes of logs per mode.
QUERY_BYTES = {"full": 128 * MiB, "quick": 16 * MiB, "smoke": 256 * KiB}
#: Raw bytes of one batch: the writer's default batch size.
BATCH_RAW_BYTES = 8 * MiB
_LEVELS = ("debug", "info", "info", "info", "info", "warning", "error")
_TASKS = ("train", "eval", "load", "export")
_SQL = "SELECT count(*) FROM logs WHERE level = 'error'"


def make_batch(rng: random.Random, raw_bytes: int, start: _dt.datetime) -> tuple[bytes, int, int]:
    """
    Return ``(gzip body, records, records at error)`` of about `raw_bytes` of records.

    Records look like the stdlib handler's: timestamp, level, logger, message, a
    number and a request id; gzip level 1, as ``objlog run`` writes them.
    """
    lines: list[str] = []
    size = errors = 0
    n = 0
    while size < raw_bytes:
        level = rng.choice(_LEVELS)
        errors += level == "error"
        when = start + _dt.timedelta(microseconds=n * 250)
        record = {
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": level,
            "logger": "app.worker",
            "message": f"handled request {rng.randrange(10**6)} in {rng.random() * 90:.2f} ms",
            "n": n,
            "request_id": f"{rng.getrandbits(64):016x}",
        }
        line = json.dumps(record, separators=(",", ":"))
        lines.append(line)
        size += len(line) + 1
        n += 1
    return gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1), n, errors


def fill_store(store: ObjectStore, stored_bytes: int, pipelinerun: str) -> dict[str, int]:
    """
    Put gzip batches under `pipelinerun` until `stored_bytes` are stored.

    Four distinct batch bodies are made and reused under new keys (the readers
    cannot tell, and making each body costs more than reading it).

    Returns:
        ``{"objects", "stored_bytes", "records", "errors"}``.
    """
    rng = random.Random(15)
    start = _dt.datetime(2026, 11, 30, 10, 0, tzinfo=_dt.timezone.utc)
    raw = min(BATCH_RAW_BYTES, max(64 * KiB, stored_bytes * 3))
    bodies = [make_batch(rng, raw, start) for _ in range(4)]
    stored = records = errors = objects = 0
    while stored < stored_bytes:
        body, count, bad = bodies[objects % len(bodies)]
        task = _TASKS[objects % len(_TASKS)]
        prefix = _layout.logs_prefix(store.prefix, pipelinerun, task)
        epoch_us = int(start.timestamp() * 1e6) + objects * 2_000_000
        key = _layout.batch_key(prefix, epoch_us, "bench0000p1", objects, ".jsonl.gz")
        store.put_object(key, body, content_type="application/gzip")
        stored += len(body)
        records += count
        errors += bad
        objects += 1
    return {"objects": objects, "stored_bytes": stored, "records": records, "errors": errors}


def _time_query(store: ObjectStore, pipelinerun: str) -> tuple[float, int]:
    from objlog._query import QueryScope, open_query

    t0 = time.perf_counter()
    with open_query(store, _SQL, QueryScope(pipelinerun=pipelinerun)) as result:
        count = int(next(result.rows())[0])
    return time.perf_counter() - t0, count


def _time_cat(target: S3Target, url: str, pipelinerun: str) -> tuple[float, int]:
    env = {**os.environ, **target.env(), "PYTHONPATH": str(REPO_ROOT / "src")}
    cat = f"{sys.executable} -m objlog cat --store {url} --json {pipelinerun} | wc -l"
    t0 = time.perf_counter()
    out = subprocess.run(
        ["sh", "-c", cat], env=env, capture_output=True, text=True, timeout=3600, check=True
    )
    return time.perf_counter() - t0, int(out.stdout.strip() or 0)


def _time_ceiling(store: ObjectStore, pipelinerun: str, directory: Path) -> tuple[float, int]:
    import duckdb

    prefix = _layout.logs_prefix(store.prefix, pipelinerun)
    for n, info in enumerate(store.list_objects(prefix)):
        (directory / f"{n:08d}.jsonl.gz").write_bytes(store.get_object(info.key))
    pattern = str(directory / "*.jsonl.gz")
    con = duckdb.connect(":memory:")
    t0 = time.perf_counter()
    row = con.execute(
        "SELECT count(*) FROM read_json(?, format='newline_delimited') WHERE level = 'error'",
        [pattern],
    ).fetchone()
    seconds = time.perf_counter() - t0
    con.close()
    return seconds, int(row[0]) if row else 0


def query_run(target: S3Target, stored_bytes: int) -> dict[str, Any]:
    """Fill a run with `stored_bytes` of batches; time the three readers; return numbers."""
    prefix = new_name("query")
    store = open_s3_store(target, prefix)
    pipelinerun = "bench-query"
    try:
        data = fill_store(store, stored_bytes, pipelinerun)
        q_s, q_count = _time_query(store, pipelinerun)
        url = f"s3://{target.bucket}/{prefix}"
        c_s, c_lines = _time_cat(target, url, pipelinerun)
        with tempfile.TemporaryDirectory(prefix="objlog-bench-query-") as tmp:
            d_s, d_count = _time_ceiling(store, pipelinerun, Path(tmp))
    finally:
        store.close()
    records = data["records"]
    for name, got, want in (
        ("objlog query", q_count, data["errors"]),
        ("objlog cat", c_lines, records),
        ("duckdb", d_count, data["errors"]),
    ):
        if got != want:
            raise RuntimeError(f"{name} counted {got}, expected {want}")
    return {
        "data": data,
        "objlog query": {"seconds": q_s, "records_s": records / q_s},
        "objlog cat --json | wc -l": {"seconds": c_s, "records_s": records / c_s},
        "duckdb local copy": {"seconds": d_s, "records_s": records / d_s},
    }


def query_figures(target: S3Target, sizes: Sizes, log: Callable[[str], None]) -> list[Figure]:
    """The ``query`` group: objlog query vs the DuckDB ceiling, and vs ``cat | wc -l``."""
    stored = QUERY_BYTES[sizes.mode]
    log(f"query: {stored / MiB:.2f} MiB stored, count at level error")
    main = Figure(
        id="query.count_level",
        group="query",
        title="objlog query records/s scanned (count, level filter)",
        unit="rec/s",
        baseline_name="DuckDB read_json over a local copy (ceiling)",
        target=Target(kind="ratio_min", value=0.5, text=">= 0.5x ceiling"),
    )
    versus_cat = Figure(
        id="query.count_level.vs_cat",
        group="query",
        title="objlog query records/s vs objlog cat --json | wc -l",
        unit="rec/s",
        baseline_name="objlog cat --json PR | wc -l",
    )
    try:
        numbers = query_run(target, stored)
    except Exception as exc:  # noqa: BLE001 - a figure says why it is missing, the group goes on
        main.error = versus_cat.error = f"{type(exc).__name__}: {exc}"
        return [main.settle(), versus_cat.settle()]
    main.objlog = versus_cat.objlog = numbers["objlog query"]["records_s"]
    main.baseline = numbers["duckdb local copy"]["records_s"]
    versus_cat.baseline = numbers["objlog cat --json | wc -l"]["records_s"]
    main.details = versus_cat.details = numbers
    return [main.settle(), versus_cat.settle()]
