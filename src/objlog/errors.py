"""
The objlog exception tree.

Every error objlog raises derives from `ObjlogError`::

    ObjlogError
    ├── ConfigError (ValueError)           bad URL, bucket name, option, credentials
    ├── MissingBackendError (ImportError)  an optional SDK is not installed
    ├── SpoolCorruptError (ValueError)     a spool file is truncated or fails its checksum
    ├── StoreError                         a request failed: .bucket, .key, .reason
    │   ├── TransientStoreError            throttling, SlowDown, 5xx, timeouts, resets: retried
    │   └── PermanentStoreError            denied, bad credentials, no such bucket, bad name
    │       └── ObjectNotFoundError        the key does not exist (404, NoSuchKey)
    ├── SyncTimeout (TimeoutError)         sync()/close() ran out of time: .pending_batches
    └── WriterClosedError (RuntimeError)   write() after close()

The SDK's exception, when there is one, is the ``__cause__`` of a StoreError.
Messages name the bucket and key and never contain a secret.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "MissingBackendError",
    "ObjectNotFoundError",
    "ObjlogError",
    "PermanentStoreError",
    "SpoolCorruptError",
    "StoreError",
    "SyncTimeout",
    "TransientStoreError",
    "WriterClosedError",
]


class ObjlogError(Exception):
    """
    Root of every error objlog raises.
    """


class ConfigError(ObjlogError, ValueError):
    """
    A configuration value is malformed, missing or out of range.

    Raised at construction time only; the message says what to fix.
    """


class MissingBackendError(ObjlogError, ImportError):
    """
    The SDK a store needs (boto3, minio) is not installed.
    """


class SpoolCorruptError(ObjlogError, ValueError):
    """
    A spool file is truncated, has a bad header or fails its CRC-32.

    Raised by the writer's local spool (``objlog._spool``) when it reads a
    batch file back; the writer moves such a file to ``<spool>/.corrupt/``.
    """


class StoreError(ObjlogError):
    """
    A request to the object store failed.

    Attributes:
        bucket: The bucket of the request ("" when none applies).
        key: The key of the request, or None for bucket-level requests.
        reason: A short machine-friendly cause, e.g. ``"AccessDenied"``,
            ``"EndpointUnreachable"``, ``"NoSuchBucket"``.

    The SDK's exception, when there is one, is kept as ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        bucket: str = "",
        key: str | None = None,
        reason: str = "",
    ) -> None:
        self.bucket = bucket
        self.key = key
        self.reason = reason
        where = f"s3://{bucket}/{key}" if key is not None else f"s3://{bucket}"
        if not bucket:
            where = key or ""
        super().__init__(f"{message} ({where})" if where else message)


class TransientStoreError(StoreError):
    """
    A failure that may succeed when retried.

    Throttling (SlowDown, 429), server errors (5xx), timeouts, refused or
    reset connections. The only store errors objlog retries.
    """


class PermanentStoreError(StoreError):
    """
    A failure that retrying cannot fix.

    Access denied, invalid or expired credentials, no such bucket, an
    invalid bucket name or key.
    """


class ObjectNotFoundError(PermanentStoreError):
    """
    The key does not exist in the bucket (S3 ``NoSuchKey`` / HTTP 404).
    """


class SyncTimeout(ObjlogError, TimeoutError):
    """
    `sync()` or `close()` did not finish within its deadline.

    Attributes:
        pending_batches: Batches neither stored nor spooled when time ran out.
    """

    def __init__(self, message: str, *, pending_batches: int = 0) -> None:
        self.pending_batches = pending_batches
        super().__init__(message)


class WriterClosedError(ObjlogError, RuntimeError):
    """
    The writer was used after `close()`.
    """
