"""
objlog: ship structured logs and pipeline-step results to S3-compatible object storage.

The front doors:

* `ObjectStoreWriter`: an io-style writer batching records into objects under
  ``logs/<pipelinerun>/<task>/``; uploads happen off the caller's thread.
* `ObjectStoreHandler`: a `logging.Handler` over the writer (JSON Lines).
* ``objlog.structlog``: a processor and a logger factory for structlog.
* `ResultWriter`: task outputs as ``artifacts/<pipelinerun>/<task>/<name>.tgz``.
* `open_store`: a store from a URL (``s3://bucket/prefix``, ``file:///dir``) or
  the embedded default local directory store.

Importing objlog imports no S3 SDK (boto3, minio) and not structlog: backends
load on first use.
"""

from __future__ import annotations

from objlog import _package
from objlog.config import StoreConfig
from objlog.errors import (
    ConfigError,
    MissingBackendError,
    ObjectNotFoundError,
    ObjlogError,
    PermanentStoreError,
    StoreError,
    SyncTimeout,
    TransientStoreError,
    WriterClosedError,
)
from objlog.results import ResultWriter
from objlog.retry import RetryPolicy
from objlog.stdlib import JsonFormatter, ObjectStoreHandler
from objlog.stores import open_store
from objlog.stores.memory import MemoryStore
from objlog.typing import ObjectInfo, ObjectRef, ObjectStore
from objlog.writer import (
    ObjectStoreWriter,
    WriterStats,
    in_objlog_thread,
    install_signal_handlers,
)

#: The installed distribution's version (written once, in pyproject.toml).
__version__ = _package.installed_version()

__all__ = [
    "ConfigError",
    "JsonFormatter",
    "MemoryStore",
    "MissingBackendError",
    "ObjectInfo",
    "ObjectNotFoundError",
    "ObjectRef",
    "ObjectStore",
    "ObjectStoreHandler",
    "ObjectStoreWriter",
    "ObjlogError",
    "PermanentStoreError",
    "ResultWriter",
    "RetryPolicy",
    "StoreConfig",
    "StoreError",
    "SyncTimeout",
    "TransientStoreError",
    "WriterClosedError",
    "WriterStats",
    "in_objlog_thread",
    "install_signal_handlers",
    "open_store",
]
