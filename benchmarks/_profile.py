"""
Profile where objlog spends its time in one workload:
``python -m benchmarks._profile callsite|callsite-large|drain|drain-none|results``.

Samplers (``--sampler``):

* ``cprofile`` (default): the stdlib's deterministic profiler. Every thread started while
  profiling (objlog's uploader and encoder, the result writer's pipe) gets a profiler of its
  own; their statistics are merged, so the top entries show the whole process, not just the
  caller's thread. Only the workload is profiled. cProfile adds a cost to every Python call
  (call-heavy code looks slower than it is, and the threads' GIL hand-offs change) and
  measures wall-clock time between call events in each thread: time a thread spends waiting
  for the GIL is charged to whatever function it was in, and C code that releases the GIL
  (zlib, hashlib, sockets) cannot be told apart from waiting.
* ``py-spy``: the py-spy sampling profiler (``pip install 'py-spy>=0.3.14'``, in the ``dev``
  extra). The workload runs unprofiled in a child (``--sampler none``) started by
  ``py-spy record --format raw --threads --rate HZ``, which reads the child's stacks from
  outside ``--rate`` times a second (ptrace: the child must be traceable). Samples cover the
  whole child from start to exit (imports, starting moto and waiting for it, creating the
  bucket, the workload, closing); the report says how many fell in the caller's thread inside
  the timed call. moto runs in a process of its own and is not sampled (no
  ``--subprocesses``). By default a sample counts only threads running on a CPU at that
  moment (C code that released the GIL included, charged to the Python frame that called it);
  a thread blocked on a lock, on I/O or waiting for the GIL is idle and left out, so the
  samples are CPU time per thread. ``--idle`` counts every thread at every tick (wall-clock
  time per thread, waiting included, where it waits). The collapsed stacks are summed for the
  whole process and per thread (labelled with the thread id and name py-spy gives; the name is
  sometimes the wrong one): own (leaf) samples and inclusive samples per function (each
  function once per stack), the lines of one function merged.
* ``none``: the workload without any profiler (the py-spy child; also a plain timing).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.s3harness import MotoServer

from benchmarks._common import (
    REPO_ROOT,
    KiB,
    MiB,
    S3Target,
    cycle_lines,
    line_pool,
    new_name,
    write_semi_compressible,
)
from benchmarks._stores import open_s3_store
from benchmarks.callsite import EXTRAS, LARGE_EXTRAS
from objlog import ObjectStoreHandler, ObjectStoreWriter, ResultWriter

PROG = "python -m benchmarks._profile"
WORKLOADS = ("callsite", "callsite-large", "drain", "drain-none", "results")


class ProfileError(Exception):
    """A sampler that cannot run here: reported as one line, exit status 2."""


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
    store = open_s3_store(target, new_name("profile"))
    handler = ObjectStoreHandler(
        store,
        pipelinerun="profile",
        task="callsite",
        max_buffer_bytes=512 * MiB,
        block_timeout=300.0,
    )
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
    store = open_s3_store(target, new_name("profile"))
    writer = ObjectStoreWriter(
        store, pipelinerun="profile", task="drain", compression=compression, block_timeout=600.0
    )
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
    store = open_s3_store(target, new_name("profile"))
    writer = ResultWriter(store, compresslevel=6)

    def work() -> None:
        writer.write("profile", "results", "result", src)

    return work


def run_in_process(args: argparse.Namespace) -> None:
    """Start moto, run the workload here (under cProfile or no profiler) and report."""
    with tempfile.TemporaryDirectory(prefix="objlog-profile-") as tmp:
        server = MotoServer(Path(tmp))
        try:
            target = S3Target(
                name="moto",
                endpoint=server.endpoint,
                access_key="testing",
                secret_key="testing",  # noqa: S106 - moto accepts any
            )
            target.bucket = new_name("objlog-profile")
            target.client().create_bucket(Bucket=target.bucket)
            work: Any
            if args.what.startswith("callsite"):
                work = callsite(target, args.records, args.what.endswith("large"))
            elif args.what.startswith("drain"):
                compression = "none" if args.what.endswith("none") else "gzip"
                work = drain(target, args.mib * MiB, compression)
            else:
                work = results(target, args.mib * MiB, Path(tmp))
            profiles: list[cProfile.Profile] = []
            t0 = time.perf_counter()
            if args.sampler == "cprofile":
                with all_threads_profiled(profiles):
                    work()
            else:
                work()
            seconds = time.perf_counter() - t0
            if hasattr(work, "finish"):
                work.finish()
            how = "under cProfile" if args.sampler == "cprofile" else "without a profiler"
            print(f"{args.what}: {seconds:.2f} s {how} ({os.cpu_count()} CPUs)", flush=True)
            if args.done_file is not None:
                args.done_file.write_text(f"{seconds!r}\n")
            if args.sampler != "cprofile":
                return
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


# --- py-spy -------------------------------------------------------------------------------

#: A py-spy frame "function (file:line)"; the line is dropped so one function's lines merge.
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::\d+)?\)$")
#: Stands for the leaf of a stack that has only the thread frame (no Python frame: native
#: code only, e.g. the interpreter starting or finalizing).
NO_FRAME = "(no Python frame)"
#: The timed workload function (``drain.<locals>.work``, ...) in the caller's thread.
_WORK = re.compile(r"^\w+\.<locals>\.work \(.*_profile\.py\)$")


@dataclass
class Tally:
    """Samples of one thread, or of the whole process."""

    samples: int = 0
    #: Samples inside the timed workload call (the caller's thread only).
    in_work: int = 0
    own: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)

    def add(self, functions: list[str], count: int) -> None:
        """Count one collapsed stack (root first) seen `count` times."""
        self.samples += count
        if any(_WORK.match(fn) for fn in functions):
            self.in_work += count
        self.own[functions[-1] if functions else NO_FRAME] += count
        for fn in set(functions) or {NO_FRAME}:
            self.inclusive[fn] += count


def function_of(frame: str) -> str:
    """``"f (pkg/mod.py:12)"`` -> ``"f (pkg/mod.py)"``; other frames unchanged."""
    m = _FRAME.match(frame)
    return f"{m['func']} ({m['file']})" if m else frame


def parse_raw(text: str) -> tuple[Tally, dict[str, Tally]]:
    """Sum py-spy's raw (collapsed) output for the process and per thread frame."""
    whole = Tally()
    threads: dict[str, Tally] = {}
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        thread, functions = frames[0], [function_of(f) for f in frames[1:]]
        if not thread.startswith("thread "):  # not recorded with --threads
            thread, functions = "(all threads)", [function_of(f) for f in frames]
        whole.add(functions, int(count))
        threads.setdefault(thread, Tally()).add(functions, int(count))
    return whole, threads


