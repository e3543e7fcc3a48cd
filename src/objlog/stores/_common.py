"""
Checksums, metadata, secrets and the write verbs: what every store does the same way.

`StoreBase` implements `ObjectStore.put_object` and `ObjectStore.put_stream`
once, with the Protocol's signatures, and hands each store's own hook the
caller's content headers as one `ObjectHeaders`.

Private: nothing here is a public API. The S3 machinery is in ``_s3`` (the
error ladder, the shared S3 store base) and ``_upload`` (single and
multipart uploads).
"""

from __future__ import annotations

import abc
import base64
import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from typing import BinaryIO

from objlog.errors import PermanentStoreError
from objlog.typing import BodyDigests, ObjectRef

__all__ = [
    "SHA256_META",
    "ObjectHeaders",
    "StoreBase",
    "check_digests",
    "common_prefixes",
    "content_md5",
    "scrub",
    "user_metadata",
]

#: User-metadata key holding objlog's own checksum (hex SHA-256 of the body).
SHA256_META = "objlog-sha256"


def check_digests(
    digests: BodyDigests | None, md5: bytes, sha256: str, *, bucket: str, key: str
) -> None:
    """
    Refuse a body whose MD5 or SHA-256 is not what the caller's `digests` say.

    For stores that hash the body themselves (local, memory), so that a
    wrong `digests` fails there as it does on S3 (which checks Content-MD5).

    Raises:
        PermanentStoreError: Reason ``BadDigest``.
    """
    if digests is None:
        return
    if digests.md5 != base64.b64encode(md5).decode("ascii") or digests.sha256 != sha256:
        raise PermanentStoreError(
            "put_object: the body does not match the digests given (BadDigest)",
            bucket=bucket,
            key=key,
            reason="BadDigest",
        )


def content_md5(data: bytes | memoryview) -> str:
    """Return the base64 MD5 digest for a ``Content-MD5`` header."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def user_metadata(metadata: Mapping[str, str] | None, sha256: str | None) -> dict[str, str]:
    """
    Return user metadata with lower-case keys and ``objlog-sha256`` when known.
    """
    meta = {str(k).lower(): str(v) for k, v in (metadata or {}).items()}
    if sha256 is not None:
        meta[SHA256_META] = sha256
    return meta


def scrub(text: str, secrets: tuple[str | None, ...]) -> str:
    """Replace every occurrence of a secret in `text` with ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def common_prefixes(keys: Iterable[str], prefix: str, delimiter: str) -> list[str]:
    """
    Return S3's ``CommonPrefixes`` of `keys` below `prefix`, sorted and unique.

    Each is `prefix` plus the rest of a key up to and including the first
    `delimiter` after `prefix`; keys not starting with `prefix` or without
    `delimiter` after it yield none (for stores that list without one).
    """
    found = {
        prefix + key[len(prefix) :].split(delimiter, 1)[0] + delimiter
        for key in keys
        if key.startswith(prefix) and delimiter in key[len(prefix) :]
    }
    return sorted(found)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ObjectHeaders:
    """
    Content headers and user metadata of an object being stored.

    Attributes:
        content_type: Content-Type as the caller gave it.
        content_encoding: Content-Encoding, None when absent (an empty one too).
        metadata: User metadata with lower-case keys; ``objlog-sha256`` once
            `with_sha256` has added it.
    """

    content_type: str
    content_encoding: str | None
    metadata: Mapping[str, str]

    @classmethod
    def of(
        cls, content_type: str, content_encoding: str | None, metadata: Mapping[str, str] | None
    ) -> ObjectHeaders:
        """Return the headers for a put's keyword arguments (metadata keys lower-cased)."""
        return cls(
            content_type=content_type,
            content_encoding=content_encoding or None,
            metadata=user_metadata(metadata, None),
        )

    def with_sha256(self, sha256: str | None) -> ObjectHeaders:
        """Return these headers with ``objlog-sha256`` in the metadata (None: unchanged)."""
        if sha256 is None:
            return self
        return dataclasses.replace(self, metadata=user_metadata(self.metadata, sha256))


class StoreBase(abc.ABC):
    """
    The write verbs of `ObjectStore` once, over two hooks each store implements.

    `put_object` and `put_stream` keep the Protocol's signatures, gather the
    content headers into an `ObjectHeaders` and call `_store_body` or
    `_store_stream`; the store checks the key, hashes, checks `digests` and
    stores as it does.

    Thread safety: as the subclass's hooks.
    """

    def put_object(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        content_encoding: str | None = None,
        metadata: Mapping[str, str] | None = None,
        digests: BodyDigests | None = None,
    ) -> ObjectRef:
        """
        Store `body` under `key`, replacing any object there.

        See `objlog.typing.ObjectStore.put_object` for the arguments, the
        result and the errors; the store's ``_store_body`` says how it stores.
        """
        headers = ObjectHeaders.of(content_type, content_encoding, metadata)
        return self._store_body(key, body, headers, digests)

    def put_stream(
        self,
        key: str,
        stream: BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        content_encoding: str | None = None,
        metadata: Mapping[str, str] | None = None,
        size_bytes: int | None = None,
    ) -> ObjectRef:
        """
        Store `stream` read to EOF under `key`.

        See `objlog.typing.ObjectStore.put_stream`; the store's
        ``_store_stream`` says how it reads and stores.
        """
        headers = ObjectHeaders.of(content_type, content_encoding, metadata)
        return self._store_stream(key, stream, headers, size_bytes)

    @abc.abstractmethod
    def _store_body(
        self, key: str, body: bytes, headers: ObjectHeaders, digests: BodyDigests | None
    ) -> ObjectRef:
        """Store `body`; refuse it (``BadDigest``) when `digests` are not its own."""

    @abc.abstractmethod
    def _store_stream(
        self, key: str, stream: BinaryIO, headers: ObjectHeaders, size_bytes: int | None
    ) -> ObjectRef:
        """Store `stream` read to EOF; `size_bytes` is a hint of its size, or None."""
