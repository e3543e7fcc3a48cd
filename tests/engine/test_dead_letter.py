"""Dead letters: a batch the store refuses for good is set aside, reported once, not waited for."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from objlog import _spool
from objlog._codec import decode_batch
from objlog._engine.pipeline import WRITER_WIDE
from objlog.config import StoreConfig
from objlog.errors import PermanentStoreError, SyncTimeout
from objlog.retry import RetryPolicy
from objlog.stores.boto3 import Boto3Store
from objlog.stores.memory import MemoryStore
from objlog.writer import ObjectStoreWriter

#: Seconds a close on a refused store may take (its sync_timeout is 30).
FAST = 5.0


def _s3_store(target: Any, bucket: str) -> Boto3Store:
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


def _deny_puts(target: Any, bucket: str, prefix: str) -> None:
    """A bucket policy that denies PutObject under `prefix` (moto enforces explicit denies)."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
            }
        ],
    }
    target.boto3_client().put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


@pytest.fixture
def writers() -> Iterator[list[ObjectStoreWriter]]:
    """Writers a test made, closed quickly after it."""
    made: list[ObjectStoreWriter] = []
    yield made
    for w in made:
        with contextlib.suppress(SyncTimeout):
            w.close(timeout=2)


def _dead_files(spool: Path) -> list[Path]:
    dead = spool / _spool.DEAD_DIR
    return (
        sorted(p for p in dead.iterdir() if _spool.is_batch_file(p.name)) if dead.is_dir() else []
    )


def _stored_keys(target: Any, bucket: str) -> list[str]:
    pages = target.boto3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def test_denied_prefix_is_dead_lettered_and_other_writers_go_on(
    s3_target: Any, s3_bucket: str, tmp_path: Path, writers: list[ObjectStoreWriter]
) -> None:
    """Batches under a denied prefix go to .dead/ with their reason; another writer stores all."""
    _deny_puts(s3_target, s3_bucket, "logs/run-1/denied/")
    store = _s3_store(s3_target, s3_bucket)
    errors: list[BaseException] = []
    spool = tmp_path / "spool"
    denied = ObjectStoreWriter(
        store, pipelinerun="run-1", task="denied", spool_dir=spool, on_error=errors.append
    )
    ok = ObjectStoreWriter(store, pipelinerun="run-1", task="ok", spool_dir=spool)
    writers += [denied, ok]

    for i in range(3):
        denied.write(f"secret plan {i}")
        ok.write(f"fine {i}")
        started = time.monotonic()
        denied.sync(timeout=30)
        ok.sync(timeout=30)
        assert time.monotonic() - started < FAST  # no cooldown behind a refused batch
    denied.close(timeout=30)
    ok.close(timeout=30)

    keys = _stored_keys(s3_target, s3_bucket)
    assert 3 == len([k for k in keys if k.startswith("logs/run-1/ok/")])
    assert [] == [k for k in keys if k.startswith("logs/run-1/denied/")]
    dead = _dead_files(spool)
    assert 3 == len(dead)
    reasons = [_spool.read_reason(p) for p in dead]
    assert {"PermanentStoreError"} == {r["error"] for r in reasons}
    assert {"AccessDenied"} == {r["reason"] for r in reasons}
    assert all(str(r["key"]).startswith("logs/run-1/denied/") for r in reasons)
    assert [b"secret plan 0\n"] == [_spool.Spool.read(dead[0])]
    assert 3 == len(errors) and all(isinstance(e, PermanentStoreError) for e in errors)
    assert (3, 3, 0) == (
        denied.stats.dead_lettered,
        denied.stats.dead_lettered_records,
        denied.stats.failures,
    )
    assert (0, 3) == (ok.stats.dead_lettered, ok.stats.objects)


