"""Opening stores through the scheme registry in objlog.stores."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from objlog.config import StoreConfig
from objlog.errors import ConfigError
from objlog.stores import _STORES, _factory, _store_scheme, store_from_config
from objlog.stores.boto3 import Boto3Store
from objlog.stores.local import LocalStore
from objlog.stores.minio import MinioStore

ENDPOINT = {"endpoint_url": "http://127.0.0.1:9", "access_key": "a", "secret_key": "s"}


@pytest.mark.parametrize(
    ("url", "scheme", "kind"),
    [
        ("file:///tmp/objlog-registry", "file", LocalStore),
        ("s3://bucket/prefix", "s3+boto3", Boto3Store),
        ("s3+boto3://bucket", "s3+boto3", Boto3Store),
        ("s3+minio://bucket/prefix", "s3+minio", MinioStore),
        ("s3://bucket?client=minio", "s3+minio", MinioStore),
    ],
)
def test_store_from_config_builds_the_registered_backend(url: str, scheme: str, kind: type) -> None:
    """Each URL form reaches its scheme's entry and builds that backend, prefix kept."""
    overrides = ENDPOINT if url.startswith("s3") else {}
    config = StoreConfig.resolve(url, environ={}, **overrides)
    store = store_from_config(config)
    try:
        assert (scheme, kind, config.prefix) == (_store_scheme(config), type(store), store.prefix)
    finally:
        store.close()


def test_every_entry_resolves_to_a_store_factory() -> None:
    """Every registry entry names an importable callable in objlog.stores."""
    for scheme in _STORES:
        factory = _factory(scheme)
        assert callable(factory)
        assert factory.__module__.startswith("objlog.stores."), scheme


def test_unknown_scheme_is_a_config_error() -> None:
    """A scheme without a registered backend is refused, naming the known ones."""
    with pytest.raises(ConfigError, match="s3\\+boto3"):
        _factory("gs")


def test_local_store_from_an_s3_config_is_refused() -> None:
    """LocalStore.from_config accepts only file configs."""
    with pytest.raises(ConfigError):
        LocalStore.from_config(StoreConfig.resolve("s3://bucket", environ={}, **ENDPOINT))


def test_opening_a_local_store_imports_no_sdk(tmp_path: Path) -> None:
    """The registry imports a backend's module only when a store of its scheme is opened."""
    code = (
        "import sys; from objlog.stores import open_store;"
        f"open_store({str(tmp_path)!r}).close();"
        "print(sorted(m for m in ('boto3','botocore','minio') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "[]" == out.strip()
