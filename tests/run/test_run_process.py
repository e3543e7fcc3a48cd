"""``objlog run`` as a real process against moto: true summaries, exit codes, no orphaned step."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from objlog._codec import decode_batch
from s3harness import S3Target, free_port

pytestmark = pytest.mark.process

TIMEOUT = 180  # seconds for any one objlog call: generous on a loaded 2-core box
SUMMARY = re.compile(rb"^objlog: (\d+) lines: (.*) ; results: .* ; exit status (\d+)$", re.M)


@pytest.fixture
def s3_env(s3_target: S3Target, s3_bucket: str, tmp_path: Path) -> dict[str, str]:
    """Environment pointing objlog at a fresh bucket on the S3 server."""
    return {
        **os.environ,
        **s3_target.env(),
        "OBJLOG_STORE": f"s3://{s3_bucket}",
        "OBJLOG_HOME": str(tmp_path / "home"),
    }


@pytest.fixture
def dead_env(s3_env: dict[str, str]) -> dict[str, str]:
    """The same, but the endpoint is a closed port: every upload fails."""
    return {**s3_env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}


def objlog_run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m objlog run ARGS`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "objlog", "run", "--pipelinerun", "pr", "--task", "t", *args],
        env=env,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )


def summary(proc: subprocess.CompletedProcess[bytes]) -> tuple[int, str, int]:
    """The summary line's total, its parts and its exit status."""
    found = SUMMARY.search(proc.stderr)
    assert found is not None, proc.stderr.decode()
    return int(found[1]), found[2].decode(), int(found[3])


def lines_step(n: int, status: int = 0) -> list[str]:
    """A step printing `n` lines and exiting with `status`."""
    return [sys.executable, "-c", f"import sys\nfor i in range({n}): print(i)\nsys.exit({status})"]


def test_healthy_run_says_stored(s3_env: dict[str, str]) -> None:
    """Against a working store: every line stored, nothing spooled or lost, exit 0."""
    proc = objlog_run("--", *lines_step(300), env=s3_env)
    assert 0 == proc.returncode, proc.stderr.decode()
    total, parts, status = summary(proc)
    assert (300, 0) == (total, status)
    assert re.fullmatch(r"300 stored in \d+ object\(s\) under logs/pr/t/", parts), parts


def test_dead_store_with_spool_says_spooled_and_where(
    dead_env: dict[str, str], tmp_path: Path
) -> None:
    """Store unreachable, a spool: 0 stored, every line spooled in the named directory, exit 0."""
    spool = tmp_path / "spool"
    proc = objlog_run(
        "--spool-dir", str(spool), "--sync-timeout", "2", "--", *lines_step(200), env=dead_env
    )
    assert 0 == proc.returncode, proc.stderr.decode()
    total, parts, status = summary(proc)
    assert (200, 0) == (total, status)
    assert parts.startswith("0 stored in 0 object(s) under logs/pr/t/, 200 spooled in ")
    assert str(spool) in parts
    assert "LOST" not in parts
    assert any(p.is_file() for p in spool.rglob("*")), "nothing was spooled"


@pytest.mark.parametrize(("step_status", "expected"), [(0, 1), (3, 3)])
def test_dead_store_without_spool_says_lost_and_exits_non_zero(
    dead_env: dict[str, str], step_status: int, expected: int
) -> None:
    """Store unreachable, no spool: the lines are LOST; exit 1, or the step's own failure."""
    proc = objlog_run(
        "--no-spool", "--sync-timeout", "2", "--", *lines_step(50, step_status), env=dead_env
    )
    assert expected == proc.returncode, proc.stderr.decode()
    total, parts, status = summary(proc)
    assert (50, expected) == (total, status)
    assert parts.endswith(", 50 LOST")
    assert "spooled" not in parts


