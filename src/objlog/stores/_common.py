"""
Checksums, metadata and secrets: what every store backend does the same way.

Private: nothing here is a public API. The S3 machinery is in ``_s3`` (the
error ladder, the shared store base) and ``_upload`` (single and multipart
uploads).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping

from objlog.errors import PermanentStoreError
from objlog.typing import BodyDigests

__all__ = [
    "SHA256_META",
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
