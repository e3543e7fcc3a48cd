"""The objlog CLI as users run it: real subprocesses against moto and the local default store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from s3harness import S3Target, free_port

pytestmark = pytest.mark.process

TIMEOUT = 180  # seconds for any one CLI call: generous on a loaded 2-core box
SECRET = "s3cr3t-VALUE-never-printed"


def objlog(
    *args: str, env: dict[str, str], timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m objlog ARGS`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "objlog", *args],
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def one_error_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    """Assert stderr is exactly one ``objlog: error:`` line and return it."""
    lines = proc.stderr.decode().splitlines()
    assert 1 == len(lines), proc.stderr.decode()
    assert lines[0].startswith("objlog: error: ")
    assert "Traceback" not in lines[0]
    assert SECRET not in lines[0]
    return lines[0]


@pytest.fixture
def local_env(tmp_path: Path) -> dict[str, str]:
    """Environment for the embedded default store under a private OBJLOG_HOME."""
    return {**os.environ, "OBJLOG_HOME": str(tmp_path / "home")}


@pytest.fixture
def s3_env(s3_target: S3Target, s3_bucket: str, tmp_path: Path) -> dict[str, str]:
    """Environment pointing objlog at a fresh bucket on the S3 server."""
    return {
        **os.environ,
        **s3_target.env(),
        "OBJLOG_STORE": f"s3://{s3_bucket}",
        "OBJLOG_HOME": str(tmp_path / "home"),
    }


def py(code: str) -> list[str]:
    """A child command running Python code."""
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_run_10000_lines_exit_3_then_cat_in_order(s3_env: dict[str, str]) -> None:
    """10,000 lines then exit 3: exit 3, output tee'd, cat returns every line in order."""
    child = py(
        """
        import sys
        for i in range(10000):
            print(f"line {i}")
        sys.exit(3)
        """
    )
    run = objlog("run", "--pipelinerun", "pr1", "--task", "t1", "--", *child, env=s3_env)
    expected = "".join(f"line {i}\n" for i in range(10000)).encode()
    assert 3 == run.returncode, run.stderr.decode()
    assert expected == run.stdout
    cat = objlog("cat", "pr1", "t1", env=s3_env)
    assert 0 == cat.returncode, cat.stderr.decode()
    assert expected == cat.stdout
    records = [
        json.loads(line)
        for line in objlog("cat", "--json", "pr1", "t1", env=s3_env).stdout.splitlines()
    ]
    assert list(range(10000)) == [r["sequence"] for r in records]
    assert {"stdout"} == {r["stream"] for r in records}


