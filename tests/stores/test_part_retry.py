"""
Concurrent multipart on a real S3 server, boto3 and minio: parts retried alone, failures aborted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import threading
from typing import TYPE_CHECKING, Any

import pytest

from objlog.config import StoreConfig
from objlog.errors import PermanentStoreError, TransientStoreError
from objlog.stores.boto3 import Boto3Store
from objlog.stores.minio import MinioStore

if TYPE_CHECKING:
    from s3harness import S3Target

MIB = 1024**2


def _failing_store(
    target: S3Target, bucket: str, client: str, fail: dict[int, int], permanent: bool = False
) -> Any:
    """
    The real store for `client`, whose UploadPart of part n fails ``fail[n]`` times first.

    The failure is raised at the SDK seam (the store's ``_upload_part``), as a
    dropped connection would be: every other request goes to the server.
    """
    base = Boto3Store if client == "boto3" else MinioStore

    class Flaky(base):  # type: ignore[valid-type,misc]
        calls: dict[int, int]
        lock = threading.Lock()

        def _upload_part(self, key: str, upload_id: str, number: int, body: bytes, md5: str) -> str:
            with self.lock:
                self.calls[number] = self.calls.get(number, 0) + 1
                failing = self.calls[number] <= fail.get(number, 0)
            if failing:
                if permanent:
                    raise PermanentStoreError(
                        "denied", bucket=bucket, key=key, reason="AccessDenied"
                    )
                raise TransientStoreError("reset", bucket=bucket, key=key, reason="ConnectionReset")
            return str(super()._upload_part(key, upload_id, number, body, md5))

    store = Flaky(
        StoreConfig(
            kind="s3",
            bucket=bucket,
            client=client,  # type: ignore[arg-type]
            endpoint_url=target.endpoint,
            region=target.region,
            access_key=target.access_key,
            secret_key=target.secret_key,
            multipart_threshold_bytes=5 * MIB,
            part_size_bytes=5 * MIB,
            part_concurrency=3,
        )
    )
    store.calls = {}
    waits: list[float] = []
    store._uploader = dataclasses.replace(store._uploader, sleep=waits.append)
    store.waits = waits
    return store


@pytest.mark.parametrize("client", ["boto3", "minio"])
def test_transient_part_failures_retry_only_those_parts(
    s3_target: S3Target, s3_bucket: str, client: str
) -> None:
    """Parts 2 and 5 fail once, part 4 twice: only they are sent again; one upload, whole object."""
    body = os.urandom(6 * 5 * MIB + 123)
    store = _failing_store(s3_target, s3_bucket, client, {2: 1, 4: 2, 5: 1})
    try:
        ref = store.put_stream("flaky/object", io.BytesIO(body))
        assert (7, hashlib.sha256(body).hexdigest()) == (ref.parts, ref.sha256)
        assert {1: 1, 2: 2, 3: 1, 4: 3, 5: 2, 6: 1, 7: 1} == store.calls
        assert 4 == len(store.waits)  # one backoff per failed attempt
        assert (
            body
            == s3_target.boto3_client()
            .get_object(Bucket=s3_bucket, Key="flaky/object")["Body"]
            .read()
        )
    finally:
        store.close()


@pytest.mark.parametrize("client", ["boto3", "minio"])
def test_permanent_part_failure_aborts_the_upload(
    s3_target: S3Target, s3_bucket: str, client: str
) -> None:
    """A part refused for good fails the upload, which is aborted: no object, no upload left."""
    store = _failing_store(s3_target, s3_bucket, client, {3: 1}, permanent=True)
    try:
        with pytest.raises(PermanentStoreError) as info:
            store.put_stream("denied/object", io.BytesIO(os.urandom(8 * 5 * MIB)))
        assert "AccessDenied" == info.value.reason
        assert 1 == store.calls[3]  # never retried
    finally:
        store.close()
    raw = s3_target.boto3_client()
    assert [] == raw.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
    assert [] == raw.list_objects_v2(Bucket=s3_bucket).get("Contents", [])


def test_put_object_leaves_part_retries_to_its_caller(s3_target: S3Target, s3_bucket: str) -> None:
    """put_object (the writer engine's verb) fails at the first part failure: the engine retries."""
    store = _failing_store(s3_target, s3_bucket, "boto3", {2: 1})
    try:
        with pytest.raises(TransientStoreError):
            store.put_object("engine/batch", os.urandom(3 * 5 * MIB))
        assert 1 == store.calls[2]
        assert [] == store.waits
    finally:
        store.close()
    raw = s3_target.boto3_client()
    assert [] == raw.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
