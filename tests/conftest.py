"""
Shared fixtures: real S3 servers on loopback and a clean environment.

* ``s3_target`` (session, parametrised): every S3 endpoint the suite runs
  against. moto in server mode on 127.0.0.1 and a free port, started here,
  always; plus the endpoint in ``OBJLOG_TEST_S3_ENDPOINT`` (with the
  ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` of the environment) when
  set. ``OBJLOG_TEST_S3_ONLY=1`` drops moto (CI's Ceph RGW pass).
* ``s3_bucket``: a fresh, empty bucket on that target for one test.
* ``clean_env`` (autouse): removes ``AWS_*`` and ``OBJLOG_*`` variables so a
  developer's shell or CI never leaks into configuration tests.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from objlog import open_store
from objlog.typing import ObjectStore
from s3harness import MotoServer, S3Target

# Captured at import, before `clean_env` scrubs the environment of each test.
_ENV_ENDPOINT = os.environ.get("OBJLOG_TEST_S3_ENDPOINT", "")
_ENV_ACCESS = os.environ.get("AWS_ACCESS_KEY_ID", "")
_ENV_SECRET = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
_ENV_REGION = os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
_S3_ONLY = os.environ.get("OBJLOG_TEST_S3_ONLY", "") == "1"


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """Start moto in server mode once per session."""
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


def _target_names() -> list[str]:
    names = [] if _S3_ONLY else ["moto"]
    if _ENV_ENDPOINT:
        names.append("env")
    return names


@pytest.fixture(scope="session", params=_target_names())
def s3_target(request: pytest.FixtureRequest) -> S3Target:
    """Every real S3 endpoint of this run: moto always, the environment's when set."""
    if request.param == "moto":
        server: MotoServer = request.getfixturevalue("moto_server")
        return S3Target("moto", server.endpoint, "testing", "testing")
    return S3Target("env", _ENV_ENDPOINT, _ENV_ACCESS, _ENV_SECRET, _ENV_REGION)


@pytest.fixture
def s3_bucket(s3_target: S3Target) -> Iterator[str]:
    """Create a fresh bucket for one test and empty and delete it afterwards."""
    name = f"objlog-test-{uuid.uuid4().hex[:12]}"
    client = s3_target.boto3_client()
    client.create_bucket(Bucket=name)
    yield name
    # Clean-up must not mask the test's outcome.
    with contextlib.suppress(Exception):
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=name):
            for obj in page.get("Contents", []):
                client.delete_object(Bucket=name, Key=obj["Key"])
        client.delete_bucket(Bucket=name)


@pytest.fixture
def s3_store(s3_target: S3Target, s3_bucket: str) -> Iterator[ObjectStore]:
    """A boto3 store on a fresh bucket of the S3 server (a test file may define its own)."""
    store = open_store(
        f"s3://{s3_bucket}",
        client="boto3",
        endpoint_url=s3_target.endpoint,
        region=s3_target.region,
        access_key=s3_target.access_key,
        secret_key=s3_target.secret_key,
    )
    yield store
    store.close()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Remove AWS_* and OBJLOG_* variables; point HOME-based defaults at tmp_path."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "OBJLOG_")):
            monkeypatch.delenv(name)
    # No ~/.aws files of the developer's may feed the SDK credential chain.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # The embedded default store and spool live under OBJLOG_HOME: keep them per test.
    monkeypatch.setenv("OBJLOG_HOME", str(tmp_path / "objlog-home"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that talks to a real S3 server with ``s3`` (CI's Ceph pass selects them)."""
    for item in items:
        if "s3_target" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.s3)
