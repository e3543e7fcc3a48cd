"""
Prove that a store works: write, read back, list and delete a probe object.

`check_store` is what ``objlog check [URL]`` runs (the way Valohai checks a
new data store); `describe_failure` turns whatever went wrong into ONE line
naming the cause: endpoint unreachable, TLS, bad credentials, bucket
missing, permission denied, ...
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from objlog._layout import join_key
from objlog.errors import (
    ConfigError,
    MissingBackendError,
    ObjectNotFoundError,
    PermanentStoreError,
    StoreError,
)
from objlog.typing import ObjectStore

__all__ = ["PROBE_AREA", "CheckReport", "check_store", "describe_failure"]

#: Probe objects live under ``[PREFIX/]_objlog-check/<uuid>``.
PROBE_AREA = "_objlog-check"


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReport:
    """
    What `check_store` proved.

    Attributes:
        url: The store URL (no secret).
        key: The probe object's key (deleted again).
        size: Probe size in bytes.
        steps: The steps that passed, in order:
            ``("put", "get", "head", "list", "delete")``.
        elapsed: Wall time of the whole check, in seconds.
    """

    url: str
    key: str
    size: int
    steps: tuple[str, ...]
    elapsed: float

    def __str__(self) -> str:
        return (
            f"OK {self.url}: wrote, read back, listed and deleted {self.key} "
            f"({self.size} bytes) in {self.elapsed:.2f} s"
        )


def _fail(store: ObjectStore, key: str, message: str, reason: str) -> PermanentStoreError:
    return PermanentStoreError(message, bucket=store.bucket, key=key, reason=reason)


def check_store(
    store: ObjectStore, *, clock: Callable[[], float] = time.perf_counter
) -> CheckReport:
    """
    Write, read back (comparing bytes), HEAD, list and delete a small probe object.

    The probe key is ``[PREFIX/]_objlog-check/<uuid4>``; it is deleted again,
    also when a later step fails (best effort).

    Args:
        store: The store to check.
        clock: Seconds, for `CheckReport.elapsed` (default `time.perf_counter`).

    Returns:
        A `CheckReport` on success.

    Raises:
        TransientStoreError: Unreachable endpoint, timeout, throttling, 5xx.
        PermanentStoreError: Bad credentials, missing bucket, permission
            denied, TLS failure; reason ``ProbeMismatch`` when the bytes,
            listing or deletion do not behave as stored.
        ObjectNotFoundError: The probe vanished before it was read back.

    Thread safety: safe from any thread (the probe key is unique).
    """
    start = clock()
    token = uuid.uuid4().hex
    key = join_key(store.prefix, PROBE_AREA, token)
    body = f"objlog check probe {token}\n".encode() + hashlib.sha256(token.encode()).digest()
    steps: list[str] = []
    store.put_object(
        key, body, content_type="application/octet-stream", metadata={"objlog-probe": "1"}
    )
    steps.append("put")
    try:
        got = store.get_object(key)
        if got != body:
            raise _fail(
                store,
                key,
                f"read back {len(got)} bytes that differ from the {len(body)} written",
                "ProbeMismatch",
            )
        steps.append("get")
        info = store.head_object(key)
        if info.size != len(body):
            raise _fail(
                store, key, f"HEAD reports {info.size} bytes, wrote {len(body)}", "ProbeMismatch"
            )
        steps.append("head")
        listed = [o.key for o in store.list_objects(key)]
        if key not in listed:
            raise _fail(store, key, "the probe object is missing from the listing", "ProbeMismatch")
        steps.append("list")
    except BaseException:
        # Best effort: the first failure is the one to report.
        with contextlib.suppress(Exception):
            store.delete_object(key)
        raise
    store.delete_object(key)
    try:
        store.head_object(key)
    except ObjectNotFoundError:
        steps.append("delete")
    else:
        raise _fail(store, key, "the probe object is still there after delete", "ProbeMismatch")
    return CheckReport(
        url=store.url, key=key, size=len(body), steps=tuple(steps), elapsed=clock() - start
    )


_HEADLINES = {
    "EndpointUnreachable": "endpoint unreachable: cannot connect to the S3 endpoint "
    "(check the endpoint URL and that the server is running)",
    "Timeout": "endpoint timed out: the S3 endpoint did not answer in time",
    "ConnectionReset": "connection reset by the S3 endpoint",
    "TLSError": "TLS failed: the endpoint's certificate is not trusted or the handshake "
    "failed (set ca_bundle / AWS_CA_BUNDLE, or use http:// for a plain-HTTP server)",
    "InvalidCredentials": "bad credentials: the server rejected the access key or secret "
    "key (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)",
    "ExpiredToken": "bad credentials: the session token has expired",
    "NoCredentials": "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
    "(or AWS_PROFILE)",
    "NoSuchBucket": "bucket missing: the bucket does not exist (create it, or open the "
    "store with create_bucket / OBJLOG_CREATE_BUCKET=1)",
    "AccessDenied": "permission denied: the credentials may not write, read, list or delete here",
    "InvalidBucketName": "invalid bucket name: the server rejects it",
    "SlowDown": "throttled: the server asked to slow down; try again later",
    "ServerError": "server error: the S3 endpoint failed (5xx); try again later",
    "ProbeMismatch": "store misbehaves",
    "KeyConflict": "key conflict in the local store",
    "InvalidKey": "invalid key",
}


def describe_failure(exc: BaseException, store: ObjectStore | None = None) -> str:
    """
    Return ONE line naming why a store check (or any store request) failed.

    Args:
        exc: The exception `check_store` or `open_store` raised.
        store: The store, when it was opened; its URL and endpoint are named.

    Returns:
        A single line without a secret, e.g. ``"bucket missing: ... (s3://b)"``.

    Thread safety: pure function.
    """
    where = ""
    if store is not None:
        config = getattr(store, "config", None)
        endpoint = getattr(config, "endpoint_url", None)
        where = f" [{store.url}" + (f" at {endpoint}" if endpoint else "") + "]"
    if isinstance(exc, StoreError):
        headline = _HEADLINES.get(exc.reason)
        detail = str(exc)
        line = f"{headline}: {detail}" if headline else f"store request failed: {detail}"
    elif isinstance(exc, ConfigError):
        line = f"bad configuration: {exc}"
    elif isinstance(exc, MissingBackendError):
        line = f"missing SDK: {exc}"
    else:
        line = f"unexpected {type(exc).__name__}: {exc}"
    return " ".join((line + where).split())
