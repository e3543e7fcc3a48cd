"""check_store and describe_failure: good stores and each failure cause, one line each."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from objlog.config import StoreConfig
from objlog.errors import ConfigError, PermanentStoreError, StoreError, TransientStoreError
from objlog.stores import open_store
from objlog.stores.check import PROBE_AREA, check_store, describe_failure
from objlog.stores.local import LocalStore
from objlog.stores.memory import MemoryStore
from objlog.typing import ObjectStore

CLIENTS = ["boto3", "minio"]
WRONG_SECRET = "objlog-wrong-secret-0123456789abcdefghij"


def closed_port() -> int:
    """Return a loopback port nobody listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def s3_store(target: Any, bucket: str, client: str, **extra: Any) -> ObjectStore:
    """Open an S3 store on `target` with its credentials unless overridden."""
    settings: dict[str, Any] = {
        "client": client,
        "endpoint_url": target.endpoint,
        "region": target.region,
        "access_key": target.access_key,
        "secret_key": target.secret_key,
        "connect_timeout": 5.0,
        "read_timeout": 30.0,
    }
    settings.update(extra)
    return open_store(f"s3://{bucket}/pre", **settings)


@pytest.mark.parametrize("kind", ["memory", "local"])
def test_good_local_stores(kind: str, tmp_path: Path) -> None:
    """A working store passes every step and the probe is gone afterwards."""
    store: ObjectStore = MemoryStore(prefix="p") if kind == "memory" else LocalStore(tmp_path)
    report = check_store(store)
    assert report.steps == ("put", "get", "head", "list", "delete")
    assert report.key.startswith(f"{store.prefix + '/' if store.prefix else ''}{PROBE_AREA}/")
    assert list(store.list_objects()) == []
    assert str(report).startswith("OK ")


@pytest.mark.parametrize("client", CLIENTS)
def test_good_s3_store(s3_target: Any, s3_bucket: str, client: str) -> None:
    """A working S3 store passes; the probe lives under the prefix and is deleted."""
    store = s3_store(s3_target, s3_bucket, client)
    report = check_store(store)
    assert report.steps == ("put", "get", "head", "list", "delete")
    assert report.key.startswith(f"pre/{PROBE_AREA}/")
    assert list(store.list_objects("pre/")) == []
    store.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_closed_port_is_endpoint_unreachable(client: str) -> None:
    """Nothing listening: a transient EndpointUnreachable and a one-line verdict."""
    store = open_store(
        "s3://some-bucket",
        client=client,
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        access_key="AKIDEXAMPLE",
        secret_key=WRONG_SECRET,
    )
    with pytest.raises(TransientStoreError) as info:
        check_store(store)
    assert info.value.reason == "EndpointUnreachable"
    line = describe_failure(info.value, store)
    assert line.startswith("endpoint unreachable")
    assert "\n" not in line
    assert WRONG_SECRET not in line


@pytest.mark.parametrize("client", CLIENTS)
def test_plain_http_server_spoken_to_in_tls(s3_target: Any, client: str) -> None:
    """https:// to a plain-HTTP server is a TLS failure, named as such."""
    if not s3_target.endpoint.startswith("http://"):
        pytest.skip("needs a plain-HTTP endpoint")
    endpoint = "https://" + s3_target.endpoint[len("http://") :]
    store = s3_store(s3_target, "some-bucket", client, endpoint_url=endpoint)
    with pytest.raises(StoreError) as info:
        check_store(store)
    assert info.value.reason == "TLSError"
    assert describe_failure(info.value).startswith("TLS failed")


@pytest.mark.parametrize("client", CLIENTS)
def test_missing_bucket(s3_target: Any, client: str) -> None:
    """A bucket that does not exist: PermanentStoreError NoSuchBucket, 'bucket missing'."""
    store = s3_store(s3_target, f"objlog-missing-{uuid.uuid4().hex[:8]}", client)
    with pytest.raises(PermanentStoreError) as info:
        check_store(store)
    assert info.value.reason == "NoSuchBucket"
    assert describe_failure(info.value, store).startswith("bucket missing")


@pytest.mark.parametrize("client", CLIENTS)
def test_wrong_secret(s3_target: Any, s3_bucket: str, client: str) -> None:
    """A wrong secret is 'bad credentials' and the secret is never printed."""
    if s3_target.name == "moto":
        pytest.skip("moto accepts any secret; checked against Ceph RGW in CI")
    store = s3_store(s3_target, s3_bucket, client, secret_key=WRONG_SECRET)
    with pytest.raises(PermanentStoreError) as info:
        check_store(store)
    assert info.value.reason == "InvalidCredentials"
    line = describe_failure(info.value, store)
    assert line.startswith("bad credentials")
    assert WRONG_SECRET not in line
    assert s3_target.secret_key not in line
    assert WRONG_SECRET not in repr(store)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_permission_denied_local(tmp_path: Path) -> None:
    """A read-only directory is 'permission denied'."""
    store = LocalStore(tmp_path / "ro")
    store.ensure_bucket()
    (tmp_path / "ro").chmod(0o500)
    try:
        with pytest.raises(PermanentStoreError) as info:
            check_store(store)
    finally:
        (tmp_path / "ro").chmod(0o700)
    assert info.value.reason == "AccessDenied"
    assert describe_failure(info.value).startswith("permission denied")


class CorruptingStore(MemoryStore):
    """A memory store that flips a byte on every read."""

    def get_object(self, key: str, *, byte_range: tuple[int, int] | None = None) -> bytes:
        data = super().get_object(key, byte_range=byte_range)
        return bytes([data[0] ^ 1]) + data[1:]


def test_corrupted_read_back_is_reported_and_probe_removed() -> None:
    """Bytes that do not read back as written fail with ProbeMismatch; the probe is deleted."""
    store = CorruptingStore()
    with pytest.raises(PermanentStoreError) as info:
        check_store(store)
    assert info.value.reason == "ProbeMismatch"
    assert store.keys() == []


def test_describe_config_error() -> None:
    """A configuration error is described in one line, without the secret."""
    with pytest.raises(ConfigError) as info:
        StoreConfig.resolve("s3://Bad_Bucket", access_key="AK", secret_key=WRONG_SECRET)
    line = describe_failure(info.value)
    assert line.startswith("bad configuration: bucket name")
    assert WRONG_SECRET not in line
