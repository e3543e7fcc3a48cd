"""``objlog run`` as a real process against moto: no orphaned step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from s3harness import S3Target

pytestmark = pytest.mark.process

TIMEOUT = 180  # seconds for any one objlog call: generous on a loaded 2-core box


@pytest.fixture
def s3_env(s3_target: S3Target, s3_bucket: str, tmp_path: Path) -> dict[str, str]:
    """Environment pointing objlog at a fresh bucket on the S3 server."""
    return {
        **os.environ,
        **s3_target.env(),
        "OBJLOG_STORE": f"s3://{s3_bucket}",
        "OBJLOG_HOME": str(tmp_path / "home"),
    }


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