def test_missing_bucket_close_ends_early_and_keeps_the_batch(
    s3_target: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a bucket that does not exist, close(30 s) returns at once; the batch is in .dead/."""
    spool = tmp_path / "spool"
    writer = ObjectStoreWriter(
        _s3_store(s3_target, "objlog-no-such-bucket"),
        pipelinerun="run-1",
        task="t",
        spool_dir=spool,
        sync_timeout=30,
    )
    writer.write("kept")
    started = time.monotonic()
    writer.close()
    elapsed = time.monotonic() - started

    assert elapsed < FAST, elapsed
    (dead,) = _dead_files(spool)
    assert "NoSuchBucket" == _spool.read_reason(dead)["reason"]
    assert b"kept\n" == _spool.Spool.read(dead)
    assert 1 == writer.stats.dead_lettered
    err = capsys.readouterr().err
    assert 1 == err.count("refused for good")
    assert "testing" not in err.replace("objlog-test", "")  # no credential in the line
    # The writer's own directory is gone: nothing is left to recover, nothing was deleted.
    assert [] == [p for p in spool.iterdir() if not p.name.startswith(".")]


def test_missing_bucket_without_spool_sync_returns_and_close_says_lost(
    s3_target: Any,
) -> None:
    """Without a spool, sync does not wait for a refused batch; close counts it lost at once."""
    writer = ObjectStoreWriter(
        _s3_store(s3_target, "objlog-no-such-bucket"),
        pipelinerun="run-1",
        task="t",
        sync_timeout=30,
    )
    writer.write("one")
    started = time.monotonic()
    writer.sync()
    assert time.monotonic() - started < FAST
    assert (1, 0) == (writer.stats.dead_lettered, writer.stats.queue_depth)
    with pytest.raises(SyncTimeout) as caught:
        writer.close()
    assert time.monotonic() - started < FAST
    assert 1 == caught.value.pending_batches
    assert "refused by the store for good" in str(caught.value)


def test_refused_recovered_batches_do_not_block_the_recovering_writer(
    s3_target: Any, s3_bucket: str, tmp_path: Path
) -> None:
    """A dead writer's refused batches are dead-lettered; the second writer stores its own."""
    _deny_puts(s3_target, s3_bucket, "logs/run-1/denied/")
    spool = tmp_path / "spool"
    dead_writer = _spool.Spool(spool, "deadw")
    keys = [f"logs/run-1/denied/20260101T000000.{i:06d}Z-deadw-{i:06d}.jsonl" for i in range(2)]
    for key in keys:
        dead_writer.put(key, [b"old\n"], compression="none", compresslevel=0, records=1)
    dead_writer.close()  # leaves its directory with an unlocked .lock: a dead writer's

    writer = ObjectStoreWriter(
        _s3_store(s3_target, s3_bucket),
        pipelinerun="run-1",
        task="ok",
        spool_dir=spool,
        sync_timeout=30,
    )
    writer.write("mine")
    started = time.monotonic()
    writer.close()
    assert time.monotonic() - started < FAST

    stored = _stored_keys(s3_target, s3_bucket)
    assert 1 == len(stored) and stored[0].startswith("logs/run-1/ok/")
    assert keys == sorted(str(_spool.read_reason(p)["key"]) for p in _dead_files(spool))
    assert 2 == writer.stats.dead_lettered


def test_transient_failures_are_retried_not_dead_lettered(
    make_writer: Callable[..., ObjectStoreWriter], store: MemoryStore, tmp_path: Path
) -> None:
    """A 503 keeps the batch in the queue (and stores it later): only permanent errors set aside."""
    store.fail_next(2)
    writer = make_writer(spool_dir=tmp_path / "spool", sleep=lambda s: None)
    writer.write("x")
    writer.sync()
    writer.close()
    assert (0, 1) == (writer.stats.dead_lettered, writer.stats.objects)
    assert not (tmp_path / "spool" / _spool.DEAD_DIR).exists()


def test_one_refused_batch_among_many_on_a_memory_store(
    make_writer: Callable[..., ObjectStoreWriter], store: MemoryStore, tmp_path: Path
) -> None:
    """Only the refused batch is set aside; the ones sealed after it are stored in order."""

    def refuse(key: str) -> PermanentStoreError:
        return PermanentStoreError("put_object: access denied", key=key, reason="AccessDenied")

    writer = make_writer(spool_dir=tmp_path / "spool")
    writer.write("warm-up")
    writer.sync()
    store.fail_next(1, refuse)
    for i in range(4):
        writer.write(f"r{i}")
        writer.sync()
    writer.close()

    lines = [
        decode_batch(store.get_object(k), k)
        for k in store.keys()  # noqa: SIM118 - a method, not dict.keys()
    ]
    assert [b"warm-up\n", b"r1\n", b"r2\n", b"r3\n"] == lines
    (dead,) = _dead_files(tmp_path / "spool")
    assert b"r0\n" == _spool.Spool.read(dead)
    assert (1, 1) == (writer.stats.dead_lettered, writer.stats.dead_lettered_records)


@pytest.mark.parametrize("reason", sorted(WRITER_WIDE))
def test_rejected_credentials_keep_the_batch_for_a_retry(
    make_writer: Callable[..., ObjectStoreWriter], store: MemoryStore, tmp_path: Path, reason: str
) -> None:
    """Credentials concern every batch: kept and tried again after the cooldown, not set aside."""

    def reject(key: str) -> PermanentStoreError:
        return PermanentStoreError("put_object: credentials rejected", key=key, reason=reason)

    writer = make_writer(
        spool_dir=tmp_path / "spool", retry=RetryPolicy(max_attempts=1, cooldown=0.05)
    )
    store.fail_next(2, reject)
    writer.write("kept")
    writer.close(timeout=30)
    assert (0, 1, 2) == (
        writer.stats.dead_lettered,
        writer.stats.objects,
        writer.stats.failures,
    )
    assert [b"kept\n"] == [decode_batch(store.get_object(k), k) for k in store.keys()]  # noqa: SIM118
    assert not (tmp_path / "spool" / _spool.DEAD_DIR).exists()