def _state(pid: int) -> str | None:
    """The process state letter from /proc (None: gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_step_does_not_outlive_objlog_run_killed_by_sigkill(
    tmp_path: Path, s3_env: dict[str, str]
) -> None:
    """SIGKILL to objlog run: the step, which ignores SIGTERM and sleeps, dies too (no orphan)."""
    pidfile = tmp_path / "step.pid"
    step = textwrap.dedent(
        f"""
        import os, pathlib, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("started", flush=True)
        pathlib.Path({str(pidfile)!r}).write_text(str(os.getpid()))
        time.sleep(300)
        """
    )
    argv = [sys.executable, "-m", "objlog", "run", "--pipelinerun", "pr", "--task", "t", "--"]
    run = subprocess.Popen(
        [*argv, sys.executable, "-c", step],
        env=s3_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pid = 0
    try:
        deadline = time.monotonic() + TIMEOUT
        while not pidfile.exists() or not pidfile.read_text():
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.05)
        pid = int(pidfile.read_text())
        assert _state(pid) not in (None, "Z")
        # The step is objlog run's own child (the shim exec'd into it, same pid).
        assert f" {run.pid} " in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]
        run.kill()
        run.wait(TIMEOUT)
        deadline = time.monotonic() + 5
        while _state(pid) not in (None, "Z") and time.monotonic() < deadline:
            time.sleep(0.05)
        # Gone, or a zombie of pid 1 in a container without a reaper: dead either way.
        assert _state(pid) in (None, "Z"), f"step {pid} outlived objlog run"
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        if pid and _state(pid) not in (None, "Z"):
            os.kill(pid, signal.SIGKILL)


def test_sigkill_of_objlog_run_keeps_what_it_read_in_the_spool(
    s3_env: dict[str, str],
    dead_env: dict[str, str],
    s3_target: S3Target,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    """SIGKILL objlog run (store down) after the step printed: the next run uploads every line."""
    spool = tmp_path / "spool"
    marker = tmp_path / "printed"
    step = textwrap.dedent(
        f"""
        import pathlib, time
        for i in range(5000):
            print(f"line {{i:05d}}", flush=True)
        pathlib.Path({str(marker)!r}).write_text("done")
        time.sleep(300)
        """
    )
    argv = [sys.executable, "-m", "objlog", "run", "--pipelinerun", "pr", "--task", "t"]
    run = subprocess.Popen(
        [*argv, "--spool-dir", str(spool), "--", sys.executable, "-c", step],
        env=dead_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not marker.exists():
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.05)
        time.sleep(1.0)  # the pump reads the pipe and writes what it read
    finally:
        run.kill()
        run.wait(TIMEOUT)
    again = objlog_run("--spool-dir", str(spool), "--", *lines_step(0), env=s3_env)
    assert 0 == again.returncode, again.stderr.decode()
    client = s3_target.boto3_client()
    lines: list[str] = []
    # The log batches only: status/ holds the two runs' status objects.
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket, Prefix="logs/"):
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket=s3_bucket, Key=obj["Key"])["Body"].read()
            lines += [json.loads(r)["line"] for r in decode_batch(body, obj["Key"]).splitlines()]
    assert [f"line {i:05d}" for i in range(5000)] == sorted(lines)


def test_cat_of_a_step_that_printed_nothing_is_empty_not_an_error(
    s3_env: dict[str, str],
) -> None:
    """A silent step has a status, so cat prints nothing and exits 0; an unknown task exits 1."""
    assert 0 == objlog_run("--", *lines_step(0), env=s3_env).returncode
    for names in (["pr", "t"], ["pr"]):
        cat = subprocess.run(
            [sys.executable, "-m", "objlog", "cat", *names],
            env=s3_env, capture_output=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        assert (0, b"") == (cat.returncode, cat.stdout), cat.stderr.decode()
    missing = subprocess.run(
        [sys.executable, "-m", "objlog", "cat", "pr", "other"],
        env=s3_env, capture_output=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert 1 == missing.returncode
