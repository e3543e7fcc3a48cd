"""
``objlog query`` streams: 1 GiB of log records read in bounded memory (a child
process measures its own peak RSS; no wall-clock threshold).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
GIB = 1024**3
MIB = 1024**2

# Fills a local store with 1 GiB of records (128 gzip batches of 8 MiB of JSON
# lines, highly compressible so the test stays fast), then counts the errors
# with objlog query under a 256 MiB DuckDB limit and prints its peak RSS.
_CHILD = textwrap.dedent(
    """
    import gzip, json, sys
    def vm(field):
        # /proc, not getrusage: ru_maxrss survives execve, so a child of a big
        # pytest process would report the parent's RSS at fork time.
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    from objlog import _layout, open_store
    from objlog._query import QueryScope, open_query

    store = open_store(sys.argv[1])
    raw_total, batch_raw = int(sys.argv[2]), 8 * 1024**2
    lines, size, n = [], 0, 0
    while size < batch_raw:
        level = "error" if n % 10 == 0 else "info"
        line = json.dumps({"timestamp": "2026-11-30T10:00:00.%06dZ" % (n % 10**6),
                           "level": level, "message": "request handled " + "x" * 60, "n": n})
        lines.append(line)
        size += len(line) + 1
        n += 1
    body = gzip.compress(("\\n".join(lines) + "\\n").encode(), 1)
    errors_per_batch = sum(1 for i in range(n) if i % 10 == 0)
    del lines
    batches = -(-raw_total // size)
    prefix = _layout.logs_prefix(store.prefix, "big", "t")
    for i in range(batches):
        key = _layout.batch_key(prefix, 1_700_000_000_000_000 + i * 10**6, "memtest000p1", i,
                                ".jsonl.gz")
        store.put_object(key, body, content_type="application/gzip")
    del body
    before = vm("VmRSS")
    sql = "SELECT count(*) FROM logs WHERE level = 'error'"
    with open_query(store, sql, QueryScope(pipelinerun="big"),
                    memory_limit_bytes=256 * 1024**2) as result:
        count = next(result.rows())[0]
        objects = result.objects
    peak = vm("VmHWM")
    print(json.dumps({"count": count, "expected": errors_per_batch * batches,
                      "raw_bytes": size * batches, "objects": objects,
                      "rss_before": before, "peak_rss": peak}))
    """
)


@pytest.mark.slow
@pytest.mark.process
def test_one_gib_of_records_in_bounded_memory(tmp_path: Path) -> None:
    """1 GiB of records is counted right with a peak RSS far below the data's size."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "store"), str(GIB)],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert 0 == proc.returncode, proc.stderr[-2000:]
    numbers = json.loads(proc.stdout.strip().splitlines()[-1])
    print(numbers)
    assert numbers["expected"] == numbers["count"]
    assert numbers["raw_bytes"] >= GIB
    assert 128 == numbers["objects"]
    # DuckDB's limit (256 MiB) plus the interpreter, the libraries and copy buffers.
    assert numbers["peak_rss"] < 512 * MIB, numbers