def _top(counter: Counter[str], total: int, top: int, heading: str) -> list[str]:
    lines = [f"-- {heading} --", f"{'samples':>9} {'%':>6}  function (file)"]
    for fn, n in counter.most_common(top):
        lines.append(f"{n:>9} {100.0 * n / total:>5.1f}%  {fn}")
    return lines


def format_samples(
    whole: Tally, threads: dict[str, Tally], title: str, top: int, idle: bool = False
) -> str:
    """The process's and every thread's totals, top own and top inclusive functions."""
    if not whole.samples:
        return f"== {title}: no samples ==\n"
    ordered = sorted(threads.items(), key=lambda kv: -kv[1].samples)
    out = [
        f"== {title}: whole process, {whole.samples} samples (one per "
        + ("thread, idle or not," if idle else "running thread")
        + " per tick) ==",
        f"of which {whole.in_work} in the caller's thread inside the timed workload call"
        " (*.<locals>.work); the rest is other threads, start-up and closing",
        "threads (names as py-spy reports them):",
    ]
    for name, t in ordered:
        out.append(f"{t.samples:>9} {100.0 * t.samples / whole.samples:>5.1f}%  {name}")
    out += _top(whole.own, whole.samples, top, f"top {top} by own samples (leaf)")
    out += _top(whole.inclusive, whole.samples, top, f"top {top} by inclusive samples")
    for name, t in ordered:
        share = 100.0 * t.samples / whole.samples
        out += ["", f"== {title}: {name}: {t.samples} samples ({share:.1f}% of the process) =="]
        out += _top(t.own, t.samples, top, f"top {top} by own samples (leaf), % of this thread")
        out += _top(t.inclusive, t.samples, top, f"top {top} by inclusive samples")
    return "\n".join(out) + "\n"


