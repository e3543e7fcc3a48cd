"""
An S3 store driven by boto3 (the default client).

botocore is configured for S3-compatible servers: against a custom endpoint,
request checksums are calculated and validated only "when_required" (boto3
>= 1.36 otherwise sends aws-chunked CRC trailers that Ceph RGW, MinIO and
others reject or mangle), addressing is path-style by default, SigV4 is used
(Ceph would get SigV2 otherwise), and botocore retries at most twice in
"standard" mode: objlog's own `RetryPolicy` does the real retrying.

Integrity does not rely on ETags: every PUT and every part carries
Content-MD5, and objlog's SHA-256 is kept in the ``objlog-sha256`` user
metadata when it is known before the upload starts.

All SDK exceptions are turned into objlog's error tree by `map_boto3_error`.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any, BinaryIO

from objlog.config import StoreConfig
from objlog.errors import (
    ConfigError,
    MissingBackendError,
    PermanentStoreError,
    StoreError,
    TransientStoreError,
)
from objlog.stores._common import (
    MappedStream,
    ObjectHeaders,
    S3StoreBase,
    UploadCalls,
    classify_s3_error,
    scrub,
)
from objlog.typing import ObjectInfo

__all__ = ["Boto3Store", "map_boto3_error"]

#: botocore's own attempts per request (1 retry); objlog retries on top.
_SDK_MAX_ATTEMPTS = 2


def map_boto3_error(
    exc: BaseException,
    *,
    verb: str,
    bucket: str,
    key: str | None,
    secrets: tuple[str | None, ...] = (),
) -> StoreError:
    """
    Turn a boto3/botocore/urllib3 exception into a `StoreError`.

    Args:
        exc: The SDK's exception.
        verb: What objlog was doing (``"put_object"``, ...), for the message.
        bucket: The bucket of the request.
        key: The key, or None for bucket-level requests.
        secrets: Values that must never appear in the message (scrubbed).

    Returns:
        `TransientStoreError` (throttling, 5xx, timeouts, refused or reset
        connections), `PermanentStoreError` (denied, bad credentials, no
        such bucket, invalid request) or `ObjectNotFoundError`; ``reason``
        names the cause (``EndpointUnreachable``, ``TLSError``, ``Timeout``,
        ``InvalidCredentials``, ``NoCredentials``, ``AccessDenied``,
        ``NoSuchBucket``, ``NoSuchKey``, ``SlowDown``, ``ServerError``, ...).
        The caller raises it ``from exc``.

    Thread safety: pure function.
    """
    from botocore import exceptions as bce

    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, bce.ClientError):
        error = exc.response.get("Error", {}) or {}
        meta = exc.response.get("ResponseMetadata", {}) or {}
        code = str(error.get("Code", "") or "")
        status = int(meta.get("HTTPStatusCode", 0) or 0)
        if code.isdigit() and not status:
            status = int(code)
        message = scrub(str(error.get("Message", "") or ""), secrets)
        return classify_s3_error(code, status, message, verb=verb, bucket=bucket, key=key)

    text = scrub(str(exc), secrets)
    kw: dict[str, Any] = {"bucket": bucket, "key": key}
    if isinstance(exc, bce.SSLError):
        return PermanentStoreError(
            f"{verb} failed: TLS error talking to the endpoint "
            "(certificate not trusted? set ca_bundle / AWS_CA_BUNDLE, or use http://)",
            reason="TLSError",
            **kw,
        )
    if isinstance(exc, (bce.ConnectTimeoutError, bce.ReadTimeoutError)):
        return TransientStoreError(f"{verb} failed: timed out ({text})", reason="Timeout", **kw)
    if isinstance(exc, (bce.EndpointConnectionError, bce.ProxyConnectionError)):
        return TransientStoreError(
            f"{verb} failed: endpoint unreachable ({text})", reason="EndpointUnreachable", **kw
        )
    resets = (
        bce.ConnectionClosedError,
        bce.ResponseStreamingError,
        bce.IncompleteReadError,
        bce.HTTPClientError,
        ConnectionError,
    )
    if isinstance(exc, resets):
        return TransientStoreError(
            f"{verb} failed: connection reset ({text})", reason="ConnectionReset", **kw
        )
    if isinstance(exc, (bce.NoCredentialsError, bce.PartialCredentialsError)):
        return PermanentStoreError(
            f"{verb} failed: no credentials found; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or a profile)",
            reason="NoCredentials",
            **kw,
        )
    if isinstance(exc, bce.CredentialRetrievalError):
        return TransientStoreError(
            f"{verb} failed: could not fetch credentials ({text})",
            reason="CredentialRetrieval",
            **kw,
        )
    if isinstance(exc, (bce.ParamValidationError, bce.ValidationError)):
        return PermanentStoreError(
            f"{verb} failed: invalid request ({text})", reason="InvalidRequest", **kw
        )
    try:
        from urllib3 import exceptions as u3
    except ImportError:  # pragma: no cover - urllib3 ships with botocore
        pass
    else:
        if isinstance(exc, (u3.ProtocolError, u3.ReadTimeoutError)):
            return TransientStoreError(
                f"{verb} failed: connection reset ({text})", reason="ConnectionReset", **kw
            )
    if isinstance(exc, OSError):
        return TransientStoreError(f"{verb} failed: {text}", reason="ConnectionReset", **kw)
    return PermanentStoreError(
        f"{verb} failed: {type(exc).__name__}: {text}", reason="SDKError", **kw
    )


class Boto3Store(S3StoreBase):
    """
    A bucket (plus prefix) on an S3-compatible server, through boto3.

    Args:
        config: An ``s3`` `StoreConfig` (`StoreConfig.resolve` builds one).
        list_page_size: Keys per ListObjectsV2 page (default 1000, S3's maximum).

    Raises:
        MissingBackendError: boto3 is not installed.
        ConfigError: The profile does not exist or botocore rejects a setting.

    Thread safety: one boto3 client is shared; every method may be called
    from any thread (boto3 clients are thread-safe).
    """

    def __init__(self, config: StoreConfig, *, list_page_size: int = 1000) -> None:
        try:
            import boto3
            import botocore.config
            from botocore import exceptions as bce
        except ImportError as exc:
            raise MissingBackendError(
                "the boto3 client needs boto3: pip install boto3 (or use client=minio)"
            ) from exc
        if config.kind != "s3":
            raise ConfigError("Boto3Store needs an s3:// store config")
        self._config = config
        self._page_size = list_page_size
        self._secrets = (config.secret_key, config.session_token)
        options: dict[str, Any] = {
            "region_name": config.region,
            "signature_version": "s3v4",
            "s3": {"addressing_style": config.addressing_style},
            "connect_timeout": config.connect_timeout,
            "read_timeout": config.read_timeout,
            "max_pool_connections": config.max_pool_connections,
            "retries": {"mode": "standard", "max_attempts": _SDK_MAX_ATTEMPTS},
            "user_agent_extra": "objlog",
        }
        if config.endpoint_url is not None:
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        try:
            session = boto3.session.Session(profile_name=config.profile)
            self._client: Any = session.client(
                "s3",
                endpoint_url=config.endpoint_url,
                aws_access_key_id=config.access_key,
                aws_secret_access_key=config.secret_key,
                aws_session_token=config.session_token,
                verify=config.ca_bundle if config.ca_bundle else config.verify_tls,
                config=botocore.config.Config(**options),
            )
        except bce.ProfileNotFound:
            raise ConfigError(
                f"AWS profile {config.profile!r} not found in the shared config files"
            ) from None
        except (bce.BotoCoreError, ValueError) as exc:
            raise ConfigError(
                f"boto3 rejected the store settings: {scrub(str(exc), self._secrets)}"
            ) from None
        self._calls = UploadCalls(
            put=self._put,
            create=self._create,
            upload_part=self._upload_part,
            complete=self._complete,
            abort=self._abort,
            map_error=self._map,
        )

    # -- the SDK seams ----------------------------------------------------------------
    def _map(self, exc: BaseException, verb: str, key: str | None) -> StoreError:
        return map_boto3_error(exc, verb=verb, bucket=self.bucket, key=key, secrets=self._secrets)

    @staticmethod
    def _content(headers: ObjectHeaders) -> dict[str, Any]:
        content: dict[str, Any] = {
            "ContentType": headers.content_type,
            "Metadata": dict(headers.metadata),
        }
        if headers.content_encoding:
            content["ContentEncoding"] = headers.content_encoding
        return content

    def _put(self, key: str, body: bytes, md5: str, headers: ObjectHeaders) -> str:
        response = self._client.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentMD5=md5, **self._content(headers)
        )
        return str(response.get("ETag") or "")

    def _create(self, key: str, headers: ObjectHeaders) -> str:
        created = self._client.create_multipart_upload(
            Bucket=self.bucket, Key=key, **self._content(headers)
        )
        return str(created["UploadId"])

    def _upload_part(self, key: str, upload_id: str, number: int, body: bytes, md5: str) -> str:
        response = self._client.upload_part(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ContentMD5=md5,
        )
        return str(response["ETag"])

    def _complete(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> str:
        done = self._client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n} for n, e in parts]},
        )
        return str(done.get("ETag") or "")

    def _abort(self, key: str, upload_id: str) -> None:
        self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def _open(self, key: str, byte_range: tuple[int, int] | None) -> BinaryIO:
        extra: dict[str, str] = {}
        if byte_range is not None:
            first, last = byte_range
            extra["Range"] = f"bytes={first}-{last}"
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key, **extra)
        except Exception as exc:
            raise self._map(exc, "get_object", key) from exc
        body = response["Body"]
        raw = MappedStream(body.read, body.close, lambda e: self._map(e, "get_object", key))
        return io.BufferedReader(raw, buffer_size=1024 * 1024)

    def _delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=key)

    def _bucket_exists(self) -> bool:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            if self._map(exc, "head_bucket", None).reason == "NoSuchBucket":
                return False
            raise
        return True

    def _create_bucket(self, location: str | None) -> None:
        params: dict[str, Any] = {"Bucket": self.bucket}
        if location is not None:
            params["CreateBucketConfiguration"] = {"LocationConstraint": location}
        self._client.create_bucket(**params)

    # -- reading --------------------------------------------------------------------
    def head_object(self, key: str) -> ObjectInfo:
        """
        Return size, time, ETag, content headers and user metadata of `key`.

        Raises:
            ObjectNotFoundError: No such key.
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, bad credentials, no such bucket.

        Thread safety: safe from any thread.
        """
        try:
            r = self._client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise self._map(exc, "head_object", key) from exc
        return ObjectInfo(
            key=key,
            size=int(r.get("ContentLength", 0)),
            last_modified=r["LastModified"],
            etag=str(r.get("ETag") or "").strip('"'),
            metadata={str(k).lower(): str(v) for k, v in (r.get("Metadata") or {}).items()},
            content_type=str(r.get("ContentType") or ""),
            content_encoding=str(r.get("ContentEncoding") or ""),
        )

    def _pages(self, verb: str, prefix: str, **params: Any) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            args = dict(Bucket=self.bucket, Prefix=prefix, MaxKeys=self._page_size, **params)
            if token:
                args["ContinuationToken"] = token
                args.pop("StartAfter", None)
            try:
                page = self._client.list_objects_v2(**args)
            except Exception as exc:
                raise self._map(exc, verb, prefix or None) from exc
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def list_objects(
        self, prefix: str = "", *, start_after: str | None = None
    ) -> Iterator[ObjectInfo]:
        """
        Yield every object whose key starts with `prefix`, in lexical key order.

        Paginates (ListObjectsV2) transparently. Listings carry key, size,
        time and ETag; metadata and content headers need `head_object`.

        Raises:
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, bad credentials, no such bucket.

        Thread safety: safe from any thread; each iterator belongs to one thread.
        """
        params: dict[str, Any] = {}
        if start_after is not None:
            params["StartAfter"] = start_after
        for page in self._pages("list_objects", prefix, **params):
            for item in page.get("Contents", ()) or ():
                yield ObjectInfo(
                    key=item["Key"],
                    size=int(item.get("Size", 0)),
                    last_modified=item["LastModified"],
                    etag=str(item.get("ETag") or "").strip('"'),
                )

    def list_prefixes(self, prefix: str = "", *, delimiter: str = "/") -> Iterator[str]:
        """
        Yield the common prefixes directly below `prefix` (S3 CommonPrefixes).

        Raises:
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, bad credentials, no such bucket.

        Thread safety: safe from any thread; each iterator belongs to one thread.
        """
        for page in self._pages("list_prefixes", prefix, Delimiter=delimiter):
            for item in page.get("CommonPrefixes", ()) or ():
                yield str(item["Prefix"])

    # -- closing --------------------------------------------------------------------
    def close(self) -> None:
        """
        Close the client's connection pool.

        Thread safety: call once, after other threads stopped using the store.
        """
        close = getattr(self._client, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()
