"""
Groups 4 and 5, measured in child processes: results (.tgz) and shutdown on SIGTERM.

* Results: a semi-compressible file stored with objlog's `ResultWriter` in a fresh
  child vs ``tar czf`` to a temp file then boto3 ``upload_file`` in another fresh child
  (the sequential ceiling). MiB/s of the input file, and each child's peak RSS.
* Shutdown: a child buffers N bytes in a writer (batch limits far above N), installs
  objlog's signal handlers and says READY; the parent sends SIGTERM and times until the
  child has exited. Baseline: one plain boto3 ``put_object`` of the same N bytes. The
  parent then checks the stored objects hold every byte (``lost_bytes``).
"""

from __future__ import annotations

import gzip
import json
import os
import signal
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
    cycle_lines,
    empty_prefix,
    line_pool,
    list_objects,
    new_name,
    write_semi_compressible,
)

CHILD_TIMEOUT = 900.0


class ChildFailed(Exception):
    """A child process did not report a result."""


def _child_env(target: S3Target) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OBJLOG_"))}
    env.update(target.env())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def run_child(target: S3Target, *args: str) -> dict[str, Any]:
    """Run ``python -m benchmarks._child ARGS`` to completion; return its RESULT."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks._child", *args],
        cwd=REPO_ROOT,
        env=_child_env(target),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])  # type: ignore[no-any-return]
    tail = (proc.stderr or "").strip().splitlines()[-3:]
    raise ChildFailed(f"child {args[0]} exited {proc.returncode}: {' | '.join(tail)}")


def results_figures(target: S3Target, sizes: Sizes, log: Callable[[str], None]) -> list[Figure]:
    """Group 4: a .tgz result of `sizes.result_bytes`: MiB/s and peak RSS vs tar + upload."""
    size_mib = sizes.result_bytes / MiB
    thr = Figure(
        id="results.throughput",
        group="results",
        title=f"result .tgz MiB/s of a {size_mib:,.0f} MiB file",
        unit="MiB/s",
        baseline_name="tar czf to a temp file, then boto3 upload_file",
        target=Target(kind="ratio_min", value=0.9, text=">= 0.9x"),
    )
    rss = Figure(
        id="results.peak_rss",
        group="results",
        title=f"result peak RSS, {size_mib:,.0f} MiB file",
        unit="MiB",
        baseline_name="python uploader process of tar + upload_file",
        higher_is_better=False,
        target=Target(kind="max", value=100.0, text="<= 100 MiB (1 GiB)"),
    )
    with tempfile.TemporaryDirectory(prefix="objlog-bench-result-") as tmp:
        src = Path(tmp) / "data.log"
        log(f"results: writing a {size_mib:,.0f} MiB file")
        write_semi_compressible(src, sizes.result_bytes)
        raw = target.client()
        base_prefix = new_name("tar-upload")
        log("results: tar czf + upload_file")
        base = run_child(
            target,
            "tar_upload",
            "--file",
            str(src),
            "--bucket",
            target.bucket,
            "--prefix",
            base_prefix,
        )
        empty_prefix(raw, target.bucket, base_prefix)
        thr.baseline = size_mib / base["seconds"]
        rss.baseline = base["maxrss_kib"] / KiB
        thr.details["baseline"] = base
        try:
            prefix = new_name("result")
            log("results: objlog ResultWriter")
            mine = run_child(
                target,
                "result",
                "--file",
                str(src),
                "--bucket",
                target.bucket,
                "--prefix",
                prefix,
                "--compresslevel",
                "6",
            )
            empty_prefix(raw, target.bucket, prefix)
        except ChildFailed as exc:
            thr.error = rss.error = str(exc)
        else:
            thr.objlog = size_mib / mine["seconds"]
            rss.objlog = mine["maxrss_kib"] / KiB
            thr.details["objlog"] = mine
            rss.details["objlog_idle_mib"] = mine["idle_maxrss_kib"] / KiB
        rss.details["baseline_idle_mib"] = base["idle_maxrss_kib"] / KiB
        rss.details["baseline_tar_mib"] = base["tar_maxrss_kib"] / KiB
        thr.details["input_bytes"] = sizes.result_bytes
    return [thr.settle(), rss.settle()]


def shutdown_run(target: S3Target, n_bytes: int, compression: str = "") -> dict[str, Any]:
    """SIGTERM a child holding `n_bytes` buffered; time to exit; check nothing was lost."""
    prefix = new_name("shutdown")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks._child",
            "shutdown",
            "--bytes",
            str(n_bytes),
            "--bucket",
            target.bucket,
            "--prefix",
            prefix,
            "--compression",
            compression,
        ],
        cwd=REPO_ROOT,
        env=_child_env(target),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        if not ready.startswith("READY "):
            proc.wait(60)
            err = (proc.stderr.read() if proc.stderr else "").strip().splitlines()[-3:]
            raise ChildFailed(f"shutdown child exited {proc.returncode}: {' | '.join(err)}")
        info = json.loads(ready[len("READY ") :])
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(CHILD_TIMEOUT)
        seconds = time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr_tail = (proc.stderr.read() if proc.stderr else "")[-500:]
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    raw = target.client()
    stored = 0
    recovered = 0
    for obj in list_objects(raw, target.bucket, prefix):
        body = raw.get_object(Bucket=target.bucket, Key=obj["Key"])["Body"].read()
        stored += len(body)
        recovered += len(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)
    empty_prefix(raw, target.bucket, prefix)
    return {
        "buffered_bytes": info["logged_bytes"],
        "seconds": seconds,
        "exit_code": code,
        "exit_by_sigterm": code == -signal.SIGTERM,
        "stored_bytes": stored,
        "lost_bytes": info["logged_bytes"] - recovered,
        "stderr_tail": stderr_tail if code not in (0, -signal.SIGTERM) else "",
    }


def raw_upload_seconds(target: S3Target, n_bytes: int) -> float:
    """Time one plain boto3 ``put_object`` of the bytes the shutdown child buffers."""
    raw = target.client()
    payload = b"".join(cycle_lines(line_pool(KiB), n_bytes))
    key = f"{new_name('shutdown-raw')}/raw"
    t0 = time.perf_counter()
    raw.put_object(Bucket=target.bucket, Key=key, Body=payload)
    seconds = time.perf_counter() - t0
    raw.delete_object(Bucket=target.bucket, Key=key)
    return seconds


def shutdown_figures(target: S3Target, sizes: Sizes, log: Callable[[str], None]) -> list[Figure]:
    """Group 5: SIGTERM-to-exit with small and large buffers vs raw upload of the bytes."""
    figures = []
    runs = [
        ("small", sizes.shutdown_bytes[0], ""),
        ("large", sizes.shutdown_bytes[1], ""),
        ("large.none", sizes.shutdown_bytes[1], "none"),
    ]
    raw_seconds: dict[int, float] = {}
    for name, n_bytes, compression in runs:
        label = f"{n_bytes / MiB:g} MiB" if n_bytes >= MiB else f"{n_bytes // KiB} KiB"
        default = not compression
        fig = Figure(
            id=f"shutdown.{name}",
            group="shutdown",
            title=f"SIGTERM to exit, {label} buffered"
            + ("" if default else f", compression={compression} (informational)"),
            unit="s",
            baseline_name="one boto3 put_object of the same bytes",
            higher_is_better=False,
            target=Target(kind="delta_max", value=0.5, text="<= raw + 0.5 s") if default else None,
        )
        log(f"shutdown, {label} buffered{'' if default else ', ' + compression}")
        if n_bytes not in raw_seconds:
            raw_seconds[n_bytes] = raw_upload_seconds(target, n_bytes)
        fig.baseline = raw_seconds[n_bytes]
        try:
            d = shutdown_run(target, n_bytes, compression)
        except ChildFailed as exc:
            fig.error = str(exc)
        else:
            fig.objlog = d["seconds"]
            fig.details["objlog"] = d
            if d["lost_bytes"] or not d["exit_by_sigterm"]:
                fig.error = f"lost {d['lost_bytes']} bytes, exit code {d['exit_code']}"
        figures.append(fig.settle())
    return figures
