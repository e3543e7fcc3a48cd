"""ResultWriter against real S3 servers (moto always; Ceph RGW in CI): format, multipart, memory."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from result_helpers import first_payload, members

from objlog.results import ResultWriter
from objlog.stores import open_store
from objlog.typing import ObjectStore

if TYPE_CHECKING:
    from s3harness import S3Target  # tests/s3harness.py, for annotations only

MIB = 1024 * 1024


def _open(target: S3Target, bucket: str, **overrides: Any) -> ObjectStore:
    return open_store(
        f"s3://{bucket}",
        endpoint_url=target.endpoint,
        access_key=target.access_key,
        secret_key=target.secret_key,
        region=target.region,
        **overrides,
    )


@pytest.fixture(params=["boto3", "minio"])
def s3_store(
    request: pytest.FixtureRequest, s3_target: S3Target, s3_bucket: str
) -> Iterator[ObjectStore]:
    """A store of each client (boto3, minio) on a fresh bucket of the target server."""
    store = _open(s3_target, s3_bucket, client=request.param)
    yield store
    store.close()


def _get(target: S3Target, bucket: str, key: str) -> bytes:
    """Fetch an object with a plain boto3 client (an independent check)."""
    client = target.boto3_client()  # type: ignore[no-untyped-call]
    body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def test_bytes_result_is_a_tar_with_the_payload_first(
    s3_store: ObjectStore, s3_target: S3Target, s3_bucket: str
) -> None:
    """The stored object, fetched with boto3, is a tar.gz whose first member is the payload."""
    writer = ResultWriter(s3_store)
    ref = writer.write("pr-1", "train", "accuracy", "0.97")
    assert ("artifacts/pr-1/train/accuracy.tgz", s3_bucket) == (ref.key, ref.bucket)
    data = _get(s3_target, s3_bucket, ref.key)
    assert ("accuracy", b"0.97") == first_payload(data)
    assert hashlib.sha256(data).hexdigest() == ref.sha256
    assert b"0.97" == writer.read("pr-1", "train", "accuracy")


def test_tar_command_extracts_a_stored_directory(
    s3_store: ObjectStore, s3_target: S3Target, s3_bucket: str, tmp_path: Path
) -> None:
    """`tar -xzf` unpacks a directory result fetched from the server; extract() agrees."""
    root = tmp_path / "outputs"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "x.txt").write_text("x")
    (root / "y.txt").write_text("y")
    writer = ResultWriter(s3_store)
    ref = writer.write("pr-1", "train", "outputs", root)
    archive = tmp_path / "outputs.tgz"
    archive.write_bytes(_get(s3_target, s3_bucket, ref.key))
    by_tar = tmp_path / "by-tar"
    by_tar.mkdir()
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(by_tar)], check=True, timeout=60)
    assert "x" == (by_tar / "outputs" / "sub" / "x.txt").read_text()
    by_us = tmp_path / "by-us"
    paths = writer.extract("pr-1", "train", "outputs", by_us)
    assert [by_us / "outputs", by_us / "outputs/sub", by_us / "outputs/sub/x.txt"] == paths[:3]
    assert "y" == (by_us / "outputs" / "y.txt").read_text()


def test_same_input_gives_identical_objects(
    s3_store: ObjectStore, s3_target: S3Target, s3_bucket: str, tmp_path: Path
) -> None:
    """Writing the same file to two keys stores byte-identical objects."""
    source = tmp_path / "report.json"
    source.write_text(json.dumps({"loss": 0.1}))
    writer = ResultWriter(s3_store)
    first = writer.write("pr-1", "a", "report", source)
    os.utime(source, (1, 1))
    second = writer.write("pr-2", "a", "report", source)
    assert _get(s3_target, s3_bucket, first.key) == _get(s3_target, s3_bucket, second.key)


def test_legacy_plain_gzip_object_is_read(
    s3_store: ObjectStore, s3_target: S3Target, s3_bucket: str
) -> None:
    """A plain-gzip .tgz put by another tool (the Go original) reads back decompressed."""
    writer = ResultWriter(s3_store)
    key = writer.key("pr-1", "train", "old")
    client = s3_target.boto3_client()  # type: ignore[no-untyped-call]
    client.put_object(Bucket=s3_bucket, Key=key, Body=gzip.compress(b"legacy"))
    assert b"legacy" == writer.read("pr-1", "train", "old")


def test_large_result_uses_multipart_and_round_trips(
    s3_target: S3Target, s3_bucket: str, tmp_path: Path
) -> None:
    """A result above the multipart threshold is uploaded in parts and streams back intact."""
    store = _open(s3_target, s3_bucket, multipart_threshold_bytes=5 * MIB, part_size_bytes=5 * MIB)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(12 * MIB))
    writer = ResultWriter(store, compresslevel=0)
    ref = writer.write("pr-1", "train", "big", source)
    assert 3 == ref.parts
    data = _get(s3_target, s3_bucket, ref.key)
    assert hashlib.sha256(data).hexdigest() == ref.sha256
    assert ["big.bin"] == [m.name for m in members(data)]
    digest = hashlib.sha256()
    with writer.open("pr-1", "train", "big") as stream:
        while chunk := stream.read(MIB):
            digest.update(chunk)
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest.hexdigest()
    store.close()


_RSS_SCRIPT = textwrap.dedent(
    """
    import json, os, resource, sys
    from pathlib import Path
    from objlog.results import ResultWriter
    from objlog.stores import open_store

    store = open_store(
        "s3://" + sys.argv[1],
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=os.environ["AWS_REGION"],
        multipart_threshold_bytes=16 * 1024 * 1024,
        part_size_bytes=16 * 1024 * 1024,
    )
    def peak_kib():
        # VmHWM: ru_maxrss survives exec, so it may report the parent's (pytest's) peak.
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    writer = ResultWriter(store, compresslevel=int(sys.argv[3]))
    writer.write("warm", "up", "small", b"load every module, open the connection")
    before = peak_kib()
    ref = writer.write("pr-big", "train", "model", Path(sys.argv[2]))
    after = peak_kib()
    print(json.dumps({"before_kib": before, "after_kib": after, "size": ref.size,
                      "parts": ref.parts, "key": ref.key}))
    """
)


@pytest.mark.slow
@pytest.mark.process
def test_200_mib_result_streams_in_bounded_memory(
    s3_target: S3Target, s3_bucket: str, tmp_path: Path
) -> None:
    """A 200 MiB file uploads with peak RSS growth far below its size (measured in a subprocess)."""
    size = 200 * MIB
    source = tmp_path / "model.bin"
    expected = hashlib.sha256()
    with source.open("wb") as out:
        block = os.urandom(MIB)
        for i in range(size // MIB):
            chunk = i.to_bytes(8, "big") + block[8:]  # no two blocks alike
            expected.update(chunk)
            out.write(chunk)
    env = {**os.environ, **s3_target.env()}
    done = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, s3_bucket, str(source), "0"],
        env=env,
        capture_output=True,
        check=True,
        timeout=600,
    )
    figures = json.loads(done.stdout)
    growth_mib = (figures["after_kib"] - figures["before_kib"]) / 1024
    peak_mib = figures["after_kib"] / 1024
    print(f"200 MiB result: peak RSS {peak_mib:.0f} MiB, growth {growth_mib:.0f} MiB", figures)
    assert figures["parts"] > 1
    # The bound: part_concurrency (4) parts of 16 MiB, the head's second part,
    # the pipe and the compressors' members (~90 MiB measured), far below 200 MiB.
    assert growth_mib < 125, figures
    assert peak_mib < 200, figures
    # The object is complete: its payload hashes like the source.
    store = _open(s3_target, s3_bucket)
    digest = hashlib.sha256()
    with ResultWriter(store).open("pr-big", "train", "model") as stream:
        while chunk := stream.read(4 * MIB):
            digest.update(chunk)
    store.close()
    assert expected.hexdigest() == digest.hexdigest()


def test_payload_first_member_is_visible_to_a_stream_reader(
    s3_store: ObjectStore, s3_target: S3Target, s3_bucket: str
) -> None:
    """Reading only the first tar record of the gunzipped object yields the payload (KFP UI)."""
    writer = ResultWriter(s3_store)
    ref = writer.write("pr-1", "train", "metrics", b'{"metrics": []}')
    raw = gzip.decompress(_get(s3_target, s3_bucket, ref.key))
    assert b"ustar" == raw[257:262]
    header = tarfile.TarInfo.frombuf(raw[:512], "utf-8", "surrogateescape")
    assert ("metrics", b'{"metrics": []}') == (header.name, raw[512 : 512 + header.size])
