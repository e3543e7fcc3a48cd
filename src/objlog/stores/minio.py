"""
An S3 store driven by the minio client (``client=minio``, ``s3+minio://``).

minio's high-level ``put_object`` neither sends Content-MD5 per part over
plain HTTP nor lets objlog abort on its own terms, so uploads use minio's
request-level methods (``_put_object``, ``_create_multipart_upload``,
``_upload_part``, ``_complete_multipart_upload``, ``_abort_multipart_upload``;
stable since minio 7.1) with objlog's own headers. The HTTP pool is built
here: the configured timeouts and pool size, and one urllib3 retry at most
(minio's default is 5 with status retries; objlog retries itself).

Credentials left unset in the config come from minio's provider chain:
``EnvAWSProvider``, ``AWSConfigProvider`` (the profile), ``IamAwsProvider``.

All SDK exceptions are turned into objlog's error tree by `map_minio_error`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import urllib.parse
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

__all__ = ["MinioStore", "map_minio_error"]


def map_minio_error(
    exc: BaseException,
    *,
    verb: str,
    bucket: str,
    key: str | None,
    secrets: tuple[str | None, ...] = (),
) -> StoreError:
    """
    Turn a minio/urllib3 exception into a `StoreError`.

    Args:
        exc: The SDK's exception.
        verb: What objlog was doing (``"put_object"``, ...), for the message.
        bucket: The bucket of the request.
        key: The key, or None for bucket-level requests.
        secrets: Values that must never appear in the message (scrubbed).

    Returns:
        `TransientStoreError`, `PermanentStoreError` or `ObjectNotFoundError`
        with ``reason`` as in `objlog.stores.boto3.map_boto3_error`. The
        caller raises it ``from exc``.

    Thread safety: pure function.
    """
    from minio.error import InvalidResponseError, S3Error, ServerError
    from urllib3 import exceptions as u3

    if isinstance(exc, StoreError):
        return exc
    kw: dict[str, Any] = {"bucket": bucket, "key": key}
    if isinstance(exc, S3Error):
        status = int(getattr(getattr(exc, "response", None), "status", 0) or 0)
        message = scrub(str(exc.message or ""), secrets)
        return classify_s3_error(
            str(exc.code or ""), status, message, verb=verb, bucket=bucket, key=key
        )
    if isinstance(exc, ServerError):
        return classify_s3_error("", exc.status_code, "", verb=verb, bucket=bucket, key=key)
    if isinstance(exc, InvalidResponseError):
        status = int(getattr(exc, "_code", 0) or 0)
        return classify_s3_error("", status, "non-XML response", verb=verb, bucket=bucket, key=key)
    cause: BaseException = exc
    if isinstance(exc, u3.MaxRetryError) and exc.reason is not None:
        cause = exc.reason
    text = scrub(str(cause), secrets)
    if isinstance(cause, u3.SSLError):
        return PermanentStoreError(
            f"{verb} failed: TLS error talking to the endpoint "
            "(certificate not trusted? set ca_bundle / AWS_CA_BUNDLE, or use http://)",
            reason="TLSError",
            **kw,
        )
    # urllib3 2 makes NewConnectionError a ConnectTimeoutError: test it first.
    if isinstance(cause, (u3.NewConnectionError, u3.ProxyError, ConnectionRefusedError)):
        return TransientStoreError(
            f"{verb} failed: endpoint unreachable ({text})", reason="EndpointUnreachable", **kw
        )
    if isinstance(cause, (u3.ConnectTimeoutError, u3.ReadTimeoutError, TimeoutError)):
        return TransientStoreError(f"{verb} failed: timed out ({text})", reason="Timeout", **kw)
    if isinstance(cause, (u3.ProtocolError, u3.HTTPError, ConnectionError, OSError)):
        return TransientStoreError(
            f"{verb} failed: connection reset ({text})", reason="ConnectionReset", **kw
        )
    if isinstance(cause, ValueError) and "credential" in text.lower():
        return PermanentStoreError(
            f"{verb} failed: no credentials found; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or a profile)",
            reason="NoCredentials",
            **kw,
        )
    if isinstance(cause, ValueError):
        return PermanentStoreError(
            f"{verb} failed: invalid request ({text})", reason="InvalidRequest", **kw
        )
    return PermanentStoreError(
        f"{verb} failed: {type(cause).__name__}: {text}", reason="SDKError", **kw
    )


def _utc(value: _dt.datetime | None) -> _dt.datetime:
    if value is None:
        return _dt.datetime.fromtimestamp(0, _dt.timezone.utc)
    if value.tzinfo is None:
        return value.replace(tzinfo=_dt.timezone.utc)
    return value


class MinioStore(S3StoreBase):
    """
    A bucket (plus prefix) on an S3-compatible server, through the minio client.

    Args:
        config: An ``s3`` `StoreConfig` (`StoreConfig.resolve` builds one).

    Raises:
        MissingBackendError: minio is not installed.
        ConfigError: minio rejects a setting.

    Thread safety: one minio client (urllib3 pool) is shared; every method may
    be called from any thread.
    """

    def __init__(self, config: StoreConfig) -> None:
        try:
            import certifi
            import minio
            import urllib3
            from minio.credentials import providers as mc
        except ImportError as exc:
            raise MissingBackendError(
                "the minio client needs minio: pip install minio (or use client=boto3)"
            ) from exc
        if config.kind != "s3":
            raise ConfigError("MinioStore needs an s3:// store config")
        self._config = config
        self._secrets = (config.secret_key, config.session_token)
        if config.endpoint_url is None:
            host, secure = "s3.amazonaws.com", True
        else:
            parts = urllib.parse.urlsplit(config.endpoint_url)
            host, secure = parts.netloc, parts.scheme == "https"
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout),
            maxsize=config.max_pool_connections,
            cert_reqs="CERT_REQUIRED" if config.verify_tls else "CERT_NONE",
            ca_certs=config.ca_bundle or certifi.where(),
            retries=urllib3.Retry(total=1, backoff_factor=0.1, redirect=0),
        )
        provider: Any = None
        if config.access_key is None:
            provider = mc.ChainedProvider(
                [
                    mc.EnvAWSProvider(),
                    mc.AWSConfigProvider(profile=config.profile),
                    mc.IamAwsProvider(),
                ]
            )
        try:
            self._client: Any = minio.Minio(
                host,
                access_key=config.access_key,
                secret_key=config.secret_key,
                session_token=config.session_token,
                secure=secure,
                region=config.region,
                http_client=self._http,
                credentials=provider,
            )
        except ValueError as exc:
            raise ConfigError(
                f"minio rejected the store settings: {scrub(str(exc), self._secrets)}"
            ) from None
        self._calls = UploadCalls(
            put=self._put,
            create=self._create,
            upload_part=self._upload_part,
            complete=self._complete,
            abort=self._abort,
            map_error=self._map,
        )
        client: Any = self._client
        if config.addressing_style == "path":
            client.disable_virtual_style_endpoint()
        elif config.addressing_style == "virtual":
            client.enable_virtual_style_endpoint()

    # -- the SDK seams ----------------------------------------------------------------
    def _map(self, exc: BaseException, verb: str, key: str | None) -> StoreError:
        return map_minio_error(exc, verb=verb, bucket=self.bucket, key=key, secrets=self._secrets)

    @staticmethod
    def _content(headers: ObjectHeaders) -> dict[str, str]:
        content = {"Content-Type": headers.content_type}
        if headers.content_encoding:
            content["Content-Encoding"] = headers.content_encoding
        for name, value in headers.metadata.items():
            content[f"x-amz-meta-{name}"] = value
        return content

    def _put(self, key: str, body: bytes, md5: str, headers: ObjectHeaders) -> str:
        result = self._client._put_object(
            self.bucket, key, body, {**self._content(headers), "Content-MD5": md5}
        )
        return str(getattr(result, "etag", "") or "")

    def _create(self, key: str, headers: ObjectHeaders) -> str:
        return str(self._client._create_multipart_upload(self.bucket, key, self._content(headers)))

    def _upload_part(self, key: str, upload_id: str, number: int, body: bytes, md5: str) -> str:
        etag = self._client._upload_part(
            self.bucket, key, body, {"Content-MD5": md5}, upload_id, number
        )
        return str(etag)

    def _complete(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> str:
        from minio.datatypes import Part

        done = self._client._complete_multipart_upload(
            self.bucket, key, upload_id, [Part(n, e) for n, e in parts]
        )
        # Ceph RGW answers CompleteMultipartUpload with no ETag.
        return str(getattr(done, "etag", "") or "")

    def _abort(self, key: str, upload_id: str) -> None:
        self._client._abort_multipart_upload(self.bucket, key, upload_id)

    def _delete(self, key: str) -> None:
        self._client.remove_object(self.bucket, key)

    def _bucket_exists(self) -> bool:
        return bool(self._client.bucket_exists(self.bucket))

    def _create_bucket(self, location: str | None) -> None:
        self._client.make_bucket(self.bucket, location=location)

    def _open(self, key: str, byte_range: tuple[int, int] | None) -> BinaryIO:
        offset, length = 0, 0
        if byte_range is not None:
            first, last = byte_range
            if first < 0 or last < first:
                raise PermanentStoreError(
                    f"invalid byte range {first}-{last}",
                    bucket=self.bucket,
                    key=key,
                    reason="InvalidRange",
                )
            offset, length = first, last - first + 1
        try:
            response = self._client.get_object(self.bucket, key, offset=offset, length=length)
        except Exception as exc:
            raise self._map(exc, "get_object", key) from exc

        def close() -> None:
            try:
                response.close()
            finally:
                response.release_conn()

        def read(n: int) -> bytes:
            # The stored bytes as they are: never undo a Content-Encoding.
            return bytes(response.read(n, decode_content=False))

        raw = MappedStream(read, close, lambda e: self._map(e, "get_object", key))
        return io.BufferedReader(raw, buffer_size=1024 * 1024)

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
            stat = self._client.stat_object(self.bucket, key)
        except Exception as exc:
            raise self._map(exc, "head_object", key) from exc
        headers = stat.metadata or {}
        meta: dict[str, str] = {}
        encoding = ""
        for name, value in headers.items():
            low = str(name).lower()
            if low.startswith("x-amz-meta-"):
                meta[low[len("x-amz-meta-") :]] = str(value)
            elif low == "content-encoding":
                encoding = str(value)
        return ObjectInfo(
            key=key,
            size=int(stat.size or 0),
            last_modified=_utc(stat.last_modified),
            etag=str(stat.etag or "").strip('"'),
            metadata=meta,
            content_type=str(stat.content_type or ""),
            content_encoding=encoding,
        )

    def _iterate(self, verb: str, prefix: str, items: Iterator[Any]) -> Iterator[Any]:
        # minio lists lazily: errors surface while iterating, so map them here.
        while True:
            try:
                item = next(items)
            except StopIteration:
                return
            except Exception as exc:
                raise self._map(exc, verb, prefix or None) from exc
            yield item

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
        items = self._client.list_objects(
            self.bucket, prefix=prefix or None, recursive=True, start_after=start_after
        )
        for item in self._iterate("list_objects", prefix, iter(items)):
            yield ObjectInfo(
                key=str(item.object_name),
                size=int(item.size or 0),
                last_modified=_utc(item.last_modified),
                etag=str(item.etag or "").strip('"'),
            )

    def list_prefixes(self, prefix: str = "", *, delimiter: str = "/") -> Iterator[str]:
        """
        Yield the common prefixes directly below `prefix` (S3 CommonPrefixes).

        minio lists with "/" as its only delimiter; other delimiters are
        computed from a full listing of `prefix`.

        Raises:
            TransientStoreError: Throttled, 5xx, timeout, unreachable, reset.
            PermanentStoreError: Denied, bad credentials, no such bucket.

        Thread safety: safe from any thread; each iterator belongs to one thread.
        """
        if delimiter == "/":
            items = self._client.list_objects(self.bucket, prefix=prefix or None, recursive=False)
            for item in self._iterate("list_prefixes", prefix, iter(items)):
                if item.is_dir:
                    yield str(item.object_name)
            return
        found: list[str] = []
        for info in self.list_objects(prefix):
            rest = info.key[len(prefix) :]
            if delimiter in rest:
                common = prefix + rest.split(delimiter, 1)[0] + delimiter
                if not found or found[-1] != common:
                    found.append(common)
        yield from sorted(set(found))

    # -- closing --------------------------------------------------------------------
    def close(self) -> None:
        """
        Close the client's connection pool.

        Thread safety: call once, after other threads stopped using the store.
        """
        with contextlib.suppress(Exception):
            self._http.clear()