def find_py_spy() -> str:
    """The py-spy next to this interpreter (the venv's bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("py-spy")
    if found is None:
        raise ProfileError(
            "py-spy is not installed (pip install 'py-spy>=0.3.14', or the project's dev extra)"
        )
    return found


def run_py_spy(args: argparse.Namespace) -> None:
    """Run the workload in a child under ``py-spy record`` and report its samples."""
    py_spy = find_py_spy()
    with tempfile.TemporaryDirectory(prefix="objlog-pyspy-") as tmp:
        raw = args.out if args.out is not None else Path(tmp) / "pyspy.txt"
        done = Path(tmp) / "done"
        child = [sys.executable, "-m", "benchmarks._profile", args.what, "--sampler", "none"]
        child += ["--mib", str(args.mib), "--records", str(args.records)]
        child += ["--done-file", str(done)]
        cmd = [py_spy, "record", "--format", "raw", "--threads", "--rate", str(args.rate)]
        cmd += ["--idle"] if args.idle else []
        cmd += ["--output", str(raw), "--", *child]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd,
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                check=False,
            )
        except OSError as exc:
            raise ProfileError(f"cannot run {py_spy}: {exc}") from None
        wall = time.perf_counter() - t0
        output = proc.stdout.splitlines()
        if proc.returncode != 0:
            errors = [ln for ln in output if ln.startswith("Error:")]
            why = errors[0] if errors else (output[-1] if output else "no output")
            raise ProfileError(f"py-spy failed (exit {proc.returncode}): {why.strip()}")
        own = [ln for ln in output if ln.strip() and not ln.startswith("py-spy>")]
        if not done.exists():  # py-spy exits 0 whatever the child's status
            print("\n".join(own[-30:]), file=sys.stderr)
            print(f"{PROG}: error: the {args.what} workload failed under py-spy", file=sys.stderr)
            raise SystemExit(1)
        text = raw.read_text() if raw.exists() else ""
    print("\n".join(own))
    summary = [ln.split("Samples:", 1)[1].strip() for ln in output if "Samples:" in ln]
    print(
        f"py-spy at {args.rate} Hz sampled the child for {wall:.2f} s"
        + (f" (samples: {summary[0]})" if summary else "")
        + "; moto, a separate process, is not sampled"
    )
    whole, threads = parse_raw(text)
    print(format_samples(whole, threads, args.what, args.top, args.idle))
    if args.out is not None:
        print(f"raw collapsed stacks kept in {args.out}")


def main(argv: list[str] | None = None) -> None:
    """Profile one workload and print the top entries."""
    parser = argparse.ArgumentParser(prog=PROG)
    parser.add_argument("what", choices=WORKLOADS)
    parser.add_argument("--mib", type=int, default=32, help="bytes for drain/results, MiB")
    parser.add_argument("--records", type=int, default=50_000, help="records for callsite")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--sampler",
        choices=("cprofile", "py-spy", "none"),
        default="cprofile",
        help="cprofile (default, in process, every thread), py-spy (sampling, in a child), "
        "none (no profiler; just the time)",
    )
    parser.add_argument(
        "--rate", type=int, default=100, help="py-spy samples per second (default 100)"
    )
    parser.add_argument(
        "--idle",
        action="store_true",
        help="py-spy: also sample threads that are not running (waiting for I/O, a lock, the GIL)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also keep the merged cProfile stats / py-spy's raw collapsed stacks here",
    )
    parser.add_argument("--done-file", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sampler == "py-spy":
        try:
            run_py_spy(args)
        except ProfileError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    else:
        run_in_process(args)


if __name__ == "__main__":
    main()
