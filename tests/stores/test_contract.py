"""
The ObjectStore contract: one suite, run against every store.

`ContractSuite` holds the tests; each subclass supplies a ``store`` fixture:
memory and local directory (no server), boto3 and minio against every real
S3 target of the run (moto always, ``OBJLOG_TEST_S3_ENDPOINT`` when set, e.g.
Ceph RGW in CI). The S3 stores use 5 MiB parts so an 11 MiB object is a
three-part multipart upload.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import io
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import pytest

from objlog.config import StoreConfig
from objlog.errors import ObjectNotFoundError, PermanentStoreError
from objlog.stores import open_store
from objlog.stores.boto3 import Boto3Store
from objlog.stores.local import LocalStore
from objlog.stores.memory import MemoryStore
from objlog.stores.minio import MinioStore
from objlog.typing import BodyDigests, ObjectStore

MIB = 1024**2


def s3_config(target: Any, bucket: str, client: str, **extra: Any) -> StoreConfig:
    """Return a config for `bucket` on `target` with 5 MiB parts."""
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
        **extra,
    )


def build_s3_store(config: StoreConfig) -> ObjectStore:
    """Build a boto3 (small list pages, so pagination is exercised) or minio store."""
    if config.client == "boto3":
        return Boto3Store(config, list_page_size=3)
    return MinioStore(config)


def payload(size: int, seed: int = 0) -> bytes:
    """Return `size` deterministic, incompressible-looking bytes."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


class ChunkyStream(io.RawIOBase):
    """A stream of unknown length that returns short reads (like a pipe)."""

    def __init__(self, data: bytes, chunk: int = 700_001) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._chunk = chunk
        self.max_request = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        self.max_request = max(self.max_request, n)
        if n < 0:
            n = len(self._data)
        n = min(n, self._chunk)
        out = bytes(self._data[self._pos : self._pos + n])
        self._pos += len(out)
        return out


