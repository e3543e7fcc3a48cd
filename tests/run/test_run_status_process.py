"""``objlog run`` as a process against moto: status, --pty, unbuffered Python, --max-age, cat -f."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from objlog import reader
from s3harness import S3Target

pytestmark = pytest.mark.process

TIMEOUT = 180  # seconds for any one objlog call: generous on a loaded 2-core box


@pytest.fixture
def s3_env(s3_target: S3Target, s3_bucket: str, tmp_path: Path) -> dict[str, str]:
    """Environment pointing objlog at a fresh bucket on the S3 server (no PYTHONUNBUFFERED)."""
    env = {
        **os.environ,
        **s3_target.env(),
        "OBJLOG_STORE": f"s3://{s3_bucket}",
        "OBJLOG_HOME": str(tmp_path / "home"),
    }
    env.pop("PYTHONUNBUFFERED", None)
    return env


def objlog(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m objlog ARGS`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "objlog", *args],
        env=env,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )


def records(env: dict[str, str], task: str = "t") -> list[dict[str, object]]:
    """The task's records, read back through objlog's reader."""
    out = objlog("cat", "--json", "pr", task, env=env)
    assert 0 == out.returncode, out.stderr.decode()
    return [json.loads(line) for line in out.stdout.decode().splitlines()]


def _epoch(record: dict[str, object]) -> float:
    stamp = reader.parse_timestamp(record["timestamp"])
    assert stamp is not None
    return stamp


# Three prints a second apart, no -u, no flush: piped, Python would hold them to the end.
SLOW_PRINTS = "import time\nfor i in range(3):\n    print(f'tick {i}')\n    time.sleep(1)"


@pytest.mark.parametrize("pty", [False, True], ids=["pipe", "pty"])
def test_python_without_u_streams_line_by_line(s3_env: dict[str, str], pty: bool) -> None:
    """Three prints 1 s apart without -u: three timestamps about 1 s apart, pty or not."""
    flags = ["--pty"] if pty else []
    run = objlog(
        "run", "--pipelinerun", "pr", "--task", "t", *flags, "--", sys.executable, "-c",
        SLOW_PRINTS, env=s3_env,
    )  # fmt: skip
    assert 0 == run.returncode, run.stderr.decode()
    got = records(s3_env)
    assert ["tick 0", "tick 1", "tick 2"] == [r["line"] for r in got]
    times = [_epoch(r) for r in got]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.7 < gap < 2.5 for gap in gaps), gaps


def test_caller_pythonunbuffered_is_kept(s3_env: dict[str, str]) -> None:
    """A PYTHONUNBUFFERED of the caller reaches the step unchanged; without one the step gets 1."""
    show = "import os; print(repr(os.environ.get('PYTHONUNBUFFERED')))"
    run = objlog("run", "--pipelinerun", "pr", "--task", "t", "--", sys.executable, "-c", show,
                 env=s3_env)  # fmt: skip
    assert b"'1'\n" == run.stdout
    mine = {**s3_env, "PYTHONUNBUFFERED": ""}
    run = objlog("run", "--pipelinerun", "pr", "--task", "u", "--", sys.executable, "-c", show,
                 env=mine)  # fmt: skip
    assert b"''\n" == run.stdout


def test_pty_gives_a_terminal_and_merges_streams(s3_env: dict[str, str]) -> None:
    """Under --pty the step's stdout and stderr are a terminal, recorded as stdout, no \\r\\n."""
    code = textwrap.dedent(
        """
        import sys
        print(sys.stdout.isatty(), sys.stderr.isatty())
        print("to stderr", file=sys.stderr)
        """
    )
    run = objlog("run", "--pipelinerun", "pr", "--task", "t", "--pty", "--",
                 sys.executable, "-c", code, env=s3_env)  # fmt: skip
    assert 0 == run.returncode, run.stderr.decode()
    got = records(s3_env)
    assert [("stdout", "True True"), ("stdout", "to stderr")] == [
        (r["stream"], r["line"]) for r in got
    ]


@pytest.mark.parametrize(("max_age", "most"), [("0.3", None), ("60", 1)])
def test_max_age_sets_how_often_batches_are_sealed(
    s3_env: dict[str, str], s3_target: S3Target, s3_bucket: str, max_age: str, most: int | None
) -> None:
    """--max-age 0.3: a batch per print (3); --max-age 60: one batch at the end."""
    run = objlog("run", "--pipelinerun", "pr", "--task", "t", "--max-age", max_age, "--",
                 sys.executable, "-c", SLOW_PRINTS, env=s3_env)  # fmt: skip
    assert 0 == run.returncode, run.stderr.decode()
    client = s3_target.boto3_client()
    listed = client.list_objects_v2(Bucket=s3_bucket, Prefix="logs/pr/t/").get("Contents", [])
    if most is None:
        assert len(listed) >= 3
    else:
        assert most == len(listed)