@pytest.mark.parametrize("after_lines", [1, 2000, 20000])
def test_sigterm_mid_stream_loses_no_line(
    s3_env: dict[str, str], tmp_path: Path, after_lines: int
) -> None:
    """SIGTERM to objlog run: forwarded, exit 143, and every line the child printed is stored."""
    printed = tmp_path / "printed.txt"
    child = py(
        f"""
        import sys, time
        with open({str(printed)!r}, "a") as side:
            i = 0
            while True:
                sys.stdout.write(f"n {{i}}\\n"); sys.stdout.flush()
                side.write(f"n {{i}}\\n"); side.flush()
                i += 1
                if i % 50 == 0:
                    time.sleep(0.01)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "objlog", "run", "--pipelinerun", "pr", "--task", "t", "--", *child],
        env=s3_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + TIMEOUT
    while not printed.exists() or printed.read_text().count("\n") < after_lines:
        assert time.monotonic() < deadline, "the child never got going"
        assert proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert 128 + signal.SIGTERM == proc.returncode, err.decode()
    side_lines = printed.read_text().splitlines()
    cat = objlog("cat", "pr", "t", env=s3_env)
    stored = cat.stdout.decode().splitlines()
    # The side file is written after each print: everything in it was printed before death.
    assert side_lines == stored[: len(side_lines)]
    assert out.decode().splitlines() == stored
    assert [f"n {i}" for i in range(len(stored))] == stored


def test_result_put_get_round_trip_byte_exact(s3_env: dict[str, str], tmp_path: Path) -> None:
    """A result stored with put comes back byte-exact with get, to stdout and to a file."""
    payload = os.urandom(3 * 1024 * 1024) + b"\x00\xff end"
    source = tmp_path / "model.bin"
    source.write_bytes(payload)
    put = objlog("result", "put", "pr", "t", "model", str(source), env=s3_env)
    assert 0 == put.returncode, put.stderr.decode()
    assert "artifacts/pr/t/model.tgz" in put.stdout.decode()
    got = objlog("result", "get", "pr", "t", "model", env=s3_env)
    assert 0 == got.returncode, got.stderr.decode()
    assert payload == got.stdout
    target = tmp_path / "fetched.bin"
    got = objlog("result", "get", "pr", "t", "model", "-o", str(target), env=s3_env)
    assert 0 == got.returncode, got.stderr.decode()
    assert payload == target.read_bytes()


def test_ls_shows_runs_tasks_and_objects(s3_env: dict[str, str], tmp_path: Path) -> None:
    """ls lists the run, then its task, then the task's log and result objects."""
    (tmp_path / "m.json").write_text('{"accuracy": 1.0}')
    run = objlog(
        "run", "--pipelinerun", "pr-ls", "--task", "train",
        "--result", f"metrics={tmp_path / 'm.json'}", "--", *py("print('hi')"),
        env=s3_env,
    )  # fmt: skip
    assert 0 == run.returncode, run.stderr.decode()
    runs = objlog("ls", "--json", env=s3_env).stdout.decode().splitlines()
    assert ["pr-ls"] == [json.loads(line)["pipelinerun"] for line in runs]
    tasks = objlog("ls", "pr-ls", "--json", env=s3_env).stdout.decode().splitlines()
    assert ["train"] == [json.loads(line)["task"] for line in tasks]
    listing = objlog("ls", "pr-ls", "train", env=s3_env).stdout.decode().splitlines()
    keys = [line.split()[-1] for line in listing]
    assert 3 == len(keys)
    assert keys[0].startswith("logs/pr-ls/train/")
    assert "artifacts/pr-ls/train/metrics.tgz" == keys[1]
    assert "status/pr-ls/train/status.json" == keys[2]


def test_error_closed_port_is_one_line(tmp_path: Path) -> None:
    """An endpoint nobody listens on: one error line, exit 1, no secret."""
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "OBJLOG_HOME": str(tmp_path),
    }
    proc = objlog("ls", "s3://some-bucket", env=env)
    assert 1 == proc.returncode
    one_error_line(proc)


def test_error_missing_bucket_is_one_line(s3_target: S3Target, tmp_path: Path) -> None:
    """A bucket that does not exist: one error line naming it, exit 1."""
    env = {**os.environ, **s3_target.env(), "OBJLOG_HOME": str(tmp_path)}
    proc = objlog("cat", "s3://objlog-no-such-bucket-4711", "pr", "t", env=env)
    assert 1 == proc.returncode
    assert "objlog-no-such-bucket-4711" in one_error_line(proc)


def test_error_unknown_run_and_result(s3_env: dict[str, str]) -> None:
    """Unknown run, task or result: one error line each, exit 1."""
    for args in (("cat", "nope", "t"), ("ls", "nope"), ("result", "get", "nope", "t", "m")):
        proc = objlog(*args, env=s3_env)
        assert 1 == proc.returncode
        assert "nope" in one_error_line(proc)


def test_usage_errors_exit_2(local_env: dict[str, str]) -> None:
    """Bad names, a bad URL, a missing command: one line, exit 2."""
    cases = [
        ("cat", "s3://x", "pr", "t"),  # bucket name too short
        ("cat", "pr", "t", "--since", "whenever"),
        ("run", "--pipelinerun", "..", "--", "true"),
        ("run", "--"),
        ("run", "--", "/nonexistent/command"),
        ("run", "--result", "no-equals-sign", "--", "true"),
        ("no-such-command",),
        ("cat", "--level"),
    ]
    for args in cases:
        proc = objlog(*args, env=local_env)
        assert 2 == proc.returncode, args
        one_error_line(proc)


def test_non_utf8_and_unterminated_lines_are_kept(local_env: dict[str, str]) -> None:
    """Bytes that are not UTF-8 and a last line without newline come back exactly."""
    raw = b"plain\n\xff\xfe not utf-8 \xc3\n\xe2\x82\xac euro\r\nno newline at end"
    child = py(f"import sys; sys.stdout.buffer.write({raw!r})")
    run = objlog("run", "--pipelinerun", "pr", "--task", "t", "--", *child, env=local_env)
    assert 0 == run.returncode, run.stderr.decode()
    assert raw == run.stdout
    assert raw == objlog("cat", "pr", "t", env=local_env).stdout
    records = [
        json.loads(x) for x in objlog("cat", "--json", "pr", "t", env=local_env).stdout.splitlines()
    ]
    assert "\\xff\\xfe not utf-8 \\xc3" == records[1]["line"]
    assert "€ euro\r" == records[2]["line"]
    assert records[3]["newline"] is False