class ContractSuite:
    """Tests every ObjectStore must pass; subclasses provide `store` and `fresh_store`."""

    multipart_parts: ClassVar[int] = 1

    def test_put_then_get_round_trips(self, store: ObjectStore) -> None:
        """put_object stores the bytes; get_object returns them and the ref is right."""
        body = b"hello objlog\n" * 10
        ref = store.put_object("a/one.txt", body)
        assert body == store.get_object("a/one.txt")
        assert hashlib.sha256(body).hexdigest() == ref.sha256
        assert (len(body), "a/one.txt", store.bucket) == (ref.size, ref.key, ref.bucket)

    def test_put_with_digests_given(self, store: ObjectStore) -> None:
        """Digests given by the caller are the object's: same metadata as when the store hashes."""
        body = payload(70_000, seed=5)
        ref = store.put_object("dg/given", body, digests=BodyDigests.of(body))
        assert (hashlib.sha256(body).hexdigest(), len(body)) == (ref.sha256, ref.size)
        assert body == store.get_object("dg/given")
        assert ref.sha256 == store.head_object("dg/given").metadata["objlog-sha256"]

    def test_put_with_wrong_digests_is_refused(self, store: ObjectStore) -> None:
        """A body that does not match its Content-MD5 is refused (BadDigest) and not stored."""
        body = payload(70_000, seed=6)
        wrong = BodyDigests.of(body[:-1] + b"x")
        with pytest.raises(PermanentStoreError) as info:
            store.put_object("dg/wrong", body, digests=wrong)
        assert "BadDigest" == info.value.reason
        with pytest.raises(ObjectNotFoundError):
            store.head_object("dg/wrong")

    def test_put_replaces(self, store: ObjectStore) -> None:
        """A second put to the same key replaces the object."""
        store.put_object("k", b"first")
        store.put_object("k", b"second")
        assert store.get_object("k") == b"second"

    def test_empty_object(self, store: ObjectStore) -> None:
        """A zero-byte object can be stored and read back."""
        ref = store.put_object("empty", b"")
        assert (store.get_object("empty"), ref.size) == (b"", 0)

    def test_byte_range(self, store: ObjectStore) -> None:
        """get_object returns the inclusive byte range, truncated at the end."""
        store.put_object("r", b"0123456789")
        assert store.get_object("r", byte_range=(2, 4)) == b"234"
        assert store.get_object("r", byte_range=(8, 100)) == b"89"

    def test_byte_range_past_the_end(self, store: ObjectStore) -> None:
        """A range starting at or past the end is a permanent InvalidRange error (HTTP 416)."""
        store.put_object("r2", b"0123456789")
        with pytest.raises(PermanentStoreError) as info:
            store.get_object("r2", byte_range=(10, 20))
        assert "InvalidRange" == info.value.reason

    def test_open_object_streams(self, store: ObjectStore) -> None:
        """open_object returns a readable stream of the bytes."""
        body = payload(300_000)
        store.put_object("s", body)
        with store.open_object("s") as stream:
            assert body[:1000] == stream.read(1000)
            assert body[1000:] == stream.read()

    def test_head_returns_metadata_and_content_headers(self, store: ObjectStore) -> None:
        """head_object returns size, content type/encoding, metadata and objlog-sha256."""
        body = b"\x1f\x8b compressed-ish"
        store.put_object(
            "m/batch.jsonl.gz",
            body,
            content_type="application/x-ndjson",
            content_encoding="gzip",
            metadata={"Pipelinerun": "run-1", "task": "train"},
        )
        info = store.head_object("m/batch.jsonl.gz")
        expected_meta = {
            "pipelinerun": "run-1",
            "task": "train",
            "objlog-sha256": hashlib.sha256(body).hexdigest(),
        }
        assert expected_meta == dict(info.metadata)
        assert (info.content_type, info.content_encoding) == ("application/x-ndjson", "gzip")
        assert (len(body), "m/batch.jsonl.gz") == (info.size, info.key)
        assert body == store.get_object("m/batch.jsonl.gz")  # never decoded on the way back
        assert info.last_modified.tzinfo is not None
        now = _dt.datetime.now(_dt.timezone.utc)
        assert abs((now - info.last_modified).total_seconds()) < 24 * 3600

    def test_missing_key(self, store: ObjectStore) -> None:
        """get, open and head of a missing key raise ObjectNotFoundError with reason NoSuchKey."""
        for call in (
            lambda: store.get_object("nope/missing"),
            lambda: store.head_object("nope/missing"),
            lambda: store.open_object("nope/missing").read(),
        ):
            with pytest.raises(ObjectNotFoundError) as info:
                call()
            assert info.value.reason == "NoSuchKey"
            assert info.value.key == "nope/missing"

    def test_delete(self, store: ObjectStore) -> None:
        """delete_object removes the object; deleting a missing key is fine."""
        store.put_object("d/x", b"1")
        store.delete_object("d/x")
        store.delete_object("d/x")
        store.delete_object("d/never-existed")
        with pytest.raises(ObjectNotFoundError):
            store.get_object("d/x")
        assert [o.key for o in store.list_objects("d/")] == []

    def test_list_in_lexical_order_with_prefix(self, store: ObjectStore) -> None:
        """list_objects yields keys under the prefix in lexical (byte) order, across pages."""
        keys = ["p/b", "p/a", "p/c/1", "p-x", "p/a0", "p/B", "q/z", "p/c/0", "p/~", "p/ü"]
        for k in keys:
            store.put_object(k, k.encode())
        listed = list(store.list_objects("p/"))
        assert sorted(k for k in keys if k.startswith("p/")) == [o.key for o in listed]
        sizes = {o.key: o.size for o in listed}
        assert len(b"p/c/1") == sizes["p/c/1"]
        assert sorted(keys) == [o.key for o in store.list_objects()]

    def test_list_start_after(self, store: ObjectStore) -> None:
        """start_after yields only keys sorting after it (which need not exist)."""
        for k in ["s/1", "s/2", "s/3", "s/4", "s/5"]:
            store.put_object(k, b"")
        assert [o.key for o in store.list_objects("s/", start_after="s/2")] == ["s/3", "s/4", "s/5"]
        assert [o.key for o in store.list_objects("s/", start_after="s/25")] == [
            "s/3",
            "s/4",
            "s/5",
        ]
        assert [o.key for o in store.list_objects("s/", start_after="s/5")] == []

    def test_list_empty_prefix(self, store: ObjectStore) -> None:
        """Listing a prefix with no objects yields nothing."""
        assert list(store.list_objects("no-such-prefix/")) == []
        assert list(store.list_prefixes("no-such-prefix/")) == []

    def test_list_prefixes(self, store: ObjectStore) -> None:
        """list_prefixes yields the common prefixes right below the prefix, in order."""
        for k in [
            "logs/run-b/t1/0",
            "logs/run-a/t1/0",
            "logs/run-a/t2/0",
            "logs/run-c/0",
            "logs/top",
            "other/x",
        ]:
            store.put_object(k, b"x")
        assert list(store.list_prefixes("logs/")) == ["logs/run-a/", "logs/run-b/", "logs/run-c/"]
        assert list(store.list_prefixes("logs/run-a/")) == ["logs/run-a/t1/", "logs/run-a/t2/"]
        assert list(store.list_prefixes()) == ["logs/", "other/"]

    def test_list_prefixes_other_delimiter(self, store: ObjectStore) -> None:
        """A delimiter other than '/' groups keys by that character."""
        for k in ["x/a-1", "x/a-2", "x/b-1", "x/c"]:
            store.put_object(k, b"")
        assert list(store.list_prefixes("x/", delimiter="-")) == ["x/a-", "x/b-"]

    def test_put_stream_small_is_single_put(self, store: ObjectStore) -> None:
        """A short stream becomes one object with objlog-sha256 metadata."""
        body = payload(100_000, seed=1)
        ref = store.put_stream("st/small", ChunkyStream(body), content_type="text/plain")
        assert (1, len(body)) == (ref.parts, ref.size)
        assert body == store.get_object("st/small")
        info = store.head_object("st/small")
        assert hashlib.sha256(body).hexdigest() == info.metadata["objlog-sha256"]
        assert info.content_type == "text/plain"

    def test_put_stream_multipart(self, store: ObjectStore) -> None:
        """An 11 MiB stream above the threshold is stored whole, hashed while streaming."""
        body = payload(11 * MIB + 123, seed=2)
        stream = ChunkyStream(body)
        ref = store.put_stream(
            "st/big.bin", stream, content_encoding="gzip", metadata={"kind": "big"}
        )
        assert hashlib.sha256(body).hexdigest() == ref.sha256
        assert (self.multipart_parts, len(body)) == (ref.parts, ref.size)
        got = store.get_object("st/big.bin")
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(got).hexdigest()
        info = store.head_object("st/big.bin")
        assert (len(body), "gzip", "big") == (
            info.size,
            info.content_encoding,
            info.metadata["kind"],
        )
        # Bounded memory: never more than a part asked for at once.
        assert stream.max_request <= 5 * MIB or isinstance(store, MemoryStore)

    def test_put_object_above_threshold(self, store: ObjectStore) -> None:
        """put_object with bytes above the threshold stores them whole with objlog-sha256."""
        body = payload(6 * MIB, seed=3)
        ref = store.put_object("big-bytes", body)
        assert hashlib.sha256(body).hexdigest() == ref.sha256
        assert body == store.get_object("big-bytes")
        info = store.head_object("big-bytes")
        assert ref.sha256 == info.metadata["objlog-sha256"]

    def test_ensure_bucket_is_idempotent(self, fresh_store: ObjectStore) -> None:
        """ensure_bucket creates a missing bucket, and a second call is fine."""
        fresh_store.ensure_bucket()
        fresh_store.ensure_bucket()
        fresh_store.put_object("k", b"v")
        assert fresh_store.get_object("k") == b"v"

    def test_url_and_repr_hold_no_secret(self, store: ObjectStore) -> None:
        """url and repr name the location, never a secret."""
        for text in (store.url, repr(store)):
            assert "testing-secret" not in text
            assert os.environ.get("AWS_SECRET_ACCESS_KEY", "\x00") not in text


