"""
An S3 store driven by the minio client (``client=minio``, ``s3+minio://``).

minio's high-level ``put_object`` neither sends Content-MD5 per part over
plain HTTP nor lets objlog abort on its own terms, so uploads use minio's
request-level methods (``_put_object``, ``_create_multipart_upload``,
``_upload_part``, ``_complete_multipart_upload``, ``_abort_multipart_upload``;
stable since minio 7.1) with objlog's own headers. The HTTP pool is built
here: the configured timeouts and pool size, and `SDK_MAX_ATTEMPTS` urllib3
attempts per request (minio's default is 5 retries with status retries;
objlog's `objlog.retry.RetryPolicy` does the real retrying).

Credentials left unset in the config come from minio's provider chain:
``EnvAWSProvider``, ``AWSConfigProvider`` (the profile), ``IamAwsProvider``.

All SDK exceptions are turned into objlog's error tree by `map_minio_error`.
"""

from __future__ import annotations

import datetime as _dt
import functools
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from objlog._package import install_hint
from objlog.config import StoreConfig
from objlog.errors import ConfigError, MissingBackendError, PermanentStoreError
from objlog.stores._common import ObjectHeaders, common_prefixes, scrub
from objlog.stores._s3 import S3Response, S3StoreBase, SDKErrorMapper, SDKErrors
from objlog.typing import ObjectInfo

__all__ = ["SDK_MAX_ATTEMPTS", "MinioStore", "map_minio_error", "object_option_headers"]

#: Attempts urllib3 makes per request, the first included (one retry of a
#: refused or reset connection, none on a status); objlog's
#: `objlog.retry.RetryPolicy` retries on top of these.
SDK_MAX_ATTEMPTS = 2


def _s3_response(exc: BaseException) -> S3Response | None:
    from minio.error import InvalidResponseError, S3Error, ServerError

    if isinstance(exc, S3Error):
        status = int(getattr(getattr(exc, "response", None), "status", 0) or 0)
        return str(exc.code or ""), status, str(exc.message or "")
    if isinstance(exc, ServerError):
        return "", exc.status_code, ""
    if isinstance(exc, InvalidResponseError):
        return "", int(getattr(exc, "_code", 0) or 0), "non-XML response"
    return None


def _retry_cause(exc: BaseException) -> BaseException:
    from urllib3.exceptions import MaxRetryError

    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        return exc.reason
    return exc


def _value_error(text: str) -> str:
    return "NoCredentials" if "credential" in text.lower() else "InvalidRequest"


@functools.cache
def _sdk_errors() -> SDKErrors:
    """minio's and urllib3's exceptions, in match order."""
    from urllib3 import exceptions as u3

    return SDKErrors(
        response=_s3_response,
        unwrap=_retry_cause,
        transport=(
            (u3.SSLError, "TLSError"),
            # urllib3 2 makes NewConnectionError a ConnectTimeoutError: match it first.
            ((u3.NewConnectionError, u3.ProxyError, ConnectionRefusedError), "EndpointUnreachable"),
            ((u3.ConnectTimeoutError, u3.ReadTimeoutError, TimeoutError), "Timeout"),
            ((u3.ProtocolError, u3.HTTPError, ConnectionError, OSError), "ConnectionReset"),
            (ValueError, _value_error),
        ),
    )


#: Turns a minio/urllib3 exception into a `StoreError` (called as
#: ``map_minio_error(exc, *, verb, bucket, key, secrets=())``; see
#: `objlog.stores._s3.SDKErrorMapper`). The caller raises it ``from exc``.
#: It answers as `objlog.stores.boto3.map_boto3_error` does for the same
#: failure (``tests/stores/test_s3.py`` holds the two to it); a urllib3
#: ``MaxRetryError`` is judged by its reason.
map_minio_error = SDKErrorMapper(_sdk_errors)


