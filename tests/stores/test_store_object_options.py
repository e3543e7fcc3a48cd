"""
Object options (storage class, SSE, tags) on every object objlog writes, on real S3.

Each test writes a log batch, a result by one PUT and by a multipart upload,
and a status object through objlog, then reads the options back with a plain
boto3 client (HeadObject, GetObjectTagging), for the boto3 and minio stores.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from test_contract import MIB, build_s3_store, s3_config

from objlog import ObjectStoreWriter, ResultWriter, _layout
from objlog._status import StatusWriter, TaskStatus
from objlog.config import StoreConfig
from objlog.errors import PermanentStoreError
from objlog.stores._s3 import classify_s3_error
from objlog.stores.boto3 import object_option_args
from objlog.stores.minio import object_option_headers
from s3harness import S3Target

CLIENTS = ["boto3", "minio"]


def _written_keys(store: Any) -> dict[str, str]:
    """Write one object of each kind objlog writes; return {kind: key}."""
    writer = ObjectStoreWriter(store, pipelinerun="pr", task="t")
    writer.write('{"message": "hello", "level": "info"}')
    writer.close()
    results = ResultWriter(store)
    single = results.write("pr", "t", "small", b"x" * 100)
    multi = results.write("pr", "t", "big", os.urandom(6 * MIB))
    assert multi.parts == 2  # the multipart path really ran
    status_key = _layout.status_key(store.prefix, "pr", "t")
    statuses = StatusWriter(store, status_key)
    assert statuses.finish(TaskStatus(pipelinerun="pr", task="t", status="succeeded"))
    batch = next(iter(store.list_objects("logs/pr/t/"))).key
    return {"batch": batch, "single": single.key, "multipart": multi.key, "status": status_key}


@pytest.fixture(params=CLIENTS)
def client(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def kms_key(s3_target: S3Target) -> Iterator[str]:
    """A KMS key on moto (same server); skips elsewhere (Ceph has no KMS API)."""
    if s3_target.name != "moto":
        pytest.skip("KMS keys are created through moto's KMS API only")
    import boto3

    kms = boto3.client(
        "kms",
        endpoint_url=s3_target.endpoint,
        aws_access_key_id=s3_target.access_key,
        aws_secret_access_key=s3_target.secret_key,
        region_name=s3_target.region,
    )
    yield str(kms.create_key(Description="objlog test")["KeyMetadata"]["KeyId"])


#: What each server under test takes (measured): moto takes every option; the
#: Ceph RGW of ../shared/s3 (no placement classes, no KMS, plain http) takes
#: STANDARD and tags, and refuses STANDARD_IA (InvalidArgument) and SSE over
#: plain http (InvalidRequest), which `test_ceph_refusals_name_the_option` covers.
def _supported(target: S3Target) -> tuple[str, str | None]:
    return ("STANDARD_IA", "AES256") if target.name == "moto" else ("STANDARD", None)


def test_storage_class_sse_and_tags_on_every_object(
    s3_target: S3Target, s3_bucket: str, client: str
) -> None:
    """Storage class, SSE (where served) and two tags land on batches, results, status."""
    storage_class, sse = _supported(s3_target)
    config = s3_config(
        s3_target,
        s3_bucket,
        client,
        storage_class=storage_class,
        sse=sse,
        tags="team:ml,env:prod two",
    )
    store = build_s3_store(config)
    keys = _written_keys(store)
    s3 = s3_target.boto3_client()
    for kind, key in keys.items():
        head = s3.head_object(Bucket=s3_bucket, Key=key)
        # S3 leaves the StorageClass header out for STANDARD.
        assert (storage_class, sse) == (
            head.get("StorageClass", "STANDARD"),
            head.get("ServerSideEncryption"),
        ), kind
        tags = s3.get_object_tagging(Bucket=s3_bucket, Key=key).get("TagSet", [])
        assert {"team": "ml", "env": "prod two"} == {t["Key"]: t["Value"] for t in tags}, kind
    store.close()


@pytest.mark.parametrize(("option", "value"), [("storage_class", "STANDARD_IA"), ("sse", "AES256")])
def test_ceph_refusals_name_the_option(
    s3_target: S3Target, s3_bucket: str, client: str, option: str, value: str
) -> None:
    """Ceph RGW refuses what it lacks: one permanent error line naming the option."""
    if s3_target.name == "moto":
        pytest.skip("moto takes every option")
    store = build_s3_store(s3_config(s3_target, s3_bucket, client, **{option: value}))
    try:
        with pytest.raises(PermanentStoreError) as caught:
            store.put_object("refused", b"x")
    finally:
        store.close()
    assert (True, False) == (option in str(caught.value), "\n" in str(caught.value))


def test_sse_kms_with_a_key(s3_target: S3Target, s3_bucket: str, client: str, kms_key: str) -> None:
    """aws:kms with a key id lands on every object, the key id included."""
    config = s3_config(s3_target, s3_bucket, client, sse="aws:kms", sse_kms_key_id=kms_key)
    store = build_s3_store(config)
    keys = _written_keys(store)
    s3 = s3_target.boto3_client()
    for kind, key in keys.items():
        head = s3.head_object(Bucket=s3_bucket, Key=key)
        assert "aws:kms" == head.get("ServerSideEncryption"), kind
        assert kms_key in str(head.get("SSEKMSKeyId")), kind
    store.close()


def test_no_options_send_nothing(s3_target: S3Target, s3_bucket: str, client: str) -> None:
    """Without options objects get the bucket's defaults: no tags, no storage class header."""
    store = build_s3_store(s3_config(s3_target, s3_bucket, client))
    store.put_object("plain", b"x")
    s3 = s3_target.boto3_client()
    assert [] == s3.get_object_tagging(Bucket=s3_bucket, Key="plain")["TagSet"]
    assert s3.head_object(Bucket=s3_bucket, Key="plain").get("StorageClass") in {None, "STANDARD"}
    store.close()