class TestLocalStores(ContractSuite):
    """The contract for the in-process stores: memory and local directory."""

    multipart_parts = 1

    @pytest.fixture(params=["memory", "local"])
    def store(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
        """A fresh memory or local-directory store."""
        if request.param == "memory":
            yield MemoryStore()
        else:
            yield open_store(str(tmp_path / "store"))

    @pytest.fixture(params=["memory", "local"])
    def fresh_store(self, request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
        """A store whose bucket (directory) does not exist yet."""
        if request.param == "memory":
            return MemoryStore(bucket="fresh")
        return LocalStore(tmp_path / "fresh" / "dir")


class TestS3Stores(ContractSuite):
    """The contract for boto3 and minio against every real S3 target."""

    multipart_parts = 3

    @pytest.fixture(params=["boto3", "minio"])
    def store(
        self, request: pytest.FixtureRequest, s3_target: Any, s3_bucket: str
    ) -> Iterator[ObjectStore]:
        """A boto3 or minio store on a fresh bucket."""
        opened = build_s3_store(s3_config(s3_target, s3_bucket, request.param))
        yield opened
        opened.close()

    @pytest.fixture(params=["boto3", "minio"])
    def fresh_store(self, request: pytest.FixtureRequest, s3_target: Any) -> Iterator[ObjectStore]:
        """A store on a bucket that does not exist yet (deleted afterwards)."""
        bucket = f"objlog-fresh-{uuid.uuid4().hex[:12]}"
        opened = build_s3_store(s3_config(s3_target, bucket, request.param))
        yield opened
        opened.close()
        client = s3_target.boto3_client()
        # Clean-up must not mask the test's outcome (the bucket may never have been made).
        with contextlib.suppress(Exception):
            for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []):
                client.delete_object(Bucket=bucket, Key=obj["Key"])
            client.delete_bucket(Bucket=bucket)

    def test_put_with_wrong_digests_is_refused(  # type: ignore[override]
        self, store: ObjectStore, s3_target: Any
    ) -> None:
        """The server checks the Content-MD5 sent from the given digests (S3 BadDigest)."""
        if s3_target.name == "moto":
            pytest.skip("moto does not check Content-MD5; checked against Ceph RGW in CI")
        super().test_put_with_wrong_digests_is_refused(store)

    def test_failed_stream_aborts_the_upload(
        self, store: ObjectStore, s3_target: Any, s3_bucket: str
    ) -> None:
        """A stream failing after the first part: its error propagates, the upload is aborted."""
        good = payload(6 * MIB, seed=4)

        class FailingStream(io.RawIOBase):
            def __init__(self) -> None:
                self.pos = 0

            def readable(self) -> bool:
                return True

            def read(self, n: int = -1) -> bytes:
                if self.pos >= len(good):
                    raise OSError("the producer died")
                out = good[self.pos : self.pos + n]
                self.pos += len(out)
                return out

        with pytest.raises(OSError, match="the producer died"):
            store.put_stream("abort/me", FailingStream())  # type: ignore[arg-type]
        client = s3_target.boto3_client()
        assert [] == client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
        with pytest.raises(ObjectNotFoundError):
            store.head_object("abort/me")

    @pytest.mark.parametrize(("extra", "parts"), [(0, 1), (1, 2)])
    def test_put_stream_threshold_boundary(
        self, store: ObjectStore, extra: int, parts: int
    ) -> None:
        """A stream of exactly the threshold is one PUT with sha metadata; a byte more, 2 parts."""
        body = payload(5 * MIB + extra, seed=5)
        stream = ChunkyStream(body)
        ref = store.put_stream("edge", stream)  # type: ignore[arg-type]
        assert (parts, len(body)) == (ref.parts, ref.size)
        assert (
            hashlib.sha256(body).hexdigest() == hashlib.sha256(store.get_object("edge")).hexdigest()
        )
        sha = store.head_object("edge").metadata.get("objlog-sha256")
        assert (ref.sha256 if parts == 1 else None) == sha
        assert stream.max_request <= 5 * MIB

    @pytest.mark.parametrize(
        ("threshold_mib", "size", "parts"),
        [
            (1, 1 * MIB, 1),
            (1, 1 * MIB + 1, 1),
            (1, 11 * MIB, 3),
            (12, 12 * MIB, 1),
            (12, 13 * MIB, 3),
        ],
    )
    @pytest.mark.parametrize("client", ["boto3", "minio"])
    def test_put_stream_threshold_apart_from_part_size(
        self, s3_target: Any, s3_bucket: str, client: str, threshold_mib: int, size: int, parts: int
    ) -> None:
        """With a threshold below or above the 5 MiB part size, objects split as S3 expects."""
        config = dataclasses.replace(
            s3_config(s3_target, s3_bucket, client), multipart_threshold_bytes=threshold_mib * MIB
        )
        store = build_s3_store(config)
        body = payload(size, seed=6)
        ref = store.put_stream("apart", ChunkyStream(body))  # type: ignore[arg-type]
        assert (parts, len(body)) == (ref.parts, ref.size)
        assert (
            hashlib.sha256(body).hexdigest()
            == hashlib.sha256(store.get_object("apart")).hexdigest()
        )
        store.close()

    @pytest.mark.parametrize("client", ["boto3", "minio"])
    def test_missing_bucket_is_permanent(self, s3_target: Any, client: str) -> None:
        """Requests to a bucket that does not exist raise PermanentStoreError NoSuchBucket."""
        store = build_s3_store(s3_config(s3_target, f"objlog-none-{uuid.uuid4().hex[:8]}", client))
        with pytest.raises(PermanentStoreError) as info:
            store.put_object("k", b"v")
        assert info.value.reason == "NoSuchBucket"
        with pytest.raises(PermanentStoreError) as info:
            list(store.list_objects())
        assert info.value.reason == "NoSuchBucket"

    @pytest.mark.parametrize("client", ["boto3", "minio"])
    def test_open_store_creates_bucket_once(self, s3_target: Any, client: str) -> None:
        """open_store(create_bucket=True) creates the bucket at open, from the environment."""
        bucket = f"objlog-open-{uuid.uuid4().hex[:12]}"
        env = {**s3_target.env(), "OBJLOG_CLIENT": client}
        store = open_store(
            StoreConfig.resolve(f"s3://{bucket}/pre", environ=env, create_bucket=True)
        )
        try:
            ref = store.put_object(store.prefix + "/k", b"v")
            assert ("pre", "pre/k", bucket) == (store.prefix, ref.key, store.bucket)
            assert client == store.config.client  # type: ignore[attr-defined]
        finally:
            store.delete_object("pre/k")
            store.close()
            s3_target.boto3_client().delete_bucket(Bucket=bucket)


@pytest.mark.slow
def test_list_paginates_past_1000_keys(s3_target: Any, s3_bucket: str) -> None:
    """Both clients list 1,005 keys (two ListObjectsV2 pages of 1,000) in order."""
    client = s3_target.boto3_client()
    keys = [f"many/{i:05d}" for i in range(1005)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=s3_bucket, Key=k, Body=b""), keys))
    for name in ("boto3", "minio"):
        config = s3_config(s3_target, s3_bucket, name)
        store: ObjectStore = Boto3Store(config) if name == "boto3" else MinioStore(config)
        assert keys == [o.key for o in store.list_objects("many/")]
        assert keys[1001:] == [o.key for o in store.list_objects("many/", start_after=keys[1000])]
        store.close()