def test_very_long_line_is_split_and_restored(local_env: dict[str, str]) -> None:
    """A 1 MiB line becomes partial records of at most 256 KiB and cat joins them again."""
    child = py("import sys; sys.stdout.write('x' * (1024 * 1024) + '\\nshort\\n')")
    run = objlog("run", "--pipelinerun", "pr", "--task", "t", "--", *child, env=local_env)
    assert 0 == run.returncode, run.stderr.decode()
    assert b"x" * (1024 * 1024) + b"\nshort\n" == objlog("cat", "pr", "t", env=local_env).stdout
    records = [
        json.loads(x) for x in objlog("cat", "--json", "pr", "t", env=local_env).stdout.splitlines()
    ]
    assert [True, True, True, None, None] == [r.get("partial") for r in records]
    assert all(len(r["line"]) <= 256 * 1024 for r in records)


def test_archive_log_and_env_names(local_env: dict[str, str]) -> None:
    """Names from OBJLOG_PIPELINERUN/OBJLOG_TASK; --archive-log stores main-log.tgz."""
    env = {**local_env, "OBJLOG_PIPELINERUN": "pr-env", "OBJLOG_TASK": "task-env"}
    child = py("import sys; print('out'); print('err', file=sys.stderr); print('more')")
    run = objlog("run", "--archive-log", "--", *child, env=env)
    assert 0 == run.returncode, run.stderr.decode()
    store = Path(local_env["OBJLOG_HOME"]) / "store"
    with tarfile.open(store / "artifacts/pr-env/task-env/main-log.tgz") as tar:
        first = tar.next()
        assert first is not None
        assert "step-main.log" == first.name
        extracted = tar.extractfile(first)
        assert extracted is not None
        assert ["out", "err", "more"] == sorted(
            extracted.read().decode().split(), key=["out", "err", "more"].index
        )
    got = objlog("result", "get", "pr-env", "task-env", "main-log", env=local_env)
    assert 3 == len(got.stdout.splitlines())


def test_generated_run_id_is_printed(local_env: dict[str, str]) -> None:
    """Without names, a run id is generated, printed on stderr, and task is main."""
    run = objlog("run", "--", *py("print('x')"), env=local_env)
    assert 0 == run.returncode
    first = run.stderr.decode().splitlines()[0]
    assert first.startswith("objlog: pipelinerun run-")
    pipelinerun = first.split()[2]
    assert b"x\n" == objlog("cat", pipelinerun, "main", env=local_env).stdout


def test_child_killed_by_signal_exits_128_plus_n(local_env: dict[str, str]) -> None:
    """A child that dies of SIGKILL makes objlog run exit 137, its output still stored."""
    child = py(
        "import os, signal, sys; print('before'); sys.stdout.flush();"
        " os.kill(os.getpid(), signal.SIGKILL)"
    )
    run = objlog("run", "--pipelinerun", "pr", "--task", "t", "--", *child, env=local_env)
    assert 128 + signal.SIGKILL == run.returncode
    assert b"before\n" == objlog("cat", "pr", "t", env=local_env).stdout


def test_missing_result_file_fails_a_successful_step(
    local_env: dict[str, str], tmp_path: Path
) -> None:
    """A declared result that does not exist turns exit 0 into 1 with an error line."""
    run = objlog(
        "run", "--pipelinerun", "pr", "--task", "t", "--result", f"m={tmp_path / 'missing'}",
        "--", *py("pass"), env=local_env,
    )  # fmt: skip
    assert 1 == run.returncode
    assert "objlog: error: result m:" in run.stderr.decode()


def test_cat_level_grep_and_structured_lines(local_env: dict[str, str]) -> None:
    """--level reads levels of JSON lines (structlog), --grep filters the text."""
    child = py(
        """
        import json
        print(json.dumps({"event": "start", "level": "info"}))
        print(json.dumps({"event": "disk almost full", "level": "warning"}))
        print("plain text line")
        print(json.dumps({"event": "boom", "level": "error"}))
        """
    )
    assert (
        0
        == objlog(
            "run", "--pipelinerun", "pr", "--task", "t", "--", *child, env=local_env
        ).returncode
    )
    warn = (
        objlog("cat", "--level", "warning", "pr", "t", env=local_env).stdout.decode().splitlines()
    )
    assert ["disk almost full", "boom"] == [json.loads(x)["event"] for x in warn]
    grep = (
        objlog("cat", "--grep", "plain|boom", "pr", "t", env=local_env).stdout.decode().splitlines()
    )
    assert 2 == len(grep)


