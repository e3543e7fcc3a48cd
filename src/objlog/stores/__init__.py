"""
Object store backends behind the `objlog.typing.ObjectStore` seam.

`open_store` turns a store URL (or nothing: the embedded default) into a
store object; see `objlog.config` for the URL forms and the precedence of
arguments, ``OBJLOG_*`` and ``AWS_*`` variables. The SDK backends
(``objlog.stores.boto3``, ``objlog.stores.minio``) are imported only when a
store needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from objlog.config import StoreConfig
from objlog.errors import ConfigError

if TYPE_CHECKING:
    from objlog.typing import ObjectStore

__all__ = ["open_store", "store_from_config"]


def store_from_config(config: StoreConfig) -> ObjectStore:
    """
    Build the store `config` describes, without creating its bucket.

    Args:
        config: A validated configuration.

    Returns:
        A `LocalStore`, `Boto3Store` or `MinioStore`.

    Raises:
        MissingBackendError: The selected SDK (boto3, minio) is not installed.
        ConfigError: The SDK rejects a setting.

    Thread safety: safe from any thread.
    """
    if config.kind == "file":
        from objlog.stores.local import LocalStore

        return LocalStore(config.directory, prefix=config.prefix)
    if config.client == "minio":
        from objlog.stores.minio import MinioStore

        return MinioStore(config)
    from objlog.stores.boto3 import Boto3Store

    return Boto3Store(config)


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
