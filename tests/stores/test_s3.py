"""The S3 error ladder: S3 responses and SDK exceptions mapped onto objlog's error tree."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import urllib3
from botocore import exceptions as bce
from hypothesis import given
from hypothesis import strategies as st
from minio.error import InvalidResponseError, S3Error, ServerError
from urllib3 import exceptions as u3

from objlog.errors import (
    ObjectNotFoundError,
    PermanentStoreError,
    StoreError,
    TransientStoreError,
)
from objlog.stores._s3 import S3Response, SDKErrorMapper, SDKErrors, classify_s3_error
from objlog.stores.boto3 import map_boto3_error
from objlog.stores.minio import map_minio_error

SECRET = "s3cr3t-k3y"


@pytest.mark.parametrize(
    ("code", "status", "key", "kind", "reason"),
    [
        ("NoSuchKey", 404, "k", ObjectNotFoundError, "NoSuchKey"),
        ("", 404, "k", ObjectNotFoundError, "NoSuchKey"),
        ("404", 404, "k", ObjectNotFoundError, "NoSuchKey"),
        ("NoSuchBucket", 404, "k", PermanentStoreError, "NoSuchBucket"),
        ("", 404, None, PermanentStoreError, "NoSuchBucket"),
        ("AccessDenied", 403, "k", PermanentStoreError, "AccessDenied"),
        ("", 403, "k", PermanentStoreError, "AccessDenied"),
        ("InvalidAccessKeyId", 403, "k", PermanentStoreError, "InvalidCredentials"),
        ("SignatureDoesNotMatch", 403, "k", PermanentStoreError, "InvalidCredentials"),
        ("ExpiredToken", 400, "k", PermanentStoreError, "ExpiredToken"),
        ("InvalidBucketName", 400, None, PermanentStoreError, "InvalidBucketName"),
        ("SlowDown", 503, "k", TransientStoreError, "SlowDown"),
        ("", 503, "k", TransientStoreError, "SlowDown"),
        ("TooManyRequests", 429, "k", TransientStoreError, "SlowDown"),
        ("RequestTimeout", 400, "k", TransientStoreError, "Timeout"),
        ("InternalError", 500, "k", TransientStoreError, "ServerError"),
        ("", 502, "k", TransientStoreError, "ServerError"),
        ("", 504, "k", TransientStoreError, "ServerError"),
        ("InvalidRange", 416, "k", PermanentStoreError, "InvalidRange"),
    ],
)
def test_classify_s3_error(
    code: str, status: int, key: str | None, kind: type, reason: str
) -> None:
    """S3 error codes and statuses map to the right error class and reason."""
    error = classify_s3_error(code, status, "server says no", verb="op", bucket="b", key=key)
    assert (kind, reason) == (type(error), error.reason)
    assert ("b", key) == (error.bucket, error.key)


@given(code=st.sampled_from(["", "Weird", "InternalError"]), status=st.integers(500, 599))
def test_server_errors_are_transient(code: str, status: int) -> None:
    """Any 5xx without a more telling code is transient: the retry policy may try again."""
    error = classify_s3_error(code, status, "", verb="op", bucket="b", key="k")
    assert TransientStoreError is type(error)


@given(code=st.text(max_size=12), status=st.integers(0, 599), key=st.none() | st.just("k"))
def test_classification_is_total(code: str, status: int, key: str | None) -> None:
    """Every (code, status) maps to a StoreError with a reason and the request's bucket and key."""
    error = classify_s3_error(code, status, "", verb="op", bucket="b", key=key)
    assert (True, "b", key) == (bool(error.reason), error.bucket, error.key)