def test_bad_max_age_is_a_usage_error(s3_env: dict[str, str]) -> None:
    """--max-age 0: exit 2, one error line, the step never runs."""
    run = objlog("run", "--max-age", "0", "--", sys.executable, "-c", "print('ran')", env=s3_env)
    assert 2 == run.returncode
    assert b"ran" not in run.stdout
    assert b"--max-age" in run.stderr


def _status_of(s3_target: S3Target, bucket: str) -> str | None:
    """The status stored for pr/t, read with a plain S3 client (None: none yet)."""
    client = s3_target.boto3_client()
    try:
        body = client.get_object(Bucket=bucket, Key="status/pr/t/status.json")["Body"].read()
    except client.exceptions.NoSuchKey:
        return None
    return str(json.loads(body)["status"])


def test_cat_follow_ends_when_the_step_ends(
    s3_env: dict[str, str], s3_target: S3Target, s3_bucket: str, tmp_path: Path
) -> None:
    """cat -f on a running step prints its lines and exits 0 by itself soon after it ends."""
    gate = tmp_path / "go"
    step = textwrap.dedent(
        f"""
        import pathlib, time
        print("before", flush=True)
        while not pathlib.Path({str(gate)!r}).exists():
            time.sleep(0.05)
        print("after", flush=True)
        """
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "objlog", "run", "--pipelinerun", "pr", "--task", "t", "--",
         sys.executable, "-c", step],
        env=s3_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    follower = None
    try:
        deadline = time.monotonic() + TIMEOUT
        while _status_of(s3_target, s3_bucket) != "running":
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.1)
        follower = subprocess.Popen(
            [sys.executable, "-m", "objlog", "cat", "-f", "--poll-interval", "0.2", "pr", "t"],
            env=s3_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert follower.stdout is not None
        assert b"before\n" == follower.stdout.readline()
        gate.write_text("go")
        assert 0 == run.wait(TIMEOUT)
        ended = time.monotonic()
        out, err = follower.communicate(timeout=30)
        # Within a few seconds of objlog run's end, with every line.
        assert time.monotonic() - ended < 10
        assert 0 == follower.returncode, err.decode()
        assert b"after\n" == out
    finally:
        for proc in (run, follower):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def test_cat_follow_of_a_whole_run_ends_when_its_tasks_end(
    s3_env: dict[str, str], s3_target: S3Target, s3_bucket: str, tmp_path: Path
) -> None:
    """cat -f PR (no task) prints the run's lines, prefixed, and exits 0 once every task ended."""
    gate = tmp_path / "go"
    step = textwrap.dedent(
        f"""
        import pathlib, time
        print("before", flush=True)
        while not pathlib.Path({str(gate)!r}).exists():
            time.sleep(0.05)
        print("after", flush=True)
        """
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "objlog", "run", "--pipelinerun", "pr", "--task", "t", "--",
         sys.executable, "-c", step],
        env=s3_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    follower = None
    try:
        deadline = time.monotonic() + TIMEOUT
        while _status_of(s3_target, s3_bucket) != "running":
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.1)
        follower = subprocess.Popen(
            [sys.executable, "-m", "objlog", "cat", "-f", "--poll-interval", "0.2", "pr"],
            env=s3_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert follower.stdout is not None
        assert b"before\n" in follower.stdout.readline()
        gate.write_text("go")
        assert 0 == run.wait(TIMEOUT)
        ended = time.monotonic()
        out, err = follower.communicate(timeout=30)
        # Within a few seconds of objlog run's end, with every line.
        assert time.monotonic() - ended < 10
        assert 0 == follower.returncode, err.decode()
        assert out.endswith(b"after\n")
    finally:
        for proc in (run, follower):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_sigkilled_run_leaves_running(s3_env: dict[str, str], tmp_path: Path) -> None:
    """objlog run killed by SIGKILL cannot say so: ls shows the task running, exit_code null."""
    marker = tmp_path / "started"
    step = f"import pathlib, time\npathlib.Path({str(marker)!r}).write_text('x')\ntime.sleep(300)"
    run = subprocess.Popen(
        [sys.executable, "-m", "objlog", "run", "--pipelinerun", "pr", "--task", "t", "--",
         sys.executable, "-c", step],
        env=s3_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT
        while not marker.exists():
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.05)
        time.sleep(1.0)  # the start status is written in the background
    finally:
        run.kill()
        run.wait(TIMEOUT)
    listed = objlog("ls", "pr", "--json", env=s3_env)
    assert 0 == listed.returncode, listed.stderr.decode()
    (task,) = [json.loads(line) for line in listed.stdout.decode().splitlines()]
    assert ("t", "running", None, None) == (
        task["task"],
        task["status"],
        task["exit_code"],
        task["finished"],
    )
    assert task["started"].endswith("Z")
