"""
Process-level tests: real children, real S3 (moto, plus Ceph RGW in CI).

SIGTERM at random moments, a store outage and 503 SlowDown through a proxy,
SIGKILL with a spool then recovery, fork, and signal-handler chaining.
Figures (lost, duplicated, longest blocked write) are printed with ``-s``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from s3_proxy import S3Proxy

from objlog import _spool
from objlog._codec import decode_batch
from writer_helpers import spool_files

pytestmark = [pytest.mark.process, pytest.mark.slow]

CHILD = str(Path(__file__).with_name("writer_child.py"))
RUN, TASK = "proc-run", "proc-task"


def _env(s3_target: Any, bucket: str, endpoint: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OBJLOG_"))}
    env.update(s3_target.env())
    if endpoint is not None:
        env["AWS_ENDPOINT_URL"] = endpoint
    env["OBJLOG_STORE"] = f"s3://{bucket}"
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return env


def _spawn(mode: str, progress: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, CHILD, mode, str(progress), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_progress(path: Path) -> tuple[int, bool]:
    data = path.read_bytes() if path.exists() else b""
    if len(data) < 16:
        return -1, False
    last, ready = struct.unpack("<qq", data[:16])
    return last, bool(ready)


def _wait_ready(proc: subprocess.Popen[str], progress: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not _read_progress(progress)[1]:
        if proc.poll() is not None:
            raise AssertionError(f"child exited early: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("child never became ready")
        time.sleep(0.01)


def _stored(s3_target: Any, bucket: str) -> list[dict[str, Any]]:
    client = s3_target.boto3_client()
    records: list[dict[str, Any]] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"logs/{RUN}/{TASK}/"):
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            for line in decode_batch(body, obj["Key"]).splitlines():
                records.append(json.loads(line))
    return records


def _check_complete(seqs: list[int], last_reported: int) -> tuple[int, int]:
    """Return (lost, duplicated) for records 0..last_reported; extra later records are fine."""
    counts = Counter(seqs)
    lost = sum(1 for s in range(last_reported + 1) if counts[s] == 0)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    return lost, duplicated


def _empty_bucket(s3_target: Any, bucket: str) -> None:
    client = s3_target.boto3_client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])


def test_sigterm_at_random_moments_loses_nothing(
    s3_target: Any, s3_bucket: str, tmp_path: Path
) -> None:
    """A child logging flat out and SIGTERMed at random: every written record is stored."""
    rng = random.Random(20261121)
    env = _env(s3_target, s3_bucket)
    report = []
    for trial in range(10):
        progress = tmp_path / f"progress-{trial}"
        proc = _spawn("sigterm", progress, env)
        _wait_ready(proc, progress)
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=180)
        last, _ = _read_progress(progress)
        records = _stored(s3_target, s3_bucket)
        lost, duplicated = _check_complete([r["seq"] for r in records], last)
        report.append((trial, last + 1, lost, duplicated, proc.returncode))
        assert -signal.SIGTERM == proc.returncode, err
        assert (0, 0) == (lost, duplicated), err
        # Nothing beyond the records written: the one in flight at most.
        assert max(r["seq"] for r in records) <= last + 1
        _empty_bucket(s3_target, s3_bucket)
    print("\nSIGTERM trials (trial, records written, lost, duplicated, status):", report)


@pytest.mark.parametrize("spool", [False, True])
def test_outage_and_slowdown_lose_and_duplicate_nothing(
    s3_target: Any, s3_bucket: str, tmp_path: Path, spool: bool
) -> None:
    """Connection refused for 5 s, then 30% 503 SlowDown: nothing lost or duplicated."""
    proxy = S3Proxy(s3_target.endpoint, slowdown_share=0.3)
    try:
        env = _env(s3_target, s3_bucket, endpoint=proxy.endpoint)
        progress = tmp_path / "progress"
        args = [str(tmp_path / "spool")] if spool else []
        proc = _spawn("outage", progress, env, "16", *args)
        _wait_ready(proc, progress)
        time.sleep(2.0)
        proxy.refuse()
        time.sleep(5.0)
        proxy.slowdown()
        time.sleep(6.0)
        proxy.up()
        out, err = proc.communicate(timeout=300)
        assert 0 == proc.returncode, err
        result = json.loads(out.strip().splitlines()[-1])
        records = _stored(s3_target, s3_bucket)
        lost, duplicated = _check_complete([r["seq"] for r in records], result["last"])
        print(
            f"\noutage (spool={spool}, spooled={result['spooled']}):"
            f" records={result['last'] + 1} lost={lost} duplicated={duplicated}"
            f" longest write()={result['longest_write_s'] * 1000:.2f} ms"
            f" retries={result['retries']} failures={result['failures']}"
            f" objects={result['objects']} proxy={proxy.counts}"
        )
        assert (0, 0, 0) == (lost, duplicated, result["dropped"])
        assert result["last"] + 1 == len(records)
        assert proxy.counts["slowdown"] > 0
        assert result["retries"] > 0
    finally:
        proxy.close()


def test_sigkill_with_spool_then_recovery(s3_target: Any, s3_bucket: str, tmp_path: Path) -> None:
    """SIGKILL a writer whose store is down; a new writer on its spool uploads every batch."""
    spool = tmp_path / "spool"
    with __import__("socket").socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    progress = tmp_path / "progress"
    env = _env(s3_target, s3_bucket, endpoint=dead_endpoint)
    proc = _spawn("spool_kill", progress, env, str(spool))
    _wait_ready(proc, progress)
    time.sleep(random.uniform(0.0, 1.0))
    proc.kill()
    proc.communicate(timeout=60)
    synced, _ = _read_progress(progress)
    spooled_keys = set()
    for path in spool_files(spool):
        entry = _spool._entry(path)
        if entry.raw_bytes:  # a batch opened but never written to is not uploaded
            spooled_keys.add(entry.key)
    assert spooled_keys

    recover = _spawn("recover", tmp_path / "progress-2", _env(s3_target, s3_bucket), str(spool))
    _, err = recover.communicate(timeout=300)
    assert 0 == recover.returncode, err
    client = s3_target.boto3_client()
    keys = {
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket)
        for o in page.get("Contents", [])
    }
    records = _stored(s3_target, s3_bucket)
    lost, duplicated = _check_complete([r["seq"] for r in records], synced)
    print(
        f"\nSIGKILL+spool: synced through {synced}, spooled batches={len(spooled_keys)},"
        f" recovered objects={len(keys)}, lost={lost}, duplicated={duplicated}"
    )
    assert spooled_keys <= keys
    assert (0, 0) == (lost, duplicated)
    assert [] == spool_files(spool)


@pytest.mark.parametrize("store", ["down", "slow"])
def test_sigkill_loses_no_accepted_write_with_a_spool(
    s3_target: Any, s3_bucket: str, tmp_path: Path, store: str
) -> None:
    """
    SIGKILL a writer mid-stream, no sync: every record whose write() returned is recovered.

    "down": the store refuses connections; "slow": every PUT takes 5 s (the
    batch being filled and those sealed while a PUT is in flight are in the spool).
    """
    _empty_bucket(s3_target, s3_bucket)
    proxy = S3Proxy(s3_target.endpoint, slowdown_share=0.0)
    try:
        if store == "down":
            proxy.refuse()
        else:
            proxy.delay = 5.0
        spool = tmp_path / "spool"
        progress = tmp_path / "progress"
        proc = _spawn(
            "write_kill", progress, _env(s3_target, s3_bucket, proxy.endpoint), str(spool)
        )
        _wait_ready(proc, progress)
        time.sleep(random.uniform(0.5, 2.0))
        proc.kill()
        proc.communicate(timeout=60)
        written, _ = _read_progress(progress)
    finally:
        proxy.close()
    recover = _spawn("recover", tmp_path / "progress-2", _env(s3_target, s3_bucket), str(spool))
    _, err = recover.communicate(timeout=300)
    assert 0 == recover.returncode, err
    lost, duplicated = _check_complete([r["seq"] for r in _stored(s3_target, s3_bucket)], written)
    print(
        f"\nSIGKILL ({store} store): {written + 1} writes returned, lost={lost}, dup={duplicated}"
    )
    assert (0, 0) == (lost, duplicated)
    assert [] == spool_files(spool)


@pytest.mark.parametrize("spool", [False, True])
def test_forked_child_records_arrive_once(
    s3_target: Any, s3_bucket: str, tmp_path: Path, spool: bool
) -> None:
    """Parent and forked child both log; every record arrives exactly once, under two writer ids."""
    spool_dir = tmp_path / "spool"
    args = [str(spool_dir)] if spool else []
    proc = _spawn("fork", tmp_path / "progress", _env(s3_target, s3_bucket), *args)
    out, err = proc.communicate(timeout=300)
    assert 0 == proc.returncode, err
    info: dict[str, Any] = {}
    for line in out.splitlines():
        info.update(json.loads(line))
    assert 0 == info["child_status"]
    records = _stored(s3_target, s3_bucket)
    counts = Counter((r["who"], r["seq"]) for r in records)
    expected = (
        {("before", s) for s in range(301)}
        | {("after", s) for s in range(200)}
        | {("child", s) for s in range(200)}
    )
    assert expected == set(counts)
    assert {1} == set(counts.values())
    child_pids = {r["pid"] for r in records if r["who"] == "child"}
    assert 1 == len(child_pids) and child_pids != {r["pid"] for r in records if r["who"] == "after"}
    assert info["child_writer"] != info["parent_writer"]
    assert [] == spool_files(tmp_path / "spool", "**")


def test_forked_child_reopens_a_store_passed_in(
    s3_target: Any, s3_bucket: str, tmp_path: Path
) -> None:
    """A forked child builds its own store (no shared pool) from a passed-in store's config."""
    proc = _spawn("fork_store", tmp_path / "progress", _env(s3_target, s3_bucket))
    out, err = proc.communicate(timeout=300)
    assert 0 == proc.returncode, err
    info: dict[str, Any] = {}
    for line in out.splitlines():
        info.update(json.loads(line))
    assert (0, True) == (info["child_status"], info["child_store_reopened"])
    counts = Counter((r["who"], r["seq"]) for r in _stored(s3_target, s3_bucket))
    expected = (
        {("before", s) for s in range(300)}
        | {("after", s) for s in range(200)}
        | {("child", s) for s in range(200)}
    )
    assert expected == set(counts)
    assert {1} == set(counts.values())


