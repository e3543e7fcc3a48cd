"""compression="zstd" end to end: the writer on a real S3 server (moto), read back three ways."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from objlog import reader
from objlog._settings import resolve_writer_settings
from objlog.errors import ConfigError, MissingBackendError
from objlog.typing import ObjectStore
from objlog.writer import ObjectStoreWriter
from s3harness import S3Target

zstandard = pytest.importorskip("zstandard")


def test_zstd_batches_on_s3_read_back(
    s3_store: ObjectStore, s3_target: S3Target, s3_bucket: str
) -> None:
    """.jsonl.zst objects, application/zstd, no Content-Encoding; reader and zstd -d agree."""
    records = [{"message": f"line {n}", "n": n} for n in range(3000)]
    writer = ObjectStoreWriter(
        s3_store, pipelinerun="run-z", task="t", compression="zstd", max_size_bytes=32 * 1024
    )
    for record in records:
        writer.write(json.dumps(record))
    writer.close(timeout=60)

    client = s3_target.boto3_client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    logs = sorted(k for k in keys if "/logs/" in k or k.startswith("logs/"))
    assert len(logs) > 1  # several batches at 32 KiB each
    assert all(k.endswith(".jsonl.zst") for k in logs)
    lines: list[bytes] = []
    for key in logs:
        head = client.head_object(Bucket=s3_bucket, Key=key)
        assert "application/zstd" == head["ContentType"]
        assert "ContentEncoding" not in head
        body = client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
        assert body.startswith(b"\x28\xb5\x2f\xfd")
        if shutil.which("zstd"):
            run = subprocess.run(["zstd", "-dc"], input=body, capture_output=True, check=True)
            lines += run.stdout.splitlines()
        else:
            lines += zstandard.ZstdDecompressor().decompress(body).splitlines()
    assert records == [json.loads(line) for line in lines]
    got = list(reader.read_records(s3_store, "run-z", "t"))
    assert records == [{"message": r["message"], "n": r["n"]} for r in got]


def test_environment_selects_zstd_and_its_level() -> None:
    """OBJLOG_COMPRESSION=zstd with OBJLOG_COMPRESSLEVEL in 1..19; default level 1."""
    settings = resolve_writer_settings(environ={"OBJLOG_COMPRESSION": "ZSTD"})
    assert ("zstd", 1, ".jsonl.zst") == (
        settings.codec.name,
        settings.compresslevel,
        settings.codec.suffix,
    )
    settings = resolve_writer_settings(
        environ={"OBJLOG_COMPRESSION": "zstd", "OBJLOG_COMPRESSLEVEL": "19"}
    )
    assert ("zstd", 19) == (settings.codec.name, settings.codec.level)  # type: ignore[union-attr]


@pytest.mark.parametrize("level", ["0", "20"])
def test_zstd_level_out_of_range_names_the_range_and_variable(level: str) -> None:
    """A zstd level outside 1..19 is a ConfigError naming the range and the variable."""
    with pytest.raises(ConfigError, match=r"1\.\.19.*OBJLOG_COMPRESSLEVEL"):
        resolve_writer_settings(
            environ={"OBJLOG_COMPRESSION": "zstd", "OBJLOG_COMPRESSLEVEL": level}
        )


def test_writer_refuses_zstd_without_zstandard_when_built(
    s3_store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No zstandard: the writer's constructor raises MissingBackendError naming the extra."""
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(MissingBackendError, match=r"pip install 'objlog-s3\[zstd\]'"):
        ObjectStoreWriter(s3_store, pipelinerun="run-z", task="t", compression="zstd")
    assert [] == list(s3_store.list_objects(""))  # nothing was written