def object_option_headers(config: StoreConfig) -> dict[str, str]:
    """
    Return the S3 request headers of `config`'s object options, for PutObject
    and CreateMultipartUpload (UploadPart takes none of them).

    Sent as headers rather than minio's ``sse=``/``tags=`` objects, since
    objlog calls minio's request-level methods (module docstring), and minio's
    ``SseKMS`` refuses plain HTTP where a loopback test server runs.

    Args:
        config: The store config.

    Returns:
        ``x-amz-storage-class``, ``x-amz-server-side-encryption``,
        ``x-amz-server-side-encryption-aws-kms-key-id`` and ``x-amz-tagging``
        (URL-encoded ``k=v&k2=v2``), each only when set.

    Thread safety: pure function.
    """
    headers: dict[str, str] = {}
    if config.storage_class:
        headers["x-amz-storage-class"] = config.storage_class
    if config.sse:
        headers["x-amz-server-side-encryption"] = config.sse
    if config.sse_kms_key_id:
        headers["x-amz-server-side-encryption-aws-kms-key-id"] = config.sse_kms_key_id
    if config.tags:
        headers["x-amz-tagging"] = urllib.parse.urlencode(config.tags, quote_via=urllib.parse.quote)
    return headers


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
                f"the minio client needs minio: {install_hint('minio')} (or use client=boto3)"
            ) from exc
        super().__init__(config)
        if config.endpoint_url is None:
            host, secure = "s3.amazonaws.com", True
        else:
            parts = urllib.parse.urlsplit(config.endpoint_url)
            host, secure = parts.netloc, parts.scheme == "https"
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout),
            maxsize=max(config.max_pool_connections, config.part_concurrency),
            cert_reqs="CERT_REQUIRED" if config.verify_tls else "CERT_NONE",
            ca_certs=config.ca_bundle or certifi.where(),
            retries=urllib3.Retry(total=SDK_MAX_ATTEMPTS - 1, backoff_factor=0.1, redirect=0),
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
        client: Any = self._client
        if config.addressing_style == "path":
            client.disable_virtual_style_endpoint()
        elif config.addressing_style == "virtual":
            client.enable_virtual_style_endpoint()

    # -- the SDK seams ----------------------------------------------------------------
    _map_error = map_minio_error

    def _content(self, headers: ObjectHeaders) -> dict[str, str]:
        """PutObject / CreateMultipartUpload headers: content headers and object options."""
        content = {"Content-Type": headers.content_type, **object_option_headers(self._config)}
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
        if self._config.tags:  # see `S3StoreBase._complete`: Ceph drops them at create
            from minio.commonconfig import Tags

            tags = Tags.new_object_tags()
            tags.update(self._config.tags)
            self._client.set_object_tags(self.bucket, key, tags)
        # Ceph RGW answers CompleteMultipartUpload with no ETag.
        return str(getattr(done, "etag", "") or "")

    def _abort(self, key: str, upload_id: str) -> None:
        self._client._abort_multipart_upload(self.bucket, key, upload_id)

    def _get(
        self, key: str, byte_range: tuple[int, int] | None
    ) -> tuple[Callable[[int], bytes], Callable[[], None]]:
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
        response = self._client.get_object(self.bucket, key, offset=offset, length=length)

        def close() -> None:
            try:
                response.close()
            finally:
                response.release_conn()

        def read(n: int) -> bytes:
            # The stored bytes as they are: never undo a Content-Encoding.
            return bytes(response.read(n, decode_content=False))

        return read, close

    def _head(self, key: str) -> ObjectInfo:
        stat = self._client.stat_object(self.bucket, key)
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

    def _list(self, prefix: str, start_after: str | None) -> Iterator[ObjectInfo]:
        items = self._client.list_objects(
            self.bucket, prefix=prefix or None, recursive=True, start_after=start_after
        )
        for item in items:
            yield ObjectInfo(
                key=str(item.object_name),
                size=int(item.size or 0),
                last_modified=_utc(item.last_modified),
                etag=str(item.etag or "").strip('"'),
            )

    def _list_prefixes(self, prefix: str, delimiter: str) -> Iterator[str]:
        # minio lists with "/" as its only delimiter; others come from a full listing.
        if delimiter == "/":
            items = self._client.list_objects(self.bucket, prefix=prefix or None, recursive=False)
            for item in items:
                if item.is_dir:
                    yield str(item.object_name)
            return
        yield from common_prefixes(
            (info.key for info in self._list(prefix, None)), prefix, delimiter
        )

    def _delete(self, key: str) -> None:
        self._client.remove_object(self.bucket, key)

    def _bucket_exists(self) -> bool:
        return bool(self._client.bucket_exists(self.bucket))

    def _create_bucket(self, location: str | None) -> None:
        self._client.make_bucket(self.bucket, location=location)

    def _close(self) -> None:
        self._http.clear()