def test_sigterm_while_a_logging_lock_is_held(
    s3_target: Any, s3_bucket: str, tmp_path: Path
) -> None:
    """SIGTERM inside a console handler's emit, with uploads that log: stored, then killed."""
    proc = _spawn("console_lock", tmp_path / "progress", _env(s3_target, s3_bucket))
    out, err = proc.communicate(timeout=300)
    assert -signal.SIGTERM == proc.returncode, err
    assert "" == out.strip()
    assert [0] == [r["seq"] for r in _stored(s3_target, s3_bucket)]


def test_multiprocessing_children_flush_at_exit(
    s3_target: Any, s3_bucket: str, tmp_path: Path
) -> None:
    """multiprocessing fork children that never close still deliver every record."""
    proc = _spawn("multiprocessing", tmp_path / "progress", _env(s3_target, s3_bucket))
    out, err = proc.communicate(timeout=300)
    assert 0 == proc.returncode, err
    assert {"exitcodes": [0, 0, 0]} == json.loads(out.strip().splitlines()[-1])
    counts = Counter((r["who"], r["seq"]) for r in _stored(s3_target, s3_bucket))
    expected = {("parent", 0)} | {(f"mp{n}", s) for n in range(3) for s in range(100)}
    assert expected == set(counts)
    assert {1} == set(counts.values())


@pytest.mark.parametrize(
    ("previous", "status", "output"),
    [
        ("default", -signal.SIGTERM, ""),
        ("python", 3, "previous handler ran"),
        ("sigint", 5, "KeyboardInterrupt"),
        ("ignore", 0, "still alive"),
    ],
)
def test_signal_handler_chains(
    s3_target: Any, s3_bucket: str, tmp_path: Path, previous: str, status: int, output: str
) -> None:
    """After syncing, the previous disposition applies: default kills, Python runs, IGN stays."""
    proc = _spawn("chain", tmp_path / "progress", _env(s3_target, s3_bucket), previous)
    out, err = proc.communicate(timeout=120)
    assert status == proc.returncode, err
    assert output == out.strip()
    assert [0] == [r["seq"] for r in _stored(s3_target, s3_bucket)]
