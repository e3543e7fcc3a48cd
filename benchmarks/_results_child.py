"""
Child processes of the results group (issue 17): ``python -m benchmarks._results_child MODE ...``.

Each mode reads the S3 server from the ``AWS_*`` variables and prints one line
``RESULT {json}`` with ``seconds`` and the peak RSS (VmHWM, KiB) of the whole
process. Modes:

* ``result``: objlog's `ResultWriter.write` of ``--file`` (``--compresslevel``);
  with ``--fail-every N`` every Nth UploadPart fails once, transiently, at the SDK
  seam of the real store (as a dropped connection would), so objlog's per-part
  retry is measured on a real server.
* ``upload_file``: boto3 ``upload_file`` of ``--file`` with its default
  ``TransferConfig`` (10 threads, 8 MiB parts).
* ``result_get``: objlog's `ResultWriter.open` of the result under ``--prefix``,
  the payload copied to a temp file (``objlog result get -o``).
* ``download_file``: boto3 ``download_file`` of ``--key`` to a temp file.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks._child import _client, _emit, _maxrss_kib, _open_store


def _flaky(store: Any, every: int) -> dict[str, int]:
    """Make every `every`-th UploadPart of `store` fail once, transiently; return the counts."""
    from objlog.errors import TransientStoreError

    counts = {"parts": 0, "failed": 0}
    lock = threading.Lock()
    uploader = store._uploader
    send = uploader.calls.upload_part

    def upload_part(key: str, upload_id: str, number: int, body: bytes, md5: str) -> str:
        with lock:
            counts["parts"] += 1
            fail = counts["parts"] % every == 0
            counts["failed"] += fail
        if fail:
            raise TransientStoreError(
                "injected reset", bucket=store.bucket, key=key, reason="ConnectionReset"
            )
        return str(send(key, upload_id, number, body, md5))

    calls = dataclasses.replace(uploader.calls, upload_part=upload_part)
    store._uploader = dataclasses.replace(uploader, calls=calls)
    return counts


def result(args: argparse.Namespace) -> None:
    """Store ``--file`` as a .tgz result with objlog's `ResultWriter`."""
    from objlog.results import ResultWriter

    store = _open_store(args.bucket, args.prefix)
    counts = _flaky(store, args.fail_every) if args.fail_every else {}
    writer = ResultWriter(store, compresslevel=args.compresslevel)
    idle = _maxrss_kib()
    t0 = time.perf_counter()
    ref = writer.write("bench", "results", "result", Path(args.file))
    seconds = time.perf_counter() - t0
    _emit(
        "RESULT",
        {
            "seconds": seconds,
            "maxrss_kib": _maxrss_kib(),
            "idle_maxrss_kib": idle,
            "stored_bytes": ref.size,
            "parts": ref.parts,
            "key": ref.key,
            **counts,
        },
    )


def upload_file(args: argparse.Namespace) -> None:
    """boto3 ``upload_file`` with its default TransferConfig."""
    client = _client()
    idle = _maxrss_kib()
    t0 = time.perf_counter()
    client.upload_file(args.file, args.bucket, f"{args.prefix}/upload_file.bin")
    seconds = time.perf_counter() - t0
    _emit("RESULT", {"seconds": seconds, "maxrss_kib": _maxrss_kib(), "idle_maxrss_kib": idle})


def result_get(args: argparse.Namespace) -> None:
    """objlog's ResultWriter.open, the payload copied to a temp file."""
    from objlog.results import READ_BYTES, ResultWriter

    store = _open_store(args.bucket, args.prefix)
    writer = ResultWriter(store)
    idle = _maxrss_kib()
    with tempfile.TemporaryDirectory(prefix="objlog-bench-get-") as tmp:
        t0 = time.perf_counter()
        with (
            writer.open("bench", "results", "result") as payload,
            open(Path(tmp) / "payload", "wb") as out,
        ):
            shutil.copyfileobj(payload, out, READ_BYTES)
        seconds = time.perf_counter() - t0
        size = (Path(tmp) / "payload").stat().st_size
    _emit(
        "RESULT",
        {"seconds": seconds, "maxrss_kib": _maxrss_kib(), "idle_maxrss_kib": idle, "bytes": size},
    )


def download_file(args: argparse.Namespace) -> None:
    """boto3 ``download_file`` of ``--key`` with its default TransferConfig."""
    client = _client()
    idle = _maxrss_kib()
    with tempfile.TemporaryDirectory(prefix="objlog-bench-dl-") as tmp:
        t0 = time.perf_counter()
        client.download_file(args.bucket, args.key, str(Path(tmp) / "object"))
        seconds = time.perf_counter() - t0
    _emit("RESULT", {"seconds": seconds, "maxrss_kib": _maxrss_kib(), "idle_maxrss_kib": idle})


def main(argv: list[str] | None = None) -> None:
    """Dispatch to a mode."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._results_child")
    sub = parser.add_subparsers(dest="mode", required=True)
    for name in ("result", "upload_file", "result_get", "download_file"):
        p = sub.add_parser(name)
        p.add_argument("--file", default="")
        p.add_argument("--key", default="")
        p.add_argument("--bucket", required=True)
        p.add_argument("--prefix", required=True)
        p.add_argument("--compresslevel", type=int, default=6)
        p.add_argument("--fail-every", type=int, default=0)
    args = parser.parse_args(argv)
    modes = {
        "result": result,
        "upload_file": upload_file,
        "result_get": result_get,
        "download_file": download_file,
    }
    modes[args.mode](args)


if __name__ == "__main__":
    main(sys.argv[1:])
