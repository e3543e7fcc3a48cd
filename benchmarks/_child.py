"""
Child processes of groups 4 and 5: run as ``python -m benchmarks._child MODE ...``.

Each mode reads the S3 server from the ``AWS_*`` variables and the bucket from
``--bucket``, and prints one line ``RESULT {json}`` (and, for ``shutdown``, a
``READY {json}`` line first). Peak RSS comes from ``getrusage`` (``ru_maxrss``, KiB on
Linux), so it covers the whole process: interpreter, SDK and the work.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import KiB, MiB, bench_client, cycle_lines, line_pool


def _emit(tag: str, payload: dict[str, Any]) -> None:
    sys.stdout.write(f"{tag} {json.dumps(payload)}\n")
    sys.stdout.flush()


def _maxrss_kib(who: int = resource.RUSAGE_SELF) -> int:
    """
    Peak RSS in KiB: VmHWM of this process image (Linux), else ``ru_maxrss``.

    ``ru_maxrss`` survives ``execve``: a child forked from a big parent reports the
    parent's RSS at fork time, so it is only used where /proc is missing, and for
    ``RUSAGE_CHILDREN`` (an upper bound there).
    """
    if who == resource.RUSAGE_SELF:
        try:
            with open("/proc/self/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
    return int(resource.getrusage(who).ru_maxrss)


def _open_store(bucket: str, prefix: str) -> Any:
    from objlog.stores import open_store

    return open_store(f"s3://{bucket}/{prefix}")


def _client() -> Any:
    return bench_client(
        os.environ["AWS_ENDPOINT_URL"],
        os.environ["AWS_ACCESS_KEY_ID"],
        os.environ["AWS_SECRET_ACCESS_KEY"],
        os.environ.get("AWS_REGION", "us-east-1"),
    )


def tar_upload(args: argparse.Namespace) -> None:
    """``tar czf`` the file to a temp file, then boto3 ``upload_file`` it (sequential)."""
    client = _client()
    src = Path(args.file)
    idle = _maxrss_kib()
    with tempfile.TemporaryDirectory(prefix="objlog-bench-tar-") as tmp:
        tgz = Path(tmp) / "result.tgz"
        t0 = time.perf_counter()
        subprocess.run(["tar", "czf", str(tgz), "-C", str(src.parent), src.name], check=True)
        t1 = time.perf_counter()
        client.upload_file(str(tgz), args.bucket, f"{args.prefix}/result.tgz")
        t2 = time.perf_counter()
        size = tgz.stat().st_size
    _emit(
        "RESULT",
        {
            "seconds": t2 - t0,
            "tar_seconds": t1 - t0,
            "upload_seconds": t2 - t1,
            "maxrss_kib": _maxrss_kib(),
            "idle_maxrss_kib": idle,
            "tar_maxrss_kib": _maxrss_kib(resource.RUSAGE_CHILDREN),
            "stored_bytes": size,
        },
    )


def shutdown(args: argparse.Namespace) -> None:
    """Buffer ``--bytes`` in a writer with signal handlers installed, say READY, wait."""
    from objlog import ObjectStoreWriter, install_signal_handlers

    pool = line_pool(KiB)
    store = _open_store(args.bucket, args.prefix)
    options: dict[str, Any] = {
        "max_size_bytes": max(2 * args.bytes, 16 * MiB),
        "max_age": 3600.0,
        "max_buffer_bytes": max(4 * args.bytes, 64 * MiB),
        "when_full": "block",
        "block_timeout": 600.0,
    }
    if args.compression:
        options["compression"] = args.compression
    writer = ObjectStoreWriter(store, pipelinerun="bench", task="shutdown", **options)
    install_signal_handlers()
    logged = 0
    records = 0
    for line in cycle_lines(pool, args.bytes):
        writer.write(line)
        logged += len(line)
        records += 1
    _emit("READY", {"logged_bytes": logged, "records": records})
    while True:  # the SIGTERM handler ends the process
        time.sleep(3600)


def main(argv: list[str] | None = None) -> None:
    """Dispatch to a child mode."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._child")
    sub = parser.add_subparsers(dest="mode", required=True)
    # objlog's own result child is in `benchmarks._results_child` (issue 17).
    p = sub.add_parser("tar_upload")
    p.add_argument("--file", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--prefix", required=True)
    p = sub.add_parser("shutdown")
    p.add_argument("--bytes", type=int, required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--compression", default="")
    args = parser.parse_args(argv)
    {"tar_upload": tar_upload, "shutdown": shutdown}[args.mode](args)


if __name__ == "__main__":
    main()
