"""
Uploads to an S3 API: one PUT or a multipart upload, in bounded memory.

An `Uploader` drives any SDK through `UploadCalls`, the five requests an
upload is made of (PutObject, CreateMultipartUpload, UploadPart,
CompleteMultipartUpload, AbortMultipartUpload), so that the boto3 and minio
stores share one routine and tests drive it with function-backed fakes.

Private: nothing here is a public API.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO, cast

from objlog._streams import PrependReader, read_exact
from objlog.errors import PermanentStoreError, StoreError
from objlog.retry import RetryPolicy, retry_call
from objlog.stores._common import ObjectHeaders, content_md5
from objlog.typing import (
    MAX_OBJECT_BYTES,
    MAX_PARTS,
    BodyDigests,
    ObjectRef,
    fitted_part_bytes,
    stream_part_bytes,
)

__all__ = [
    "UploadCalls",
    "Uploader",
    "check_part_count",
    "iter_parts",
]


def iter_parts(
    first: bytes,
    stream: BinaryIO | None,
    part_size_bytes: int,
    *,
    sizes: Callable[[int], int] | None = None,
) -> Iterator[bytes]:
    """
    Yield `first` followed by the rest of `stream` in parts.

    Part ``n`` (from 1) has ``sizes(n)`` bytes (default: `part_size_bytes`
    each), the last one fewer; none is empty. `first` is cut with
    memoryview offsets (one part-sized copy per part, none when `first` is
    exactly one part), and `stream` is read one aligned part at a time, so
    besides `first` at most one part is held here. The caller should drop
    its own references to `first` and to each part it has sent, so that
    memory holds about one part.
    """
    size_of = sizes if sizes is not None else (lambda _n: part_size_bytes)
    number = 1
    total = len(first)
    offset = 0
    if total and total == size_of(1):
        offset, number = total, 2
        yield first
    elif total >= size_of(1):
        view = memoryview(first)
        while total - offset >= size_of(number):
            step = size_of(number)
            yield bytes(view[offset : offset + step])
            offset += step
            number += 1
        view.release()
    tail = first[offset:] if offset else first
    del first
    if stream is None:
        if tail:
            yield tail
        return
    while True:
        want = size_of(number)
        more = read_exact(stream, want - len(tail))
        piece = tail + more if tail and more else (tail or more)
        tail = more = b""
        if not piece:
            return
        yield piece
        if len(piece) < want:
            return
        number += 1
        del piece


def check_part_count(number: int, *, bucket: str, key: str, part_size_bytes: int) -> None:
    """
    Raise if part `number` would exceed S3's 10,000-part limit.

    Raises:
        PermanentStoreError: Too many parts; the message says to raise the part size.
    """
    if number > MAX_PARTS:
        raise _too_many_parts(bucket, key, part_size_bytes, MAX_PARTS)


def _too_many_parts(bucket: str, key: str, part_size_bytes: int, limit: int) -> PermanentStoreError:
    return PermanentStoreError(
        f"object needs more than {limit} parts of {part_size_bytes} bytes "
        "(S3 limit); raise part_size_bytes, or pass the stream's size",
        bucket=bucket,
        key=key,
        reason="TooManyParts",
    )


def _too_large(bucket: str, key: str, size: int) -> PermanentStoreError:
    return PermanentStoreError(
        f"object of {size} bytes is larger than S3's limit of {MAX_OBJECT_BYTES} bytes (5 TiB)",
        bucket=bucket,
        key=key,
        reason="EntityTooLarge",
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
        part_size_bytes: The configured part size (see `fitted_part_bytes`
            and `stream_part_bytes` for the sizes actually used).
        part_concurrency: Parts held at once, the one being read included
            (default 1: read and sent by the calling thread, one at a time);
            with N, up to N - 1 parts upload while the next one is read.
        part_retry: Retry policy for each UploadPart of a `stream` upload on
            its own (default None: one attempt; the caller retries the whole
            upload). `body` uploads (``put_object``) never retry parts: their
            caller, the writer engine, retries with its own deadlines.
        sleep: Waits between part retries (default `time.sleep`).
        max_parts: The part limit (default S3's 10,000; tests use less).

    Thread safety: immutable; each upload's state is its own.
    """

    calls: UploadCalls
    bucket: str
    multipart_threshold_bytes: int
    part_size_bytes: int
    part_concurrency: int = 1
    part_retry: RetryPolicy | None = None
    sleep: Callable[[float], None] = time.sleep
    max_parts: int = MAX_PARTS

    def body(
        self, key: str, body: bytes, headers: ObjectHeaders, digests: BodyDigests | None = None
    ) -> ObjectRef:
        """
        Upload `body`: one PUT up to the threshold, else a multipart upload.

        The SHA-256 is known first, so it goes into ``objlog-sha256`` either
        way. Parts are cut from `body` by offset, sized to fit `max_parts`:
        memory beyond `body` is `part_concurrency` parts at most. A single PUT takes
        both digests from `digests` when given (the server checks the MD5);
        a multipart upload hashes `body` itself, since each part needs its
        own MD5 anyway.

        Raises:
            TransientStoreError: As mapped by ``calls.map_error``.
            PermanentStoreError: As mapped (``BadDigest`` when `digests` is
                not the body's), or ``EntityTooLarge`` above 5 TiB.
        """
        if len(body) > MAX_OBJECT_BYTES:
            raise _too_large(self.bucket, key, len(body))
        single = len(body) <= self.multipart_threshold_bytes
        if digests is not None and single:
            return self._single_put(key, body, headers, digests.sha256, digests.md5)
        digest = hashlib.sha256(body).hexdigest()
        if single:
            return self._single_put(key, body, headers, digest)
        part = fitted_part_bytes(len(body), self.part_size_bytes, max_parts=self.max_parts)
        parts = iter_parts(body, None, part)
        # No per-part retry here: the writer engine, put_object's caller, has its
        # own retry and shutdown deadline, which a retry loop inside must not stretch.
        ref = self._multipart(key, parts, _sealed(headers, digest), part, retry_parts=False)
        if ref.sha256 != digest:  # pragma: no cover - defensive
            raise PermanentStoreError(
                "multipart upload hashed differently than its body", bucket=self.bucket, key=key
            )
        return ref

    def stream(
        self, key: str, stream: BinaryIO, headers: ObjectHeaders, size_bytes: int | None = None
    ) -> ObjectRef:
        """
        Upload `stream` read to EOF: one PUT up to the threshold, else multipart.

        Reads are aligned on parts. With a threshold below the part size, one
        part is read and decides; otherwise the threshold is read, then the
        bytes completing the part it ends in: nothing more means one PUT (with
        ``objlog-sha256``), anything more a multipart upload (the SHA-256 is
        then known only afterwards: in the ref, not the metadata).

        Part sizes: with `size_bytes` (an upper bound of the stream's size,
        checked against 5 TiB before any byte is read) one size chosen to
        fit `max_parts` (`fitted_part_bytes`); without it, sizes growing with
        the part count (`stream_part_bytes`). Memory: the head (threshold
        plus one part at most), then `part_concurrency` parts at most, the
        one being read included.

        Raises:
            TransientStoreError: As mapped by ``calls.map_error`` (a part
                after `part_retry` gave up on it).
            PermanentStoreError: As mapped; ``EntityTooLarge`` when
                `size_bytes` or the bytes read pass 5 TiB; ``TooManyParts``
                when a stream longer than its `size_bytes` runs out of parts.
            Exception: Whatever reading `stream` raises, unchanged (the upload
                is aborted).
        """
        sizes: Callable[[int], int] | None
        if size_bytes is not None:
            if size_bytes > MAX_OBJECT_BYTES:
                raise _too_large(self.bucket, key, size_bytes)
            part = fitted_part_bytes(
                max(size_bytes, 0), self.part_size_bytes, max_parts=self.max_parts
            )
            sizes = None
        else:
            part = self.part_size_bytes
            base, limit = part, self.max_parts

            def sizes(number: int) -> int:
                return stream_part_bytes(number, base, max_parts=limit)

        threshold = self.multipart_threshold_bytes
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
        parts = iter_parts(head, rest, part, sizes=sizes)
        del head, rest  # the part iterator holds them only as long as it needs them
        # `objlog._tarball.PipeReader` hashes the archive for its trailer anyway.
        hashed = getattr(stream, "sha256_hexdigest", None)
        return self._multipart(key, parts, _sealed(headers, None), part, hashed, retry_parts=True)

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

    def _send_part(
        self, key: str, upload_id: str, number: int, part: bytes, retry_parts: bool
    ) -> str:
        """UploadPart `number`, mapped, retried on its own by `part_retry`."""
        md5 = content_md5(part)

        def attempt() -> str:
            try:
                return self.calls.upload_part(key, upload_id, number, part, md5)
            except Exception as exc:
                raise self.calls.map_error(exc, "upload_part", key) from exc

        if self.part_retry is None or not retry_parts:
            return attempt()
        return retry_call(attempt, self.part_retry, sleep=self.sleep)

    def _multipart(
        self,
        key: str,
        parts: Iterator[bytes],
        headers: ObjectHeaders,
        part_size_bytes: int,
        hashed: Callable[[], str | None] | None = None,
        *,
        retry_parts: bool,
    ) -> ObjectRef:
        """
        Upload `parts` as one multipart upload; `hashed` gives their SHA-256 at the end.

        With `hashed` (a stream that hashes what it returns, as the result
        archive's pipe does for its trailer), the bytes are not hashed again.
        """
        calls = self.calls
        try:
            upload_id = calls.create(key, headers)
        except Exception as exc:
            raise calls.map_error(exc, "create_multipart_upload", key) from exc
        flight = _Flight(self, key, upload_id, retry_parts)
        sha = hashlib.sha256() if hashed is None else None
        size = 0
        count = 0
        try:
            while True:
                # A slot first, then the read: the part being read counts
                # against the bound, so memory holds part_concurrency parts.
                flight.reserve()
                # Reading the caller's stream: its errors stay its own.
                part = next(parts, None)
                if part is None:
                    flight.unreserve()
                    break
                count += 1
                if count > self.max_parts:
                    raise _too_many_parts(self.bucket, key, part_size_bytes, self.max_parts)
                size += len(part)
                if size > MAX_OBJECT_BYTES:
                    raise _too_large(self.bucket, key, size)
                if sha is not None:
                    sha.update(part)
                flight.send(count, part)
                del part  # the next read must not hold one more part
            sent = flight.finish()
            try:
                done = calls.complete(key, upload_id, sent)
            except Exception as exc:
                raise calls.map_error(exc, "complete_multipart_upload", key) from exc
        except BaseException:
            flight.cancel()
            with contextlib.suppress(Exception):
                calls.abort(key, upload_id)
            raise
        finally:
            # Free what the part iterator holds (e.g. a failed stream's buffers).
            close = getattr(parts, "close", None)
            if close is not None:
                close()
        digest = sha.hexdigest() if sha is not None else hashed() if hashed is not None else None
        if digest is None:  # pragma: no cover - the stream ended without its digest
            raise PermanentStoreError(
                "the stream's SHA-256 is unknown after its end", bucket=self.bucket, key=key
            )
        # Ceph RGW answers CompleteMultipartUpload with an empty ETag: informational only.
        return ObjectRef(
            bucket=self.bucket,
            key=key,
            size=size,
            sha256=digest,
            etag=done.strip('"'),
            parts=len(sent),
        )


