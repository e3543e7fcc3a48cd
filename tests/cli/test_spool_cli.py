"""``objlog spool ls|retry|drop``: list, re-queue and delete spooled and dead-lettered batches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from objlog import _spool
from objlog.cli import main
from objlog.config import StoreConfig
from objlog.errors import SyncTimeout
from objlog.stores.boto3 import Boto3Store
from objlog.writer import ObjectStoreWriter

_KEY = "logs/r/t/20260101T000000.000000Z-w1-{:08d}.jsonl"


def _store(target: Any, bucket: str) -> Boto3Store:
    return Boto3Store(
        StoreConfig(
            kind="s3",
            bucket=bucket,
            endpoint_url=target.endpoint,
            region=target.region,
            access_key=target.access_key,
            secret_key=target.secret_key,
        )
    )


def _dead_letter_one(target: Any, bucket: str, spool: Path, record: str = "lost?") -> str:
    """Write one record through a writer whose bucket is missing; return the batch's key."""
    # The target's real credentials: a wrong secret is a credentials error on a real
    # server (kept and retried, not dead-lettered), where moto accepts any.
    writer = ObjectStoreWriter(
        _store(target, bucket), pipelinerun="run-1", task="t", spool_dir=spool
    )
    writer.write(record)
    try:
        writer.close(timeout=30)
    except SyncTimeout:
        pytest.fail("a dead-lettered batch is spooled: close must not time out")
    (dead,) = [p for p in (spool / ".dead").iterdir() if _spool.is_batch_file(p.name)]
    return _spool.read_entry(dead).key


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # drop what writers reported before
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _put(spool: _spool.Spool, n: int) -> None:
    spool.put(_KEY.format(n), [b"x\n"], compression="none", compresslevel=0, records=1)


def test_ls_without_a_spool_says_how_to_name_one(capsys: pytest.CaptureFixture[str]) -> None:
    """No SPOOL_DIR, --store or OBJLOG_SPOOL_DIR: one clear error line, usage status."""
    status, out, err = _run(capsys, "spool", "ls")
    assert (2, "") == (status, out)
    assert err.startswith("objlog: error: which spool?") and "OBJLOG_SPOOL_DIR" in err


def test_ls_shows_pending_orphaned_and_dead_batches(
    s3_target: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line per batch: state, key, size, records, age, reason; --json has the same fields."""
    spool = tmp_path / "spool"
    key = _dead_letter_one(s3_target, "objlog-no-such-bucket", spool)
    live, gone = _spool.Spool(spool, "live"), _spool.Spool(spool, "gone")
    _put(live, 1)
    _put(gone, 2)
    gone.close()

    status, out, err = _run(capsys, "spool", "ls", str(spool))
    assert 0 == status and "" == err
    lines = out.splitlines()
    assert ["orphaned", "pending", "dead"] == [line.split()[0] for line in lines]
    assert _KEY.format(2) in lines[0] and _KEY.format(1) in lines[1]
    assert key in lines[2] and "6 B  1 records" in lines[2] and "NoSuchBucket" not in lines[2]
    assert "bucket does not exist" in lines[2]
    assert s3_target.secret_key not in out

    status, out, _ = _run(capsys, "spool", "ls", "--json", str(spool))
    rows = [json.loads(line) for line in out.splitlines()]
    assert {
        "spool",
        "path",
        "key",
        "state",
        "size_bytes",
        "records",
        "age_seconds",
        "reason",
    } == set(rows[2])
    assert (key, "dead", 6, 1) == (
        rows[2]["key"],
        rows[2]["state"],
        rows[2]["size_bytes"],
        rows[2]["records"],
    )
    live.close()


def test_retry_requeues_and_the_next_writer_stores_under_the_original_key(
    s3_target: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After the bucket exists, retry --all re-queues; the next writer uploads it under its key."""
    bucket = f"objlog-test-late-{tmp_path.name[-8:].lower().replace('_', '-')}"
    spool = tmp_path / "spool"
    key = _dead_letter_one(s3_target, bucket, spool, "late but whole")
    client = s3_target.boto3_client()
    client.create_bucket(Bucket=bucket)
    try:
        status, _, err = _run(capsys, "spool", "retry", str(spool), "--all")
        assert 0 == status and "1 batch(es) re-queued" in err
        assert [] == [p for p in (spool / ".dead").iterdir()]

        writer = ObjectStoreWriter(
            _store(s3_target, bucket), pipelinerun="run-1", task="t", spool_dir=spool
        )
        writer.close(timeout=30)
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        from objlog._codec import decode_batch

        assert b"late but whole\n" == decode_batch(body, key)
        assert 0 == writer.stats.dead_lettered
    finally:
        for o in client.list_objects_v2(Bucket=bucket).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=o["Key"])
        client.delete_bucket(Bucket=bucket)