def _boto3_client_error(code: str, status: int) -> BaseException:
    response = {
        "Error": {"Code": code, "Message": f"denied for {SECRET}"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return bce.ClientError(response, "PutObject")  # type: ignore[arg-type]


def _minio_s3_error(code: str, status: int) -> BaseException:
    response = urllib3.HTTPResponse(status=status)
    return S3Error(response, code, f"denied for {SECRET}", "/b/k", "req", "host")


def _unreachable() -> BaseException:
    return u3.MaxRetryError(None, "/b/k", u3.NewConnectionError(None, "refused"))  # type: ignore[arg-type]


#: The same failure as boto3 and as minio raise it, and what objlog makes of it.
SAME_FAILURE: list[tuple[BaseException, BaseException, type[StoreError], str]] = [
    (
        _boto3_client_error("SlowDown", 503),
        _minio_s3_error("SlowDown", 503),
        TransientStoreError,
        "SlowDown",
    ),
    (
        _boto3_client_error("NoSuchKey", 404),
        _minio_s3_error("NoSuchKey", 404),
        ObjectNotFoundError,
        "NoSuchKey",
    ),
    (
        _boto3_client_error("InvalidAccessKeyId", 403),
        _minio_s3_error("InvalidAccessKeyId", 403),
        PermanentStoreError,
        "InvalidCredentials",
    ),
    (
        _boto3_client_error("", 502),
        ServerError("bad gateway", 502),
        TransientStoreError,
        "ServerError",
    ),
    (
        _boto3_client_error("", 500),
        InvalidResponseError(500, "text/html", "<html>"),
        TransientStoreError,
        "ServerError",
    ),
    (
        bce.EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
        _unreachable(),
        TransientStoreError,
        "EndpointUnreachable",
    ),
    (
        bce.ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"),
        u3.ConnectTimeoutError("timed out"),
        TransientStoreError,
        "Timeout",
    ),
    (
        bce.SSLError(endpoint_url="https://127.0.0.1:9", error="bad certificate"),
        u3.SSLError("bad certificate"),
        PermanentStoreError,
        "TLSError",
    ),
    (
        bce.ConnectionClosedError(endpoint_url="http://127.0.0.1:9"),
        u3.ProtocolError("connection aborted"),
        TransientStoreError,
        "ConnectionReset",
    ),
    (
        ConnectionResetError(104, "reset"),
        ConnectionResetError(104, "reset"),
        TransientStoreError,
        "ConnectionReset",
    ),
    (
        bce.NoCredentialsError(),
        ValueError("no credentials found"),
        PermanentStoreError,
        "NoCredentials",
    ),
    (
        bce.ParamValidationError(report="bad key"),
        ValueError("bad key"),
        PermanentStoreError,
        "InvalidRequest",
    ),
    (RuntimeError("odd"), RuntimeError("odd"), PermanentStoreError, "SDKError"),
]


@pytest.mark.parametrize(("boto3_exc", "minio_exc", "kind", "reason"), SAME_FAILURE)
def test_both_sdks_map_the_same_failure_alike(
    boto3_exc: BaseException, minio_exc: BaseException, kind: type[StoreError], reason: str
) -> None:
    """boto3 and minio exceptions for one failure give the same error class and reason."""
    mapped = [
        mapper(exc, verb="put_object", bucket="b", key="k", secrets=(SECRET,))
        for mapper, exc in ((map_boto3_error, boto3_exc), (map_minio_error, minio_exc))
    ]
    assert [(kind, reason, "b", "k")] * 2 == [(type(e), e.reason, e.bucket, e.key) for e in mapped]
    assert [False, False] == [SECRET in str(e) for e in mapped]


def test_credential_retrieval_is_transient() -> None:
    """botocore failing to fetch credentials (e.g. from IMDS) is worth retrying."""
    error = map_boto3_error(
        bce.CredentialRetrievalError(provider="imds", error_msg="timeout"),
        verb="op",
        bucket="b",
        key=None,
    )
    assert (TransientStoreError, "CredentialRetrieval") == (type(error), error.reason)


def test_store_errors_pass_through() -> None:
    """A StoreError raised inside a seam is returned as it is, not mapped again."""
    original = PermanentStoreError("invalid byte range", bucket="b", key="k", reason="InvalidRange")
    assert [original, original] == [
        map_boto3_error(original, verb="op", bucket="x", key="y"),
        map_minio_error(original, verb="op", bucket="x", key="y"),
    ]


def _table(response: Callable[[BaseException], S3Response | None]) -> SDKErrors:
    return SDKErrors(
        response=response,
        unwrap=lambda exc: exc.__cause__ or exc,
        transport=(
            (KeyError, "InvalidRequest"),
            (LookupError, lambda text: "Timeout" if "slow" in text else "ConnectionReset"),
        ),
    )


def test_sdk_error_mapper_follows_the_table() -> None:
    """Responses are classified, unwrapped causes matched in order, reasons may read the text."""
    table = _table(lambda exc: ("SlowDown", 0, "") if isinstance(exc, OSError) else None)
    wrapped = RuntimeError("wrapper")
    wrapped.__cause__ = KeyError("k")
    cases = [OSError(), wrapped, IndexError("slow"), IndexError("gone"), ZeroDivisionError()]
    mapper = SDKErrorMapper(lambda: table)
    mapped = [mapper(exc, verb="op", bucket="b", key="k") for exc in cases]
    assert ["SlowDown", "InvalidRequest", "Timeout", "ConnectionReset", "SDKError"] == [
        e.reason for e in mapped
    ]


def test_a_numeric_code_stands_for_the_status() -> None:
    """An S3 response with a numeric code and no status (HEAD) is classified by that code."""
    table = _table(lambda exc: ("404", 0, ""))
    error = SDKErrorMapper(lambda: table)(Exception(), verb="head_object", bucket="b", key="k")
    assert (ObjectNotFoundError, "NoSuchKey") == (type(error), error.reason)


def test_sdk_attempts_come_from_one_constant_per_store() -> None:
    """botocore's max_attempts and minio's urllib3 Retry both follow SDK_MAX_ATTEMPTS."""
    from objlog.config import StoreConfig
    from objlog.stores import boto3 as boto3_store
    from objlog.stores import minio as minio_store

    config = StoreConfig.resolve(
        "s3://bucket",
        environ={},
        endpoint_url="http://127.0.0.1:9",
        access_key="a",
        secret_key=SECRET,
    )
    boto3 = boto3_store.Boto3Store(config)
    minio = minio_store.MinioStore(config)
    try:
        retries = (
            boto3._client.meta.config.retries["total_max_attempts"],
            minio._http.connection_pool_kw["retries"].total + 1,
        )
    finally:
        boto3.close()
        minio.close()
    assert (boto3_store.SDK_MAX_ATTEMPTS, minio_store.SDK_MAX_ATTEMPTS) == retries


def test_public_mappers_keep_their_signature() -> None:
    """map_boto3_error and map_minio_error are called as (exc, *, verb, bucket, key, secrets=())."""
    import inspect

    expected = ["exc", "verb", "bucket", "key", "secrets"]
    assert [expected, expected] == [
        list(inspect.signature(mapper).parameters) for mapper in (map_boto3_error, map_minio_error)
    ]
