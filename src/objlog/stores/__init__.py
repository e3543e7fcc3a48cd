"""
Object store backends behind the `objlog.typing.ObjectStore` seam.

`open_store` turns a store URL (or nothing: the embedded default) into a
store object; see `objlog.config` for the URL forms and the precedence of
arguments, ``OBJLOG_*`` and ``AWS_*`` variables.

Backends are registered by store scheme in ``_STORES``: each entry names the
module and the callable that builds a store from a `StoreConfig`, and the
module is imported only when such a store is opened, so ``import objlog``
loads no SDK. Another backend is one ``stores/<name>.py`` plus one entry.
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from objlog.config import StoreConfig
from objlog.errors import ConfigError

if TYPE_CHECKING:
    from objlog.typing import ObjectStore

__all__ = ["open_store", "store_from_config"]

#: Store scheme -> ``"module:callable"`` building the store from a `StoreConfig`.
#: The scheme is the config's kind, with the client for S3 (`_store_scheme`).
_STORES: Mapping[str, str] = MappingProxyType(
    {
        "file": "objlog.stores.local:LocalStore.from_config",
        "s3+boto3": "objlog.stores.boto3:Boto3Store",
        "s3+minio": "objlog.stores.minio:MinioStore",
    }
)


def _store_scheme(config: StoreConfig) -> str:
    """
    Return the `_STORES` key of `config`: ``"file"``, ``"s3+boto3"`` or ``"s3+minio"``.

    Thread safety: pure function.
    """
    return f"s3+{config.client}" if config.kind == "s3" else config.kind


def _factory(scheme: str) -> Callable[[StoreConfig], ObjectStore]:
    try:
        target = _STORES[scheme]
    except KeyError:
        raise ConfigError(
            f"no store backend for {scheme!r}; known: {', '.join(sorted(_STORES))}"
        ) from None
    module, _, name = target.partition(":")
    return cast(
        "Callable[[StoreConfig], ObjectStore]",
        operator.attrgetter(name)(importlib.import_module(module)),
    )


def store_from_config(config: StoreConfig) -> ObjectStore:
    """
    Build the store `config` describes, without creating its bucket.

    Args:
        config: A validated configuration.

    Returns:
        The store `_STORES` registers for the config's scheme: a `LocalStore`,
        `Boto3Store` or `MinioStore`.

    Raises:
        MissingBackendError: The selected SDK (boto3, minio) is not installed.
        ConfigError: The SDK rejects a setting, or no backend is registered
            for the config's scheme.

    Thread safety: safe from any thread.
    """
    return _factory(_store_scheme(config))(config)


def open_store(
    store: str | ObjectStore | StoreConfig | None = None, **overrides: object
) -> ObjectStore:
    """
    Open a store from a URL, a config, or the environment; pass a store through.

    Args:
        store: A store object (returned unchanged; `overrides` must then be
            empty), a `StoreConfig` (`overrides` applied on top), a store URL
            or directory path, or None (default): ``OBJLOG_STORE``, else the
            embedded local default (`objlog.config.default_store_dir`).
        **overrides: `StoreConfig` fields that win over the URL and the
            environment, e.g. ``client="minio"``, ``create_bucket=True``.

    Returns:
        An `ObjectStore`. When the config says ``create_bucket``, the bucket
        (or directory) has been created once here, never per write.

    Raises:
        ConfigError: A malformed URL, setting or variable (never with a secret).
        MissingBackendError: The selected SDK is not installed.
        PermanentStoreError: ``create_bucket`` failed for good (denied, bad
            credentials, invalid name).
        TransientStoreError: ``create_bucket`` failed for now (unreachable,
            throttled, 5xx).

    Thread safety: safe from any thread; the returned store is thread-safe.
    """
    if store is not None and not isinstance(store, (str, StoreConfig)):
        if overrides:
            raise ConfigError("settings cannot be applied to an already opened store object")
        return store
    if isinstance(store, StoreConfig):
        config = store.replace(**overrides) if overrides else store
    else:
        config = StoreConfig.resolve(store, **cast("dict[str, Any]", overrides))
    opened = store_from_config(config)
    if config.create_bucket or config.kind == "file":
        # A local directory is always created: it is the zero-setup default.
        try:
            opened.ensure_bucket()
        except BaseException:
            opened.close()
            raise
    return opened
