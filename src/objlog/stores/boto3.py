"""
An S3 store driven by boto3 (the default client).

botocore is configured for S3-compatible servers: against a custom endpoint,
request checksums are calculated and validated only "when_required" (boto3
>= 1.36 otherwise sends aws-chunked CRC trailers that Ceph RGW, MinIO and
others reject or mangle), addressing is path-style by default, SigV4 is used
(Ceph would get SigV2 otherwise), and botocore makes at most
`SDK_MAX_ATTEMPTS` attempts per request in "standard" mode: objlog's own
`objlog.retry.RetryPolicy` does the real retrying.

Integrity does not rely on ETags: every PUT and every part carries
Content-MD5, and objlog's SHA-256 is kept in the ``objlog-sha256`` user
metadata when it is known before the upload starts.

All SDK exceptions are turned into objlog's error tree by `map_boto3_error`.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from objlog._package import install_hint
from objlog.config import StoreConfig
from objlog.errors import ConfigError, MissingBackendError
from objlog.stores._common import ObjectHeaders, scrub
from objlog.stores._s3 import S3Response, S3StoreBase, SDKErrorMapper, SDKErrors
from objlog.typing import ObjectInfo

__all__ = ["SDK_MAX_ATTEMPTS", "Boto3Store", "map_boto3_error", "object_option_args"]


def object_option_args(config: StoreConfig) -> dict[str, str]:
    """
    Return the boto3 arguments of `config`'s object options, for PutObject and
    CreateMultipartUpload (UploadPart takes none of them: S3 applies them per object).

    Args:
        config: The store config.

    Returns:
        ``StorageClass``, ``ServerSideEncryption``, ``SSEKMSKeyId`` and
        ``Tagging`` (URL-encoded ``k=v&k2=v2``, as S3's ``x-amz-tagging``
        header wants it), each only when set; empty without options.

    Thread safety: pure function.
    """
    args: dict[str, str] = {}
    if config.storage_class:
        args["StorageClass"] = config.storage_class
    if config.sse:
        args["ServerSideEncryption"] = config.sse
    if config.sse_kms_key_id:
        args["SSEKMSKeyId"] = config.sse_kms_key_id
    if config.tags:
        args["Tagging"] = urllib.parse.urlencode(config.tags, quote_via=urllib.parse.quote)
    return args


#: Attempts botocore makes per request, the first included ("standard" retry
#: mode: up to two retries of a throttled, 5xx or reset request); objlog's
#: `objlog.retry.RetryPolicy` retries on top of these. Passed as botocore's
#: ``total_max_attempts``: its ``max_attempts`` counts retries only.
SDK_MAX_ATTEMPTS = 3


def _client_error(exc: BaseException) -> S3Response | None:
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return None
    error = exc.response.get("Error", {}) or {}
    meta = exc.response.get("ResponseMetadata", {}) or {}
    return (
        str(error.get("Code", "") or ""),
        int(meta.get("HTTPStatusCode", 0) or 0),
        str(error.get("Message", "") or ""),
    )


@functools.cache
def _sdk_errors() -> SDKErrors:
    """botocore's exceptions (and the urllib3 ones it lets through), in match order."""
    from botocore import exceptions as bce
    from urllib3 import exceptions as u3

    resets = (
        bce.ConnectionClosedError,
        bce.ResponseStreamingError,
        bce.IncompleteReadError,
        bce.HTTPClientError,
        ConnectionError,
    )
    return SDKErrors(
        response=_client_error,
        transport=(
            (bce.SSLError, "TLSError"),
            ((bce.ConnectTimeoutError, bce.ReadTimeoutError), "Timeout"),
            ((bce.EndpointConnectionError, bce.ProxyConnectionError), "EndpointUnreachable"),
            (resets, "ConnectionReset"),
            ((bce.NoCredentialsError, bce.PartialCredentialsError), "NoCredentials"),
            (bce.CredentialRetrievalError, "CredentialRetrieval"),
            ((bce.ParamValidationError, bce.ValidationError), "InvalidRequest"),
            ((u3.ProtocolError, u3.ReadTimeoutError, OSError), "ConnectionReset"),
        ),
    )


