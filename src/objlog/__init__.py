"""
objlog: ship structured logs and pipeline-step results to S3-compatible object storage.

Imports no SDK (boto3, minio) or structlog eagerly.
"""

from __future__ import annotations

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
from objlog.stores.memory import MemoryStore
from objlog.typing import ObjectInfo, ObjectRef, ObjectStore

__version__ = "0.1.0.dev0"

__all__ = [
    "ConfigError",
    "MemoryStore",
    "MissingBackendError",
    "ObjectInfo",
    "ObjectNotFoundError",
    "ObjectRef",
    "ObjectStore",
    "ObjlogError",
    "PermanentStoreError",
    "StoreError",
    "SyncTimeout",
    "TransientStoreError",
    "WriterClosedError",
]
