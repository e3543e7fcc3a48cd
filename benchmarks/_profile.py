"""
Profile where objlog spends its time, with the stdlib's cProfile (py-spy and pyinstrument
are not installed here): ``python -m benchmarks._profile callsite|drain|results|shutdown``.

Every thread started while profiling (objlog's uploader, the result writer's pipe) gets a
profiler of its own; their statistics are merged, so the top entries show the whole
process, not just the caller's thread.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import _objlog
from benchmarks._common import (
    KiB,
    MiB,
    MotoServer,
    S3Target,
    cycle_lines,
    line_pool,
    new_name,
    write_semi_compressible,
)
from benchmarks.callsite import EXTRAS, LARGE_EXTRAS


@contextmanager
def all_threads_profiled(profiles: list[cProfile.Profile]) -> Iterator[None]:
    """Profile the calling thread and every thread started inside the block."""
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        prof = cProfile.Profile()
        profiles.append(prof)
        prof.enable()
        try:
            original(self)
        finally:
            prof.disable()

    threading.Thread.run = run  # type: ignore[method-assign]
    main = cProfile.Profile()
    profiles.append(main)
    main.enable()
    try:
        yield
    finally:
        main.disable()
        threading.Thread.run = original  # type: ignore[method-assign]


def report(profiles: list[cProfile.Profile], title: str, top: int) -> str:
    """Return the merged top entries by own time and by cumulative time."""
    out = io.StringIO()
    stats = pstats.Stats(profiles[0], stream=out)
    for p in profiles[1:]:
        try:
            stats.add(p)
        except TypeError:  # a profiler that never ran
            continue
    out.write(f"== {title}: top {top} by own time ==\n")
    stats.sort_stats("tottime").print_stats(top)
    out.write(f"== {title}: top {top} by cumulative time ==\n")
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def callsite(target: S3Target, n: int, large: bool) -> Callable[[], None]:
    """Emit `n` records through objlog's stdlib handler on the S3 server."""
    store = _objlog.open_s3_store(target, new_name("profile"))
    handler = _objlog.handler_class()(store, pipelinerun="profile", task="callsite",
                                      max_buffer_bytes=512 * MiB, block_timeout=300.0)
    logger = logging.getLogger("objlog.bench.profile")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    extras = LARGE_EXTRAS if large else EXTRAS

    def work() -> None:
        for _ in range(n):
            logger.info("request handled", extra=extras)

    def finish() -> None:
        handler.close()
        logger.removeHandler(handler)

    work.finish = finish  # type: ignore[attr-defined]
    return work


def drain(target: S3Target, total: int, compression: str) -> Callable[[], None]:
    """Write `total` bytes of 1 KiB lines through a writer and sync."""
    store = _objlog.open_s3_store(target, new_name("profile"))
    writer = _objlog.writer_class()(store, pipelinerun="profile", task="drain",
                                    compression=compression, block_timeout=600.0)
    pool = line_pool(KiB)

    def work() -> None:
        for line in cycle_lines(pool, total):
            writer.write(line)
        writer.sync(600.0)
        writer.close(60.0)

    return work


def results(target: S3Target, size: int, tmp: Path) -> Callable[[], None]:
    """Store a `size`-byte file as a .tgz result."""
    src = tmp / "data.log"
    write_semi_compressible(src, size)
    store = _objlog.open_s3_store(target, new_name("profile"))
    writer = _objlog.result_writer_class()(store, compresslevel=6)

    def work() -> None:
        writer.write("profile", "results", "result", src)

    return work


def main(argv: list[str] | None = None) -> None:
    """Profile one workload and print the merged top entries."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._profile")
    parser.add_argument("what", choices=("callsite", "callsite-large", "drain", "drain-none",
                                         "results"))
    parser.add_argument("--mib", type=int, default=32, help="bytes for drain/results, MiB")
    parser.add_argument("--records", type=int, default=50_000, help="records for callsite")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, default=None, help="also dump merged stats here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="objlog-profile-") as tmp:
        server = MotoServer(Path(tmp) / "moto.log")
        try:
            target = S3Target(name="moto", endpoint=server.endpoint, access_key="testing",
                              secret_key="testing")  # noqa: S106 - moto accepts any
            target.bucket = new_name("objlog-profile")
            target.client().create_bucket(Bucket=target.bucket)
            work: Any
            if args.what.startswith("callsite"):
                work = callsite(target, args.records, args.what.endswith("large"))
            elif args.what.startswith("drain"):
                work = drain(target, args.mib * MiB,
                             "none" if args.what.endswith("none") else "gzip")
            else:
                work = results(target, args.mib * MiB, Path(tmp))
            profiles: list[cProfile.Profile] = []
            t0 = time.perf_counter()
            with all_threads_profiled(profiles):
                work()
            seconds = time.perf_counter() - t0
            if hasattr(work, "finish"):
                work.finish()
            print(f"{args.what}: {seconds:.2f} s under cProfile ({os.cpu_count()} CPUs)")
            print(report(profiles, args.what, args.top))
            if args.out is not None:
                merged = pstats.Stats(profiles[0])
                for p in profiles[1:]:
                    try:
                        merged.add(p)
                    except TypeError:
                        continue
                merged.dump_stats(str(args.out))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