class _Flight:
    """
    The parts of one multipart upload in flight: at most ``part_concurrency``.

    `reserve` blocks while that many parts are held (backpressure, as
    s3transfer's bounded executor); the caller reserves before reading the
    next part and `send` uses that slot, so memory holds at most
    ``part_concurrency`` parts, the one being read included. The first part
    failure is raised by the next `reserve` or by `finish`; parts not yet
    started are then dropped.
    """

    def __init__(self, uploader: Uploader, key: str, upload_id: str, retry_parts: bool) -> None:
        self._uploader = uploader
        self._retry_parts = retry_parts
        self._key = key
        self._upload_id = upload_id
        self._etags: dict[int, str] = {}
        self._concurrency = uploader.part_concurrency
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(self._concurrency)
        self._futures: list[concurrent.futures.Future[str]] = []
        self._failed: list[BaseException] = []
        self._lock = threading.Lock()

    def reserve(self) -> None:
        """Wait for a free slot (raise the first part failure, if any)."""
        if self._concurrency <= 1:
            return
        self._slots.acquire()
        if self._failed:
            self._slots.release()
            raise self._failed[0]

    def unreserve(self) -> None:
        """Give back the slot `reserve` took when there was no part to send."""
        if self._concurrency > 1:
            self._slots.release()

    def send(self, number: int, part: bytes) -> None:
        """Upload part `number` in a slot `reserve` took (inline with one slot)."""
        if self._concurrency <= 1:
            self._etags[number] = self._uploader._send_part(
                self._key, self._upload_id, number, part, self._retry_parts
            )
            return
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                self._concurrency, thread_name_prefix="objlog-part"
            )
        future = self._pool.submit(self._run, number, part)
        self._futures.append(future)

    def _run(self, number: int, part: bytes) -> str:
        try:
            etag = self._uploader._send_part(
                self._key, self._upload_id, number, part, self._retry_parts
            )
            with self._lock:
                self._etags[number] = etag
            return etag
        except BaseException as exc:
            with self._lock:
                self._failed.append(exc)
            raise
        finally:
            del part
            self._slots.release()

    def finish(self) -> list[tuple[int, str]]:
        """Wait for every part; return ``[(number, etag)]`` in order, or raise the first failure."""
        concurrent.futures.wait(self._futures)
        self._shutdown(cancel=False)
        if self._failed:
            raise self._failed[0]
        return sorted(self._etags.items())

    def cancel(self) -> None:
        """Drop parts not started and wait for those running (before the abort)."""
        self._shutdown(cancel=True)

    def _shutdown(self, *, cancel: bool) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None
        self._futures.clear()