def test_retry_with_a_store_uploads_now(
    s3_target: Any,
    s3_bucket: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """retry KEY --store URL uploads the batch at once and removes it and its reason."""
    spool = tmp_path / "spool"
    key = _dead_letter_one(s3_target, "objlog-no-such-bucket", spool, "now")
    for name, value in s3_target.env().items():
        monkeypatch.setenv(name, value)
    status, _, err = _run(capsys, "spool", "retry", str(spool), key, "--store", f"s3://{s3_bucket}")
    assert 0 == status, err
    assert "1 batch(es) stored, 0 failed" in err
    assert [] == list((spool / ".dead").iterdir())
    head = s3_target.boto3_client().head_object(Bucket=s3_bucket, Key=key)
    assert "1" == head["Metadata"]["objlog-records"]


def test_drop_needs_keys_and_deletes_only_those(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """drop refuses no keys and unknown keys (changing nothing); drop KEY deletes file + reason."""
    spool_dir = tmp_path / "spool"
    spool = _spool.Spool(spool_dir, "w1")
    for n in range(2):
        spool.put_dead(
            _KEY.format(n),
            [b"x\n"],
            compression="none",
            compresslevel=0,
            records=1,
            reason={"key": _KEY.format(n), "error": "PermanentStoreError", "message": "denied"},
        )
    spool.close()
    status, _, err = _run(capsys, "spool", "drop", str(spool_dir))
    assert 2 == status and "KEY... or --all" in err
    status, _, err = _run(capsys, "spool", "drop", str(spool_dir), "logs/nope")
    assert 2 == status and "no dead-lettered batch with key 'logs/nope'" in err
    assert 4 == len(list((spool_dir / ".dead").iterdir()))

    status, _, err = _run(capsys, "spool", "drop", str(spool_dir), _KEY.format(0))
    assert 0 == status and "1 dead-lettered batch(es) deleted" in err
    left = sorted(p.name for p in (spool_dir / ".dead").iterdir())
    assert [_KEY.format(1).rsplit("/", 1)[1] + s for s in (".spool", ".spool.json")] == left
    status, _, _ = _run(capsys, "spool", "drop", "--spool-dir", str(spool_dir), "--all")
    assert (0, []) == (status, list((spool_dir / ".dead").iterdir()))


def test_the_shared_root_lists_every_store_spool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With OBJLOG_SPOOL_DIR (one subdirectory per store) ls covers them all; --store picks one."""
    from objlog._settings import store_spool_dir

    root = tmp_path / "root"
    monkeypatch.setenv("OBJLOG_SPOOL_DIR", str(root))
    for n, url in enumerate(["s3://one", "s3://two/p"]):
        spool = _spool.Spool(store_spool_dir(root, url), "w")
        _put(spool, n)
        spool.close()
    status, out, _ = _run(capsys, "spool", "ls")
    assert 0 == status
    assert [_KEY.format(0), _KEY.format(1)] == sorted(line.split()[1] for line in out.splitlines())
    status, out, _ = _run(capsys, "spool", "ls", "--store", "s3://two/p")
    assert [_KEY.format(1)] == [line.split()[1] for line in out.splitlines()]