def test_cat_follow_sees_a_second_writer(local_env: dict[str, str], tmp_path: Path) -> None:
    """cat --follow prints existing lines, then lines a later run adds to the same task."""
    # The first writer is the library's, not objlog run: no status, so -f keeps following.
    first = textwrap.dedent(
        """
        from objlog import ObjectStoreWriter, open_store
        with ObjectStoreWriter(open_store(None), pipelinerun="pr", task="t") as writer:
            writer.write("first")
        """
    )
    assert 0 == subprocess.run(py(first), env=local_env, check=False, timeout=TIMEOUT).returncode
    follower = subprocess.Popen(
        [sys.executable, "-m", "objlog", "cat", "--follow", "--poll-interval", "0.2", "pr", "t"],
        env=local_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert follower.stdout is not None
        assert b"first\n" == follower.stdout.readline()
        second = objlog(
            "run", "--pipelinerun", "pr", "--task", "t", "--", *py("print('second')"), env=local_env
        )
        assert 0 == second.returncode
        assert b"second\n" == follower.stdout.readline()
        # objlog run stored a finished status: -f ends by itself.
        follower.communicate(timeout=TIMEOUT)
    finally:
        if follower.poll() is None:
            follower.send_signal(signal.SIGINT)
            follower.communicate(timeout=TIMEOUT)
    assert 0 == follower.returncode


def test_spool_recovers_logs_of_a_step_that_could_not_upload(
    s3_env: dict[str, str], tmp_path: Path
) -> None:
    """With the store down, run still runs the step and spools; the next run uploads the backlog."""
    spool = tmp_path / "spool"
    down = {**s3_env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    child = py("for i in range(100): print(f'offline {i}')")
    first = objlog(
        "run", "--pipelinerun", "pr", "--task", "t", "--spool-dir", str(spool),
        "--sync-timeout", "2", "--", *child, env=down,
    )  # fmt: skip
    assert 0 == first.returncode, first.stderr.decode()
    assert b"offline 99\n" in first.stdout
    assert any(spool.rglob("*")), "nothing was spooled"
    second = objlog(
        "run", "--pipelinerun", "pr", "--task", "t2", "--spool-dir", str(spool),
        "--", *py("print('online')"), env=s3_env,
    )  # fmt: skip
    assert 0 == second.returncode, second.stderr.decode()
    recovered = objlog("cat", "pr", "t", env=s3_env)
    assert [f"offline {i}" for i in range(100)] == recovered.stdout.decode().splitlines()


def test_check_verdicts(local_env: dict[str, str], s3_env: dict[str, str], tmp_path: Path) -> None:
    """check: local store and S3 bucket pass (exit 0); a closed port fails in one line (exit 1)."""
    pytest.importorskip("objlog.stores.check")
    assert 0 == objlog("check", env=local_env).returncode
    assert 0 == objlog("check", env=s3_env).returncode
    env = {
        **s3_env,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_SECRET_ACCESS_KEY": SECRET,
    }
    proc = objlog("check", env=env)
    assert 1 == proc.returncode
    one_error_line(proc)


@pytest.mark.slow
def test_main_job_on_the_default_store(local_env: dict[str, str]) -> None:
    """examples/main_job.py (README command one) trains, reads back, verifies and summarises."""
    pytest.importorskip("sklearn")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, str(root / "examples" / "main_job.py")],
        env=local_env,
        capture_output=True,
        timeout=TIMEOUT * 2,
        check=False,
    )
    out = proc.stdout.decode()
    assert 0 == proc.returncode, out + proc.stderr.decode()
    assert "=== summary ===" in out
    assert "artifacts/" in out and "metrics.tgz" in out and "main-log.tgz" in out