#: Turns a boto3/botocore/urllib3 exception into a `StoreError` (called as
#: ``map_boto3_error(exc, *, verb, bucket, key, secrets=())``; see
#: `objlog.stores._s3.SDKErrorMapper`). The caller raises it ``from exc``.
map_boto3_error = SDKErrorMapper(_sdk_errors)


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
                f"the boto3 client needs boto3: {install_hint('s3')} (or use client=minio)"
            ) from exc
        super().__init__(config)
        self._page_size = list_page_size
        options: dict[str, Any] = {
            "region_name": config.region,
            "signature_version": "s3v4",
            "s3": {"addressing_style": config.addressing_style},
            "connect_timeout": config.connect_timeout,
            "read_timeout": config.read_timeout,
            "max_pool_connections": max(config.max_pool_connections, config.part_concurrency),
            "retries": {"mode": "standard", "total_max_attempts": SDK_MAX_ATTEMPTS},
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

    # -- the SDK seams ----------------------------------------------------------------
    _map_error = map_boto3_error

    def _content(self, headers: ObjectHeaders) -> dict[str, Any]:
        """PutObject / CreateMultipartUpload arguments: content headers and object options."""
        content: dict[str, Any] = {
            "ContentType": headers.content_type,
            "Metadata": dict(headers.metadata),
            **object_option_args(self._config),
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
        if self._config.tags:  # see `S3StoreBase._complete`: Ceph drops them at create
            tag_set = [{"Key": k, "Value": v} for k, v in self._config.tags]
            self._client.put_object_tagging(
                Bucket=self.bucket, Key=key, Tagging={"TagSet": tag_set}
            )
        return str(done.get("ETag") or "")

    def _abort(self, key: str, upload_id: str) -> None:
        self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def _get(
        self, key: str, byte_range: tuple[int, int] | None
    ) -> tuple[Callable[[int], bytes], Callable[[], None]]:
        extra: dict[str, str] = {}
        if byte_range is not None:
            first, last = byte_range
            extra["Range"] = f"bytes={first}-{last}"
        body = self._client.get_object(Bucket=self.bucket, Key=key, **extra)["Body"]
        return body.read, body.close

    def _head(self, key: str) -> ObjectInfo:
        r = self._client.head_object(Bucket=self.bucket, Key=key)
        return ObjectInfo(
            key=key,
            size=int(r.get("ContentLength", 0)),
            last_modified=r["LastModified"],
            etag=str(r.get("ETag") or "").strip('"'),
            metadata={str(k).lower(): str(v) for k, v in (r.get("Metadata") or {}).items()},
            content_type=str(r.get("ContentType") or ""),
            content_encoding=str(r.get("ContentEncoding") or ""),
        )

    def _pages(self, prefix: str, **params: Any) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            args = dict(Bucket=self.bucket, Prefix=prefix, MaxKeys=self._page_size, **params)
            if token:
                args["ContinuationToken"] = token
                args.pop("StartAfter", None)
            page = self._client.list_objects_v2(**args)
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def _list(self, prefix: str, start_after: str | None) -> Iterator[ObjectInfo]:
        params: dict[str, Any] = {}
        if start_after is not None:
            params["StartAfter"] = start_after
        for page in self._pages(prefix, **params):
            for item in page.get("Contents", ()) or ():
                yield ObjectInfo(
                    key=item["Key"],
                    size=int(item.get("Size", 0)),
                    last_modified=item["LastModified"],
                    etag=str(item.get("ETag") or "").strip('"'),
                )

    def _list_prefixes(self, prefix: str, delimiter: str) -> Iterator[str]:
        for page in self._pages(prefix, Delimiter=delimiter):
            for item in page.get("CommonPrefixes", ()) or ():
                yield str(item["Prefix"])

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

    def _close(self) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            close()