def test_request_arguments_of_both_clients() -> None:
    """Both clients send the same four options; tags are URL-encoded as x-amz-tagging wants."""
    config = StoreConfig(
        kind="s3",
        bucket="bkt",
        storage_class="glacier_ir",
        sse="aws:kms",
        sse_kms_key_id="alias/logs",
        tags={"team": "ml", "path": "a/b c"},
    )
    assert {
        "StorageClass": "GLACIER_IR",
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "alias/logs",
        "Tagging": "team=ml&path=a%2Fb%20c",
    } == object_option_args(config)
    assert {
        "x-amz-storage-class": "GLACIER_IR",
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": "alias/logs",
        "x-amz-tagging": "team=ml&path=a%2Fb%20c",
    } == object_option_headers(config)
    assert {} == object_option_args(StoreConfig(kind="s3", bucket="bkt"))


@pytest.mark.parametrize(
    ("code", "option"),
    [
        ("InvalidStorageClass", "storage_class"),
        ("InvalidTag", "tags"),
        ("KMS.NotFoundException", "sse_kms_key_id"),
        ("InvalidEncryptionAlgorithmError", "sse"),
    ],
)
def test_refused_option_is_named(code: str, option: str) -> None:
    """A server's refusal of an option is one permanent error line that names the option."""
    error = classify_s3_error(code, 400, "nope", verb="put_object", bucket="b", key="k")
    assert isinstance(error, PermanentStoreError)
    assert option in str(error)
    assert "\n" not in str(error)


def test_vague_refusal_names_the_options_set() -> None:
    """A NotImplemented answer to a write with options is permanent and names the options sent."""
    from botocore.exceptions import ClientError

    from objlog.stores.boto3 import Boto3Store

    config = StoreConfig(
        kind="s3",
        bucket="bkt",
        endpoint_url="http://127.0.0.1:9",
        storage_class="STANDARD",
        sse="AES256",
    )
    store = Boto3Store(config)
    refusal = ClientError(
        {"Error": {"Code": "NotImplemented"}, "ResponseMetadata": {"HTTPStatusCode": 501}},
        "PutObject",
    )
    try:
        mapped = store._map(refusal, "put_object", "k")
        on_read = store._map(refusal, "get_object", "k")
    finally:
        store.close()
    assert isinstance(mapped, PermanentStoreError)
    assert "object option set: storage_class, sse" in str(mapped)
    assert "NotImplemented" == mapped.reason
    assert "option" not in str(on_read)