def _run_waiting_step(
    local_env: dict[str, str], ready: Path, setup: str
) -> subprocess.Popen[bytes]:
    """Start ``objlog run`` on a step that runs `setup`, touches `ready` and sleeps; wait for it."""
    child = py(
        f"""
        import pathlib, signal, sys, time
        {setup}
        pathlib.Path({str(ready)!r}).touch()
        time.sleep(600)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "objlog", "run", "--pipelinerun", "pr", "--task", "t", "--", *child],
        env=local_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + TIMEOUT
    while not ready.exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    return proc


def _finish(proc: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bytes]:
    """Wait for `proc`, killing it after: a hung run's pipes would warn in a later test."""
    try:
        return proc.communicate(timeout=timeout)
    finally:
        proc.kill()
        proc.communicate()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_is_forwarded_and_child_status_kept(
    local_env: dict[str, str], tmp_path: Path, signum: signal.Signals
) -> None:
    """SIGTERM/SIGINT/SIGHUP reach a child that handles them; its goodbye and exit status stay."""
    setup = (
        "def bye(n, frame): print(f'got {n}', flush=True); sys.exit(7)\n"
        "        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP): signal.signal(s, bye)\n"
        "        print('waiting', flush=True)"
    )
    proc = _run_waiting_step(local_env, tmp_path / "ready", setup)
    proc.send_signal(signum)
    out, err = _finish(proc, TIMEOUT)
    assert 7 == proc.returncode, err.decode()
    assert f"waiting\ngot {int(signum)}\n".encode() == out
    assert out == objlog("cat", "pr", "t", env=local_env).stdout


_TGKILL = {"x86_64": 234, "aarch64": 131}.get(os.uname().machine)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or _TGKILL is None, reason="tgkill is Linux-only"
)
def test_a_signal_taken_by_another_thread_is_still_forwarded(
    local_env: dict[str, str], tmp_path: Path
) -> None:
    """SIGTERM delivered to a non-main thread of objlog run (a pump's) still reaches the step."""
    import ctypes

    setup = "signal.signal(signal.SIGTERM, lambda n, f: sys.exit(7))"
    proc = _run_waiting_step(local_env, tmp_path / "ready", setup)
    tids = [int(t.name) for t in Path(f"/proc/{proc.pid}/task").iterdir()]
    others = [tid for tid in tids if tid != proc.pid]
    assert others  # the pumps and the uploader
    libc = ctypes.CDLL(None, use_errno=True)
    assert 0 == libc.syscall(_TGKILL, proc.pid, others[0], int(signal.SIGTERM))
    _, err = _finish(proc, 30)
    assert 7 == proc.returncode, err.decode()


def test_child_logging_through_objlog_merges_into_the_same_task(local_env: dict[str, str]) -> None:
    """A child's own ObjectStoreHandler (names from the env objlog run sets) merges by time."""
    child = py(
        """
        import logging, os, time
        from objlog.stdlib import ObjectStoreHandler
        handler = ObjectStoreHandler(
            pipelinerun=os.environ["OBJLOG_PIPELINERUN"], task=os.environ["OBJLOG_TASK"]
        )
        log = logging.getLogger("step")
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        print("printed first", flush=True)
        time.sleep(0.05)
        log.warning("logged second", extra={"epoch": 2})
        time.sleep(0.05)
        print("printed third", flush=True)
        handler.close()
        """
    )
    run = objlog("run", "--pipelinerun", "pr", "--task", "t", "--", *child, env=local_env)
    assert 0 == run.returncode, run.stderr.decode()
    lines = objlog("cat", "pr", "t", env=local_env).stdout.decode().splitlines()
    assert 3 == len(lines)
    assert "printed first" == lines[0]
    assert "WARNING  step: logged second" in lines[1]
    assert "epoch=2" in lines[1]
    assert "printed third" == lines[2]
    warn = objlog("cat", "--level", "warning", "pr", "t", env=local_env).stdout.decode()
    assert 1 == len(warn.splitlines())


def test_progress_bar_only_on_a_terminal(local_env: dict[str, str], tmp_path: Path) -> None:
    """A 6 MiB put draws a tqdm bar when stderr is a terminal and prints nothing when piped."""
    import pty

    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(6 * 1024 * 1024))
    piped = objlog("result", "put", "pr", "t", "big", str(source), env=local_env)
    assert 0 == piped.returncode
    assert b"" == piped.stderr
    master, slave = pty.openpty()
    drawn = bytearray()

    def drain() -> None:
        # Read while the child runs: Linux drops unread pty output once the child side closes.
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                return
            if not chunk:
                return
            drawn.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "objlog", "result", "put", "pr", "t", "big2", str(source)],
            env=local_env,
            stdout=subprocess.PIPE,
            stderr=slave,
            timeout=TIMEOUT,
            check=False,
        )
    finally:
        os.close(slave)
    reader.join(TIMEOUT)
    os.close(master)
    assert 0 == proc.returncode
    assert b"big2" in drawn
    assert b"MB" in drawn or b"M/" in drawn or b"%" in drawn
