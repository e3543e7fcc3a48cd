"""What every store does alike: Content-MD5, digest checks, user metadata, scrubbing secrets."""

from __future__ import annotations

import hashlib
import inspect

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from objlog.errors import PermanentStoreError
from objlog.stores._common import (
    SHA256_META,
    ObjectHeaders,
    StoreBase,
    check_digests,
    common_prefixes,
    content_md5,
    scrub,
    user_metadata,
)
from objlog.stores.boto3 import Boto3Store
from objlog.stores.local import LocalStore
from objlog.stores.memory import MemoryStore
from objlog.stores.minio import MinioStore
from objlog.typing import BodyDigests, ObjectStore


def test_content_md5_is_base64_of_the_digest() -> None:
    """Content-MD5 is the base64 of the binary MD5 (RFC 1864)."""
    assert "XUFAKrxLKna5cZ2REBfFkg==" == content_md5(b"hello")


def test_scrub_removes_secrets() -> None:
    """scrub replaces every secret occurrence and ignores empty ones."""
    assert "a *** b *** c" == scrub("a S b T c", ("S", None, "", "T"))


@given(body=st.binary(max_size=2048))
def test_check_digests_accepts_the_bodys_own(body: bytes) -> None:
    """The digests BodyDigests.of computes pass the check, and so does no digests at all."""
    md5 = hashlib.md5(body, usedforsecurity=False).digest()
    sha256 = hashlib.sha256(body).hexdigest()
    assert content_md5(body) == BodyDigests.of(body).md5
    assert None is check_digests(BodyDigests.of(body), md5, sha256, bucket="b", key="k")
    assert None is check_digests(None, md5, sha256, bucket="b", key="k")


@given(body=st.binary(max_size=512), other=st.binary(max_size=512))
def test_check_digests_refuses_another_bodys(body: bytes, other: bytes) -> None:
    """Digests of another body are refused with reason BadDigest, as S3 refuses a wrong MD5."""
    assume(body != other)
    md5 = hashlib.md5(body, usedforsecurity=False).digest()
    sha256 = hashlib.sha256(body).hexdigest()
    with pytest.raises(PermanentStoreError) as info:
        check_digests(BodyDigests.of(other), md5, sha256, bucket="b", key="k")
    assert ("BadDigest", "b", "k") == (info.value.reason, info.value.bucket, info.value.key)


@given(
    metadata=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=5),
    sha256=st.one_of(st.none(), st.text(min_size=64, max_size=64)),
)
def test_user_metadata_lowers_keys_and_adds_the_sha(
    metadata: dict[str, str], sha256: str | None
) -> None:
    """Keys are lower-cased; objlog-sha256 is set exactly when the SHA-256 is known."""
    expected = {k.lower(): v for k, v in metadata.items()}
    if sha256 is not None:
        expected[SHA256_META] = sha256
    assert expected == user_metadata(metadata, sha256)


@given(
    keys=st.lists(st.text(alphabet="ab/-", max_size=8), max_size=20),
    prefix=st.text(alphabet="ab/", max_size=3),
    delimiter=st.sampled_from(["/", "-", "b/"]),
)
def test_common_prefixes_are_what_s3_lists(keys: list[str], prefix: str, delimiter: str) -> None:
    """Sorted, unique, each the prefix plus one step to a delimiter, covering every deeper key."""
    found = common_prefixes(keys, prefix, delimiter)
    assert sorted(set(found)) == found
    for common in found:
        rest = common[len(prefix) :]
        assert common.startswith(prefix) and rest.endswith(delimiter)
        assert delimiter not in rest[: -len(delimiter)]
    deeper = [k for k in keys if k.startswith(prefix) and delimiter in k[len(prefix) :]]
    assert all(any(k.startswith(c) for c in found) for k in deeper)


@given(
    metadata=st.one_of(
        st.none(),
        st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=5),
    ),
    encoding=st.one_of(st.none(), st.sampled_from(["", "gzip"])),
    sha256=st.one_of(st.none(), st.text(min_size=64, max_size=64)),
)
def test_object_headers_gather_a_puts_arguments(
    metadata: dict[str, str] | None, encoding: str | None, sha256: str | None
) -> None:
    """ObjectHeaders.of lower-cases metadata and drops an empty encoding; the sha goes in last."""
    headers = ObjectHeaders.of("text/plain", encoding, metadata).with_sha256(sha256)
    expected = ObjectHeaders(
        content_type="text/plain",
        content_encoding=encoding or None,
        metadata=user_metadata(metadata, sha256),
    )
    assert expected == headers


@pytest.mark.parametrize("store_class", [Boto3Store, LocalStore, MemoryStore, MinioStore])
@pytest.mark.parametrize("verb", ["put_object", "put_stream"])
def test_store_base_keeps_the_protocols_signatures(store_class: type, verb: str) -> None:
    """Every store's put_object and put_stream come from StoreBase with ObjectStore's signature."""
    expected = inspect.signature(getattr(ObjectStore, verb))
    assert (True, expected) == (
        issubclass(store_class, StoreBase),
        inspect.signature(getattr(store_class, verb)),
    )
