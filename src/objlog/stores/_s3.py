"""
The S3 side shared by the SDK stores: one error ladder and one store base.

`classify_s3_error` maps an S3 error response (code, HTTP status) onto
objlog's error tree; an `SDKErrorMapper` maps any SDK exception, given the
SDK's `SDKErrors` table (which of its exceptions carry an S3 response, and
which transport failure each other one is). `S3StoreBase` holds what the
boto3 and minio stores do alike, so each of them is its SDK calls and its
table. Another S3 SDK is one module with a subclass and a table.

Private: nothing here is a public API.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import encodings.idna  # noqa: F401 - imported here on purpose, see below
import io
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO, TypeVar

from objlog.config import StoreConfig
from objlog.errors import (
    ConfigError,
    ObjectNotFoundError,
    PermanentStoreError,
    StoreError,
    TransientStoreError,
)
from objlog.retry import RetryPolicy
from objlog.stores._common import ObjectHeaders, StoreBase, scrub
from objlog.stores._upload import UploadCalls, Uploader
from objlog.typing import BodyDigests, ObjectInfo, ObjectRef

# Why `encodings.idna` is imported above: the first connection of an SDK
# client encodes the host name with the "idna" codec, which imports that
# module then, on the uploader thread. An ``os.fork()`` during that import
# leaves the child with the module's import lock held by a thread that does
# not exist there, and the child's uploader hangs on its first connection.
# Importing it here does it on the thread that opens the store.

__all__ = [
    "MappedStream",
    "S3Response",
    "S3StoreBase",
    "SDKErrorMapper",
    "SDKErrors",
    "classify_s3_error",
]

T = TypeVar("T")


_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
    "AuthorizationHeaderMalformed",
    "InvalidSecurity",
}
_THROTTLE_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequests",
    "RequestThrottled",
    "ServiceUnavailable",
}
_TIMEOUT_CODES = {"RequestTimeout", "RequestTimeoutException"}
# Error codes that refuse one object option (`objlog.config` "Object options").
_OPTION_CODES = {
    "InvalidStorageClass": "storage_class",
    "InvalidTag": "tags",
    "InvalidTagError": "tags",
    "BadRequestTag": "tags",
    "InvalidEncryptionAlgorithmError": "sse",
    "InvalidEncryptionMethod": "sse",
    "KMSNotFoundException": "sse_kms_key_id",
    "KMSDisabledException": "sse_kms_key_id",
    "KMSInvalidStateException": "sse_kms_key_id",
    "KMSAccessDenied": "sse_kms_key_id",
}
_SERVER_CODES = {"InternalError", "InternalServerError", "BadGateway", "GatewayTimeout"}


def classify_s3_error(
    code: str,
    status: int,
    server_message: str,
    *,
    verb: str,
    bucket: str,
    key: str | None,
) -> StoreError:
    """
    Map an S3 error response (code, HTTP status) to objlog's error tree.

    Args:
        code: The S3 error code, e.g. ``"NoSuchKey"`` ("" when the response had
            no body, as for HEAD).
        status: The HTTP status.
        server_message: The server's message (never holds a secret; truncated).
        verb: What objlog was doing, e.g. ``"put_object"``.
        bucket: The bucket.
        key: The key, or None for bucket-level requests.

    Returns:
        A `TransientStoreError`, `PermanentStoreError` or `ObjectNotFoundError`
        whose ``reason`` is a short cause.
    """
    detail = f" ({server_message[:200]})" if server_message else ""
    label = f"{verb} failed: {code or 'HTTP'} {status}{detail}"
    if code in {"NoSuchKey", "NoSuchVersion"} or (
        status == 404 and key is not None and code in {"", "404", "NotFound"}
    ):
        return ObjectNotFoundError(
            f"{verb}: no such key", bucket=bucket, key=key, reason="NoSuchKey"
        )
    if code == "NoSuchBucket" or (
        status == 404 and key is None and code in {"", "404", "NotFound"}
    ):
        return PermanentStoreError(
            f"{verb}: bucket does not exist", bucket=bucket, key=key, reason="NoSuchBucket"
        )
    if code in _CREDENTIAL_CODES:
        reason = (
            "ExpiredToken"
            if code in {"ExpiredToken", "TokenRefreshRequired"}
            else ("InvalidCredentials")
        )
        return PermanentStoreError(
            f"{verb} failed: credentials rejected ({code}); check the access key, "
            "secret key and session token",
            bucket=bucket,
            key=key,
            reason=reason,
        )
    if code in {"AccessDenied", "AllAccessDisabled"} or status == 403:
        return PermanentStoreError(
            f"{verb} failed: access denied ({code or status})",
            bucket=bucket,
            key=key,
            reason="AccessDenied",
        )
    option = _OPTION_CODES.get(code) or ("sse_kms_key_id" if code.startswith("KMS") else None)
    if option is not None:
        return PermanentStoreError(
            f"{verb} failed: the server refused the object option {option} ({code}{detail})",
            bucket=bucket,
            key=key,
            reason=code,
        )
    if code == "NotImplemented":
        # "A header you provided implies functionality that is not implemented": for good.
        return PermanentStoreError(label, bucket=bucket, key=key, reason=code)
    if code == "InvalidBucketName":
        return PermanentStoreError(label, bucket=bucket, key=key, reason="InvalidBucketName")
    if code in _THROTTLE_CODES or status in {429, 503}:
        return TransientStoreError(label, bucket=bucket, key=key, reason="SlowDown")
    if code in _TIMEOUT_CODES or status == 408:
        return TransientStoreError(label, bucket=bucket, key=key, reason="Timeout")
    if code in _SERVER_CODES or status >= 500:
        return TransientStoreError(label, bucket=bucket, key=key, reason="ServerError")
    return PermanentStoreError(label, bucket=bucket, key=key, reason=code or f"HTTP{status}")


# Write requests that carry the object options, and the vague answers of a
# server that does not support one of them.
_WRITE_VERBS = frozenset({"put_object", "create_multipart_upload"})
_VAGUE_REFUSALS = frozenset({"NotImplemented", "InvalidArgument", "InvalidRequest", "HTTP501"})


def _options_set(config: StoreConfig) -> list[str]:
    names = ("storage_class", "sse", "sse_kms_key_id", "tags")
    return [f"{name}" for name in names if getattr(config, name)]


#: ``(code, HTTP status, server message)`` of an S3 error response.
S3Response = tuple[str, int, str]

#: Failures that never produced an S3 error response, by ``reason``: the
#: error class and the message after "VERB failed: " (``{text}`` is the
#: SDK's message with secrets scrubbed).
_TRANSPORT_FAILURES: dict[str, tuple[type[StoreError], str]] = {
    "TLSError": (
        PermanentStoreError,
        "TLS error talking to the endpoint "
        "(certificate not trusted? set ca_bundle / AWS_CA_BUNDLE, or use http://)",
    ),
    "Timeout": (TransientStoreError, "timed out ({text})"),
    "EndpointUnreachable": (TransientStoreError, "endpoint unreachable ({text})"),
    "ConnectionReset": (TransientStoreError, "connection reset ({text})"),
    "CredentialRetrieval": (TransientStoreError, "could not fetch credentials ({text})"),
    "NoCredentials": (
        PermanentStoreError,
        "no credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile)",
    ),
    "InvalidRequest": (PermanentStoreError, "invalid request ({text})"),
}

#: Exception types matched with `isinstance`.
ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]


def _same(exc: BaseException) -> BaseException:
    return exc


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SDKErrors:
    """
    One SDK's exceptions, as `SDKErrorMapper` needs to know them.

    Attributes:
        response: ``response(exc)`` returns the `S3Response` an exception
            carries (the server answered with an error), else None.
        transport: Ordered ``(exception types, reason)`` pairs for the other
            exceptions, the first match winning; ``reason`` is a key of the
            transport failures (``"Timeout"``, ``"EndpointUnreachable"``,
            ``"ConnectionReset"``, ``"TLSError"``, ``"NoCredentials"``,
            ``"CredentialRetrieval"``, ``"InvalidRequest"``) or a function
            of the scrubbed message returning one.
        unwrap: ``unwrap(exc)`` returns the exception to match against
            `transport` (e.g. the reason inside a retry wrapper); default:
            the exception itself.
    """

    response: Callable[[BaseException], S3Response | None]
    transport: Sequence[tuple[ExceptionTypes, str | Callable[[str], str]]]
    unwrap: Callable[[BaseException], BaseException] = _same


@dataclasses.dataclass(frozen=True, slots=True)
class SDKErrorMapper:
    """
    Turns one SDK's exceptions into `StoreError`, by the SDK's `SDKErrors` table.

    Each SDK module exposes one as its public mapper (``map_boto3_error``,
    ``map_minio_error``), so the two answer alike for the same failure.

    Args:
        load: Returns the table; called at each mapping, so cache it (it
            imports the SDK, which ``import objlog`` must not do).

    Thread safety: immutable; a call is a pure function.
    """

    load: Callable[[], SDKErrors]

    def __call__(
        self,
        exc: BaseException,
        *,
        verb: str,
        bucket: str,
        key: str | None,
        secrets: tuple[str | None, ...] = (),
    ) -> StoreError:
        """
        Turn `exc` into a `StoreError`; the caller raises it ``from exc``.

        Args:
            exc: The SDK's exception (a `StoreError` is returned unchanged).
            verb: What objlog was doing (``"put_object"``, ...), for the message.
            bucket: The bucket of the request.
            key: The key, or None for bucket-level requests.
            secrets: Values that must never appear in the message (scrubbed).

        Returns:
            For an S3 error response, what `classify_s3_error` says:
            `TransientStoreError` (throttling, 5xx), `PermanentStoreError`
            (denied, bad credentials, no such bucket) or `ObjectNotFoundError`.
            For a transport failure, the error its reason in the table names
            (``EndpointUnreachable``, ``TLSError``, ``Timeout``,
            ``ConnectionReset``, ``NoCredentials``, ...). Otherwise a
            `PermanentStoreError` with reason ``SDKError``.
        """
        if isinstance(exc, StoreError):
            return exc
        errors = self.load()
        response = errors.response(exc)
        if response is not None:
            code, status, message = response
            if code.isdigit() and not status:
                status = int(code)
            return classify_s3_error(
                code, status, scrub(message, secrets), verb=verb, bucket=bucket, key=key
            )
        cause = errors.unwrap(exc)
        text = scrub(str(cause), secrets)
        for types, reason in errors.transport:
            if isinstance(cause, types):
                name = reason(text) if callable(reason) else reason
                kind, message = _TRANSPORT_FAILURES[name]
                return kind(
                    f"{verb} failed: " + message.format(text=text),
                    bucket=bucket,
                    key=key,
                    reason=name,
                )
        return PermanentStoreError(
            f"{verb} failed: {type(cause).__name__}: {text}",
            bucket=bucket,
            key=key,
            reason="SDKError",
        )


class MappedStream(io.RawIOBase):
    """
    A raw binary stream over an SDK body whose read errors become StoreErrors.

    Wrapped in `io.BufferedReader` by `S3StoreBase` so callers get a `BinaryIO`.
    """

    def __init__(
        self,
        read: Callable[[int], bytes],
        close: Callable[[], None],
        map_error: Callable[[BaseException], StoreError],
    ) -> None:
        super().__init__()
        self._read_sdk = read
        self._close = close
        self._map_error = map_error

    def readable(self) -> bool:
        return True

    def _read(self, n: int) -> bytes:
        try:
            return self._read_sdk(n)
        except StoreError:
            raise
        except Exception as exc:
            raise self._map_error(exc) from exc

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._read(len(view))
        n = len(data)
        view[:n] = data
        return n

    def readall(self) -> bytes:
        # RawIOBase.readall would ask the SDK for 8 KiB at a time.
        chunks: list[bytes] = []
        while chunk := self._read(1024 * 1024):
            chunks.append(bytes(chunk))
        return b"".join(chunks)

    def close(self) -> None:
        if not self.closed:
            try:
                self._close()
            finally:
                super().close()


class S3StoreBase(StoreBase):
    """
    What the boto3 and minio stores share: config, uploads, the verbs, errors.

    A subclass calls ``super().__init__(config)``, builds its client and
    implements the SDK seams below; each seam raises the SDK's own
    exceptions, which this class maps through the subclass's `_map_error`.

    Args:
        config: An ``s3`` `StoreConfig`.

    Raises:
        ConfigError: `config` is not an ``s3`` config.

    Thread safety: every public method may be called from any thread when
    the SDK client is thread-safe (boto3's and minio's are).
    """

    def __init__(self, config: StoreConfig) -> None:
        if config.kind != "s3":
            raise ConfigError(f"{type(self).__name__} needs an s3:// store config")
        self._config = config
        self._secrets = (config.secret_key, config.session_token)
        calls = UploadCalls(
            put=self._put,
            create=self._create,
            upload_part=self._upload_part,
            complete=self._complete,
            abort=self._abort,
            map_error=self._map,
        )
        self._uploader = Uploader(
            calls=calls,
            bucket=config.bucket,
            multipart_threshold_bytes=config.multipart_threshold_bytes,
            part_size_bytes=config.part_size_bytes,
            part_concurrency=config.part_concurrency,
            # Each part of a streamed upload (a result) is retried on its own, so
            # one transient failure costs one part, not the upload (the SDK's
            # own attempts come first).
            part_retry=RetryPolicy(),
        )

    # -- the SDK seams (each raises the SDK's exceptions) -----------------------------
    @property
    @abc.abstractmethod
    def _map_error(self) -> SDKErrorMapper:
        """The SDK's error mapper."""

    @abc.abstractmethod
    def _put(self, key: str, body: bytes, md5: str, headers: ObjectHeaders) -> str:
        """PutObject; returns the ETag."""

    @abc.abstractmethod
    def _create(self, key: str, headers: ObjectHeaders) -> str:
        """CreateMultipartUpload; returns the upload id."""

    @abc.abstractmethod
    def _upload_part(self, key: str, upload_id: str, number: int, body: bytes, md5: str) -> str:
        """UploadPart; returns the part's ETag."""

    @abc.abstractmethod
    def _complete(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> str:
        """
        CompleteMultipartUpload; returns the ETag ("" when the server sends none).

        With ``tags`` configured the object's tags are then set again with
        PutObjectTagging: Ceph RGW ignores ``x-amz-tagging`` on
        CreateMultipartUpload (measured on the RGW of ``../shared/s3``), and
        AWS and moto take the same tags twice. One more request per
        multipart upload, only when tags are set.
        """

    @abc.abstractmethod
    def _abort(self, key: str, upload_id: str) -> None:
        """AbortMultipartUpload."""

    @abc.abstractmethod
    def _get(
        self, key: str, byte_range: tuple[int, int] | None
    ) -> tuple[Callable[[int], bytes], Callable[[], None]]:
        """GetObject; returns the body's ``read(n)`` and ``close()``, bytes as stored."""

    @abc.abstractmethod
    def _head(self, key: str) -> ObjectInfo:
        """HeadObject."""

    @abc.abstractmethod
    def _list(self, prefix: str, start_after: str | None) -> Iterator[ObjectInfo]:
        """ListObjectsV2, every page, in key order."""

    @abc.abstractmethod
    def _list_prefixes(self, prefix: str, delimiter: str) -> Iterator[str]:
        """ListObjectsV2 with a delimiter: the CommonPrefixes, every page."""

    @abc.abstractmethod
    def _delete(self, key: str) -> None:
        """DeleteObject."""

    @abc.abstractmethod
    def _bucket_exists(self) -> bool:
        """HeadBucket (a missing bucket is False, not an error)."""

    @abc.abstractmethod
    def _create_bucket(self, location: str | None) -> None:
        """CreateBucket with an optional LocationConstraint."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Close the SDK's connection pool."""

    def _map(self, exc: BaseException, verb: str, key: str | None) -> StoreError:
        error = self._map_error(exc, verb=verb, bucket=self.bucket, key=key, secrets=self._secrets)
        if (
            verb in _WRITE_VERBS
            and self._config.has_object_options
            and error.reason in _VAGUE_REFUSALS
        ):
            # A server lacking a feature (Ceph without KMS, ...) says only
            # NotImplemented or InvalidArgument: name the options that were sent.
            error = PermanentStoreError(
                f"{verb} failed: the server refused the request ({error.reason}); it may "
                f"not support an object option set: {', '.join(_options_set(self._config))}",
                bucket=self.bucket,
                key=key,
                reason=error.reason,
            )
        return error

    def _call(self, verb: str, key: str | None, call: Callable[[], T]) -> T:
        try:
            return call()
        except Exception as exc:
            raise self._map(exc, verb, key) from exc

    def _call_allowing(
        self, reason: str, verb: str, key: str | None, call: Callable[[], object]
    ) -> None:
        # For S3's idempotent verbs: a failure of this reason means done already.
        try:
            call()
        except Exception as exc:
            error = self._map(exc, verb, key)
            if error.reason != reason:
                raise error from exc

    def _mapped(self, verb: str, key: str | None, items: Iterator[T]) -> Iterator[T]:
        # SDKs list lazily: errors surface while iterating, so map them here.
        while True:
            try:
                item = next(items)
            except StopIteration:
                return
            except Exception as exc:
                raise self._map(exc, verb, key) from exc
            yield item

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
        return f"{type(self).__name__}(url={self.url!r}, endpoint={endpoint!r})"

    # -- writing --------------------------------------------------------------------
    def _store_body(
        self, key: str, body: bytes, headers: ObjectHeaders, digests: BodyDigests | None
    ) -> ObjectRef:
        """
        Upload `body`: one PUT, or parts above ``multipart_threshold_bytes``.

        Parts are of ``part_size_bytes`` (aborted on failure); memory beyond
        `body` is one part. A single PUT sends `digests` as given and the
        server checks the MD5; a multipart upload hashes each part anyway.
        """
        return self._uploader.body(key, bytes(body), headers, digests)

    def _store_stream(
        self, key: str, stream: BinaryIO, headers: ObjectHeaders, size_bytes: int | None
    ) -> ObjectRef:
        """
        Upload `stream` read to EOF, ``part_concurrency`` parts at once.

        Memory: the head (threshold plus one part at most), then at most
        ``part_concurrency`` parts, the one being read included. Part sizes
        fit 10,000 parts (`size_bytes`, else growing with the part count,
        `objlog.typing.stream_part_bytes`). Each part is retried on its own
        (the store's ``part_retry``). A multipart stream's SHA-256 is known
        only afterwards: in the returned ref, not in the object's metadata.
        Errors raised by ``stream.read`` propagate unchanged, and the stream
        is read by the caller's thread.
        """
        return self._uploader.stream(key, stream, headers, size_bytes)

    # -- reading --------------------------------------------------------------------
    def get_object(self, key: str, *, byte_range: tuple[int, int] | None = None) -> bytes:
        """Return the bytes as stored (never decoded); see `ObjectStore.get_object`."""
        with self._open(key, byte_range) as stream:
            return stream.read()

    def open_object(self, key: str) -> BinaryIO:
        """
        Return a stream of the object; see `ObjectStore.open_object`.

        Read errors surface from the stream's ``read`` as `StoreError`; the
        stream belongs to one thread.
        """
        return self._open(key, None)

    def _open(self, key: str, byte_range: tuple[int, int] | None) -> BinaryIO:
        read, close = self._call("get_object", key, lambda: self._get(key, byte_range))
        raw = MappedStream(read, close, lambda e: self._map(e, "get_object", key))
        return io.BufferedReader(raw, buffer_size=1024 * 1024)

    def head_object(self, key: str) -> ObjectInfo:
        """Return the object's info; see `ObjectStore.head_object`."""
        return self._call("head_object", key, lambda: self._head(key))

    def list_objects(
        self, prefix: str = "", *, start_after: str | None = None
    ) -> Iterator[ObjectInfo]:
        """
        Yield the objects under `prefix`; see `ObjectStore.list_objects`.

        Listings carry key, size, time and ETag; metadata and content
        headers need `head_object`. Each iterator belongs to one thread.
        """
        return self._mapped("list_objects", prefix or None, self._list(prefix, start_after))

    def list_prefixes(self, prefix: str = "", *, delimiter: str = "/") -> Iterator[str]:
        """Yield the common prefixes below `prefix`; see `ObjectStore.list_prefixes`."""
        return self._mapped("list_prefixes", prefix or None, self._list_prefixes(prefix, delimiter))

    # -- deleting, the bucket, closing ------------------------------------------------
    def delete_object(self, key: str) -> None:
        """Delete `key` (a missing key is fine); see `ObjectStore.delete_object`."""
        self._call_allowing("NoSuchKey", "delete_object", key, lambda: self._delete(key))

    def ensure_bucket(self) -> None:
        """
        Create the bucket unless it exists; see `ObjectStore.ensure_bucket`.

        HeadBucket, then CreateBucket with a LocationConstraint outside
        us-east-1. A bucket that is ours already is fine; a name taken by
        another account is a `PermanentStoreError` (``BucketAlreadyExists``).
        """
        if self._call("head_bucket", None, self._bucket_exists):
            return
        location = None if self._config.region == "us-east-1" else self._config.region
        self._call_allowing(
            "BucketAlreadyOwnedByYou", "create_bucket", None, lambda: self._create_bucket(location)
        )

    def close(self) -> None:
        """Close the client's connection pool; call once, after other threads are done."""
        with contextlib.suppress(Exception):
            self._close()
