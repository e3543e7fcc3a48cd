"""
Uploads to an S3 API: one PUT or a multipart upload, in bounded memory.

An `Uploader` drives any SDK through `UploadCalls`, the five requests an
upload is made of (PutObject, CreateMultipartUpload, UploadPart,
CompleteMultipartUpload, AbortMultipartUpload), so that the boto3 and minio
stores share one routine and tests drive it with function-backed fakes.

Private: nothing here is a public API.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from typing import BinaryIO, cast

from objlog._streams import PrependReader, read_exact
from objlog.errors import PermanentStoreError, StoreError
from objlog.stores._common import ObjectHeaders, content_md5
from objlog.typing import MAX_PARTS, BodyDigests, ObjectRef

__all__ = [
    "UploadCalls",
    "Uploader",
    "check_part_count",
    "iter_parts",
]


def iter_parts(first: bytes, stream: BinaryIO | None, part_size_bytes: int) -> Iterator[bytes]:
    """
    Yield `first` followed by the rest of `stream` in parts of `part_size_bytes`.

    Every part but the last has exactly `part_size_bytes`; none is empty.
    `first` is cut with memoryview offsets (one part-sized copy per part,
    none when `first` is exactly one part), and `stream` is read one aligned
    part at a time, so besides `first` at most one part is held here. The
    caller should drop its own references to `first` and to each part it
    has sent, so that memory holds about one part.
    """
    size = len(first)
    whole = size - size % part_size_bytes
    if whole == part_size_bytes == size:
        yield first
    elif whole:
        view = memoryview(first)
        for offset in range(0, whole, part_size_bytes):
            yield bytes(view[offset : offset + part_size_bytes])
        view.release()
    tail = first[whole:] if whole else first
    del first
    if stream is None:
        if tail:
            yield tail
        return
    while True:
        more = read_exact(stream, part_size_bytes - len(tail))
        piece = tail + more if tail and more else (tail or more)
        tail = more = b""
        if not piece:
            return
        yield piece
        if len(piece) < part_size_bytes:
            return
        del piece


def check_part_count(number: int, *, bucket: str, key: str, part_size_bytes: int) -> None:
    """
    Raise if part `number` would exceed S3's 10,000-part limit.

    Raises:
        PermanentStoreError: Too many parts; the message says to raise the part size.
    """
    if number > MAX_PARTS:
        raise PermanentStoreError(
            f"object needs more than {MAX_PARTS} parts of {part_size_bytes} bytes "
            "(S3 limit); raise part_size_bytes",
            bucket=bucket,
            key=key,
            reason="TooManyParts",
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class UploadCalls:
    """
    The SDK requests an upload is made of; each raises the SDK's own errors.

    Attributes:
        put: ``put(key, body, content_md5, headers) -> etag``: one PutObject.
        create: ``create(key, headers) -> upload_id``: CreateMultipartUpload.
        upload_part: ``upload_part(key, upload_id, number, body, content_md5)
            -> etag``: UploadPart.
        complete: ``complete(key, upload_id, [(number, etag), ...]) -> etag``
            ("" when the server sends none): CompleteMultipartUpload.
        abort: ``abort(key, upload_id)``: AbortMultipartUpload.
        map_error: ``map_error(exc, verb, key) -> StoreError``: the backend's
            error mapper.
    """

    put: Callable[[str, bytes, str, ObjectHeaders], str]
    create: Callable[[str, ObjectHeaders], str]
    upload_part: Callable[[str, str, int, bytes, str], str]
    complete: Callable[[str, str, list[tuple[int, str]]], str]
    abort: Callable[[str, str], None]
    map_error: Callable[[BaseException, str, str | None], StoreError]


def _sealed(headers: ObjectHeaders, sha256: str | None) -> ObjectHeaders:
    """The headers as sent: a Content-Type always, ``objlog-sha256`` when known."""
    headers = headers.with_sha256(sha256)
    if headers.content_type:
        return headers
    return dataclasses.replace(headers, content_type="application/octet-stream")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Uploader:
    """
    Uploads to one bucket through one SDK: one PUT up to a threshold, else parts.

    Attributes:
        calls: The SDK's requests.
        bucket: The bucket, for refs and errors.
        multipart_threshold_bytes: The largest body sent in one PUT.
        part_size_bytes: The size of every part but the last.

    Thread safety: immutable; each upload's state is its own.
    """

    calls: UploadCalls
    bucket: str
    multipart_threshold_bytes: int
    part_size_bytes: int

    def body(
        self, key: str, body: bytes, headers: ObjectHeaders, digests: BodyDigests | None = None
    ) -> ObjectRef:
        """
        Upload `body`: one PUT up to the threshold, else a multipart upload.

        The SHA-256 is known first, so it goes into ``objlog-sha256`` either
        way. Parts are cut from `body` by offset: memory beyond `body` is one
        part. A single PUT takes both digests from `digests` when given (the
        server checks the MD5); a multipart upload hashes `body` itself,
        since each part needs its own MD5 anyway.

        Raises:
            TransientStoreError: As mapped by ``calls.map_error``.
            PermanentStoreError: As mapped (``BadDigest`` when `digests` is
                not the body's), or more than 10,000 parts.
        """
        single = len(body) <= self.multipart_threshold_bytes
        if digests is not None and single:
            return self._single_put(key, body, headers, digests.sha256, digests.md5)
        digest = hashlib.sha256(body).hexdigest()
        if single:
            return self._single_put(key, body, headers, digest)
        parts = iter_parts(body, None, self.part_size_bytes)
        ref = self._multipart(key, parts, _sealed(headers, digest))
        if ref.sha256 != digest:  # pragma: no cover - defensive
            raise PermanentStoreError(
                "multipart upload hashed differently than its body", bucket=self.bucket, key=key
            )
        return ref

    def stream(self, key: str, stream: BinaryIO, headers: ObjectHeaders) -> ObjectRef:
        """
        Upload `stream` read to EOF: one PUT up to the threshold, else multipart.

        Reads are aligned on parts. With a threshold below the part size, one
        part is read and decides; otherwise the threshold is read, then the
        bytes completing the part it ends in: nothing more means one PUT (with
        ``objlog-sha256``), anything more a multipart upload (the SHA-256 is
        then known only afterwards: in the ref, not the metadata). Memory:
        two parts while the first part goes up when the threshold equals the
        part size (the default), one part with a smaller threshold, the
        threshold plus two parts with a larger one; about one part after that.

        Raises:
            TransientStoreError: As mapped by ``calls.map_error``.
            PermanentStoreError: As mapped, or more than 10,000 parts.
            Exception: Whatever reading `stream` raises, unchanged (the upload
                is aborted).
        """
        threshold, part = self.multipart_threshold_bytes, self.part_size_bytes
        rest: BinaryIO = stream
        if threshold < part:
            head = read_exact(stream, part)
            single = len(head) <= threshold
        else:
            head = read_exact(stream, threshold)
            single = len(head) < threshold
            if not single:
                probe = read_exact(stream, part - threshold % part)
                single = not probe
                if probe:
                    rest = cast(BinaryIO, PrependReader(probe, stream))
                del probe
        if single:
            return self._single_put(key, head, headers, hashlib.sha256(head).hexdigest())
        parts = iter_parts(head, rest, part)
        del head, rest  # the part iterator holds them only as long as it needs them
        return self._multipart(key, parts, _sealed(headers, None))

    def _single_put(
        self, key: str, body: bytes, headers: ObjectHeaders, sha256: str, md5: str | None = None
    ) -> ObjectRef:
        try:
            etag = self.calls.put(key, body, md5 or content_md5(body), _sealed(headers, sha256))
        except Exception as exc:
            raise self.calls.map_error(exc, "put_object", key) from exc
        return ObjectRef(
            bucket=self.bucket, key=key, size=len(body), sha256=sha256, etag=etag.strip('"')
        )

    def _multipart(self, key: str, parts: Iterator[bytes], headers: ObjectHeaders) -> ObjectRef:
        calls = self.calls
        try:
            upload_id = calls.create(key, headers)
        except Exception as exc:
            raise calls.map_error(exc, "create_multipart_upload", key) from exc
        sha = hashlib.sha256()
        size = 0
        sent: list[tuple[int, str]] = []
        verb: str | None = None
        try:
            while True:
                verb = None  # reading the caller's stream: its errors stay its own
                part = next(parts, None)
                if part is None:
                    break
                number = len(sent) + 1
                check_part_count(
                    number, bucket=self.bucket, key=key, part_size_bytes=self.part_size_bytes
                )
                verb = "upload_part"
                etag = calls.upload_part(key, upload_id, number, part, content_md5(part))
                sent.append((number, etag))
                sha.update(part)
                size += len(part)
                del part  # the next read must not hold two parts
            verb = "complete_multipart_upload"
            done = calls.complete(key, upload_id, sent)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                calls.abort(key, upload_id)
            if verb is not None and isinstance(exc, Exception):
                raise calls.map_error(exc, verb, key) from exc
            raise
        finally:
            # Free what the part iterator holds (e.g. a failed stream's buffers).
            close = getattr(parts, "close", None)
            if close is not None:
                close()
        # Ceph RGW answers CompleteMultipartUpload with an empty ETag: informational only.
        return ObjectRef(
            bucket=self.bucket,
            key=key,
            size=size,
            sha256=sha.hexdigest(),
            etag=done.strip('"'),
            parts=len(sent),
        )
