"""Integrity on the wire: Content-MD5 on every PUT and part, seen through the SDKs' own hooks."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from typing import Any

import pytest

from objlog.config import StoreConfig
from objlog.stores.boto3 import Boto3Store
from objlog.stores.minio import MinioStore

MIB = 1024**2


def config(target: Any, bucket: str, client: str) -> StoreConfig:
    """A store config with 5 MiB parts on `target`."""
    return StoreConfig(
        kind="s3",
        bucket=bucket,
        client=client,  # type: ignore[arg-type]
        endpoint_url=target.endpoint,
        region=target.region,
        access_key=target.access_key,
        secret_key=target.secret_key,
        multipart_threshold_bytes=5 * MIB,
        part_size_bytes=5 * MIB,
    )


def md5_b64(data: bytes) -> str:
    """The Content-MD5 value S3 expects for `data`."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def boto3_puts(store: Boto3Store, action: Any) -> list[tuple[str, str]]:
    """Run `action` and return (url, Content-MD5) of every PUT boto3 sent."""
    seen: list[tuple[str, str]] = []

    def hook(request: Any, **_: Any) -> None:
        if request.method == "PUT":
            value = request.headers.get("Content-MD5", b"")
            seen.append((request.url, value.decode() if isinstance(value, bytes) else value))

    store._client.meta.events.register("before-send.s3", hook)
    try:
        action()
    finally:
        store._client.meta.events.unregister("before-send.s3", hook)
    return seen


def minio_puts(store: MinioStore, action: Any) -> list[tuple[str, str]]:
    """Run `action` with minio's HTTP trace on; return (path, Content-MD5) of every PUT."""
    trace = io.StringIO()
    store._client.trace_on(trace)
    try:
        action()
    finally:
        store._client.trace_off()
    seen = []
    for block in trace.getvalue().split("---------START-HTTP---------"):
        request_line = block.strip().splitlines()[0] if block.strip() else ""
        if request_line.startswith("PUT "):
            match = re.search(r"^content-md5:\s*(\S+)", block, re.IGNORECASE | re.MULTILINE)
            seen.append((request_line, match.group(1) if match else ""))
    return seen


@pytest.mark.parametrize("client", ["boto3", "minio"])
def test_content_md5_on_single_put_and_every_part(
    s3_target: Any, s3_bucket: str, client: str
) -> None:
    """A single PUT and each of three parts carry the Content-MD5 of their bytes."""
    small = b"small object\n"
    big = bytes(range(256)) * (11 * MIB // 256) + b"tail"
    store: Any = (Boto3Store if client == "boto3" else MinioStore)(
        config(s3_target, s3_bucket, client)
    )
    spy = boto3_puts if client == "boto3" else minio_puts

    def upload() -> None:
        store.put_object("one", small)
        store.put_stream("three", io.BytesIO(big))

    seen = spy(store, upload)
    parts = [big[i : i + 5 * MIB] for i in range(0, len(big), 5 * MIB)]
    sent = [md5 for _, md5 in seen]
    assert md5_b64(small) == sent[0]
    # Parts go up concurrently (part_concurrency), so in any order.
    assert sorted(md5_b64(p) for p in parts) == sorted(sent[1:])
    store.close()
