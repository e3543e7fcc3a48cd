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
import hashlib
import io
from collections.abc import Iterator, Mapping
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
    check_part_count,
    classify_s3_error,
    content_md5,
    iter_parts,
    read_exact,
    scrub,
    user_metadata,
)
from objlog.typing import ObjectInfo, ObjectRef

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


class Boto3Store:
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

    # -- properties -----------------------------------------------------------------
    @property
    def bucket(self) -> str:
        """The bucket name."""
        return self._config.bucket

    @property
    def prefix(self) -> str:
        """Key prefix from the store URL, no leading or trailing "/"."""
        return self._config.prefix

    @property
    def url(self) -> str:
        """``s3://BUCKET[/PREFIX]``; no secret."""
        return self._config.url

    @property
    def config(self) -> StoreConfig:
        """The configuration this store was built from (secrets redacted in its repr)."""
        return self._config

    def __repr__(self) -> str:
        endpoint = self._config.endpoint_url or "AWS"
        return f"Boto3Store(url={self.url!r}, endpoint={endpoint!r})"

    def _map(self, exc: BaseException, verb: str, key: str | None) -> StoreError:
        return map_boto3_error(exc, verb=verb, bucket=self.bucket, key=key, secrets=self._secrets)

    # -- writing --------------------------------------------------------------------
    def put_object(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        content_encoding: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectRef:
        """
        Store `body` under `key` with Content-MD5 and ``objlog-sha256`` metadata.

        Bodies larger than ``multipart_threshold_bytes`` go up as a multipart
        upload of ``part_size_bytes`` parts (aborted on failure).

        Args:
            key: The full key.
            body: The bytes.
            content_type: Content-Type (default application/octet-stream).
            content_encoding: Content-Encoding, e.g. ``"gzip"`` (default None).
            metadata: User metadata (``x-amz-meta-*``); keys lower-cased.

        Returns:
            An `ObjectRef` with size, SHA-256 and the returned ETag.

        Raises:
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, bad credentials, no such bucket, ...

        Thread safety: safe from any thread.
        """
        data = bytes(body)
        digest = hashlib.sha256(data).hexdigest()
        meta = user_metadata(metadata, digest)
        if len(data) > self._config.multipart_threshold_bytes:
            return self._multipart(
                key, data, io.BytesIO(b""), content_type, content_encoding, meta, known=digest
            )
        return self._single_put(key, data, content_type, content_encoding, meta, digest)

    def _headers(self, content_type: str, content_encoding: str | None) -> dict[str, str]:
        headers = {"ContentType": content_type}
        if content_encoding:
            headers["ContentEncoding"] = content_encoding
        return headers

    def _single_put(
        self,
        key: str,
        data: bytes,
        content_type: str,
        content_encoding: str | None,
        meta: dict[str, str],
        digest: str,
    ) -> ObjectRef:
        try:
            response = self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentMD5=content_md5(data),
                Metadata=meta,
                **self._headers(content_type, content_encoding),
            )
        except Exception as exc:
            raise self._map(exc, "put_object", key) from exc
        etag = str(response.get("ETag") or "").strip('"')
        return ObjectRef(bucket=self.bucket, key=key, size=len(data), sha256=digest, etag=etag)

    def put_stream(
        self,
        key: str,
        stream: BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        content_encoding: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectRef:
        """
        Store `stream` (read to EOF) under `key`, in bounded memory.

        Up to ``multipart_threshold_bytes`` + 1 bytes are read first: a
        shorter stream becomes one PUT (with ``objlog-sha256``); a longer one
        a multipart upload read one part at a time (memory: at most
        max(threshold, part size) bytes), aborted on any failure. For a
        multipart stream the SHA-256 is known only afterwards, so it is in the
        returned ref but not in the object's metadata.

        Args and Raises: as `put_object`.

        Returns:
            An `ObjectRef` (``parts`` is the number of parts).

        Thread safety: safe from any thread; the stream is read by the caller's thread.
        """
        first = read_exact(stream, self._config.multipart_threshold_bytes + 1)
        if len(first) <= self._config.multipart_threshold_bytes:
            digest = hashlib.sha256(first).hexdigest()
            meta = user_metadata(metadata, digest)
            return self._single_put(key, first, content_type, content_encoding, meta, digest)
        meta = user_metadata(metadata, None)
        return self._multipart(key, first, stream, content_type, content_encoding, meta, known=None)

    def _multipart(
        self,
        key: str,
        first: bytes,
        stream: BinaryIO,
        content_type: str,
        content_encoding: str | None,
        meta: dict[str, str],
        *,
        known: str | None,
    ) -> ObjectRef:
        try:
            created = self._client.create_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                Metadata=meta,
                **self._headers(content_type, content_encoding),
            )
        except Exception as exc:
            raise self._map(exc, "create_multipart_upload", key) from exc
        upload_id = created["UploadId"]
        sha = hashlib.sha256()
        size = 0
        parts: list[dict[str, Any]] = []
        parts_iter = enumerate(iter_parts(first, stream, self._config.part_size_bytes), start=1)
        verb: str | None = None
        try:
            while True:
                verb = None  # reading the caller's stream: its errors stay its own
                item = next(parts_iter, None)
                if item is None:
                    break
                number, part = item
                check_part_count(
                    number,
                    bucket=self.bucket,
                    key=key,
                    part_size_bytes=self._config.part_size_bytes,
                )
                verb = "upload_part"
                response = self._client.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=part,
                    ContentMD5=content_md5(part),
                )
                parts.append({"ETag": response["ETag"], "PartNumber": number})
                sha.update(part)
                size += len(part)
            verb = "complete_multipart_upload"
            done = self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException as exc:
            with contextlib.suppress(Exception):
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            if verb is not None and isinstance(exc, Exception):
                raise self._map(exc, verb, key) from exc
            raise
        digest = sha.hexdigest()
        if known is not None and known != digest:  # pragma: no cover - defensive
            raise PermanentStoreError(
                "multipart upload hashed differently than its body", bucket=self.bucket, key=key
            )
        # Ceph RGW answers CompleteMultipartUpload with an empty ETag: informational only.
        etag = str(done.get("ETag") or "").strip('"')
        return ObjectRef(
            bucket=self.bucket, key=key, size=size, sha256=digest, etag=etag, parts=len(parts)
        )

    # -- reading --------------------------------------------------------------------
    def get_object(self, key: str, *, byte_range: tuple[int, int] | None = None) -> bytes:
        """
        Return the object's bytes, or the inclusive ``(first, last)`` byte range.

        Raises:
            ObjectNotFoundError: No such key.
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, bad credentials, no such bucket, bad range.

        Thread safety: safe from any thread.
        """
        stream = self._open(key, byte_range)
        with stream:
            return stream.read()

    def open_object(self, key: str) -> BinaryIO:
        """
        Return a readable binary stream of the object; the caller closes it.

        Read errors surface from the stream's ``read`` as `StoreError`.

        Raises:
            ObjectNotFoundError: No such key.
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, bad credentials, no such bucket.

        Thread safety: the store is; the returned stream belongs to one thread.
        """
        return self._open(key, None)

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

    # -- deleting and the bucket ------------------------------------------------------
    def delete_object(self, key: str) -> None:
        """
        Delete `key`; a missing key is not an error (S3 semantics).

        Raises:
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, bad credentials, no such bucket.

        Thread safety: safe from any thread.
        """
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            error = self._map(exc, "delete_object", key)
            if error.reason == "NoSuchKey":
                return
            raise error from exc

    def ensure_bucket(self) -> None:
        """
        Create the bucket unless it exists (HeadBucket, then CreateBucket).

        A LocationConstraint is sent only outside us-east-1. A bucket that
        already exists and is ours is fine.

        Raises:
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, bad credentials, the name is taken
                by another account (reason ``BucketAlreadyExists``).

        Thread safety: safe from any thread.
        """
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except Exception as exc:
            error = self._map(exc, "head_bucket", None)
            if error.reason != "NoSuchBucket":
                raise error from exc
        params: dict[str, Any] = {"Bucket": self.bucket}
        if self._config.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self._config.region}
        try:
            self._client.create_bucket(**params)
        except Exception as exc:
            error = self._map(exc, "create_bucket", None)
            if error.reason == "BucketAlreadyOwnedByYou":
                return
            raise error from exc

    def close(self) -> None:
        """
        Close the client's connection pool.

        Thread safety: call once, after other threads stopped using the store.
        """
        close = getattr(self._client, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()
