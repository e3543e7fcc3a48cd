"""
The result writer: pipeline-step outputs stored as ``.tgz`` objects.

A result lands at ``[PREFIX/]artifacts/<pipelinerun>/<task>/<name>.tgz``, the
key Kubeflow Pipelines on Tekton reads (kfp-tekton ``metadata_writer.py``).
Unlike the Go original, which wrote plain gzip under that name, the object is
a real gzip-compressed tar whose FIRST member is the payload, the Argo / KFP v1
artifact convention: ``tar -xzf`` extracts it, and the KFP UI, which shows the
first tar record of a gunzipped object (``frontend/server/minio-helper.ts``),
shows it.

Archives are deterministic: the same input gives the same bytes (with the same
zlib). Every member has mtime `RESULT_MTIME` (0, the Unix epoch), uid/gid 0,
empty owner names, mode 0o644 (files), 0o755 (directories) or 0o777
(symbolic links); directory trees are stored in sorted order; the gzip header
carries mtime 0 and no file name (``objlog._tarball`` builds, reads and
extracts the archives).

Large inputs stream: a producer thread writes tar+gzip into a bounded
in-memory pipe (`PIPE_CAPACITY_BYTES`) that the store's ``put_stream`` reads
one part at a time, so compression and upload overlap and memory stays
constant whatever the size of the input. The tar stream is compressed as
gzip members of `MEMBER_BYTES` on every core (ISA-L for levels 1-3 when
installed), the same bytes whatever the thread count; the store sends
``part_concurrency`` parts at once, each retried on its own, with a part
size chosen from the archive's size bound so that any size S3 allows fits.

Integrity: every archive ends with an empty gzip member whose extra field
holds the SHA-256 of the bytes before it (`objlog._tarball.trailer`), and a
single-PUT object also carries ``objlog-sha256`` metadata; `read`, `open`
(at the payload's end) and `extract` check both and fail with a
`PermanentStoreError` of reason ``"ChecksumMismatch"``. Objects above
`RANGE_BYTES` are downloaded with ``part_concurrency`` ranged GETs at once,
read in order as they arrive.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar, cast

from objlog._layout import artifact_key, artifacts_prefix, validate_segment
from objlog._tarball import (
    DIR_MODE,
    FILE_MODE,
    LINK_MODE,
    MEMBER_BYTES,
    PIPE_CAPACITY_BYTES,
    READ_BYTES,
    RESULT_MTIME,
    Entry,
    Payload,
    Progress,
    Verifier,
    archive_bound,
    extract_archive,
    open_payload,
    plan,
    stream_archive,
)
from objlog.config import MAX_PART_CONCURRENCY, StoreConfig
from objlog.errors import ConfigError, PermanentStoreError
from objlog.retry import RetryPolicy, retry_call
from objlog.stores._common import SHA256_META
from objlog.stores._download import RANGE_BYTES, RangedReader
from objlog.typing import MAX_OBJECT_BYTES, ObjectInfo, ObjectRef, ObjectStore

__all__ = [
    "CONTENT_TYPE",
    "DIR_MODE",
    "FILE_MODE",
    "LINK_MODE",
    "MEMBER_BYTES",
    "PIPE_CAPACITY_BYTES",
    "RANGE_BYTES",
    "RESULT_MTIME",
    "ResultWriter",
]

#: Content-Type of result objects.
CONTENT_TYPE = "application/gzip"

_T = TypeVar("_T")


class ResultWriter:
    """
    Store pipeline-step results as ``.tgz`` objects and read them back.

    Args:
        store: A store URL (``s3://bucket/prefix``, ``file:///dir``), an
            `ObjectStore`, or None for the configured default (see
            `objlog.stores.open_store`). A store opened here from a URL is
            closed by `close`; a store passed in is left open.
        compresslevel: gzip level 0 (stored, for already compressed data) to
            9 (default 6).
        threads: Threads compressing gzip members at once (default None: the
            CPU count); the archive's bytes do not depend on it.
        part_concurrency: Ranged GETs in flight when reading an object above
            `RANGE_BYTES` (default None: the store config's
            ``part_concurrency``, 1 for stores without one, e.g. local and
            memory). Uploads use the store's own setting.
        retry: Retry policy for store requests (default `RetryPolicy()`).
        clock: Monotonic seconds for retry deadlines (default `time.monotonic`).
        sleep: Waits between retries (default `time.sleep`).

    Raises:
        ConfigError: `compresslevel`, `threads` or `part_concurrency` is out
            of range, or the store URL or its configuration is invalid.
        MissingBackendError: The SDK the store URL needs is not installed.
        StoreError: Opening a store URL with ``create_bucket`` failed
            (`TransientStoreError` or `PermanentStoreError`).

    Thread safety: every method may be called from several threads at once;
    each write runs its own producer thread. For asyncio, `awrite`, `aclose`
    and ``async with`` run the blocking calls in a worker thread.
    """

    def __init__(
        self,
        store: str | ObjectStore | None = None,
        *,
        compresslevel: int = 6,
        threads: int | None = None,
        part_concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if isinstance(compresslevel, bool) or not isinstance(compresslevel, int):
            raise ConfigError(f"compresslevel must be an int 0..9, got {compresslevel!r}")
        if not 0 <= compresslevel <= 9:
            raise ConfigError(f"compresslevel must be 0..9, got {compresslevel}")
        for label, value in (("threads", threads), ("part_concurrency", part_concurrency)):
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 1 <= value <= MAX_PART_CONCURRENCY
            ):
                raise ConfigError(
                    f"{label} must be an int 1..{MAX_PART_CONCURRENCY} or None, got {value!r}"
                )
        self._compresslevel = compresslevel
        self._threads = threads
        self._retry = retry if retry is not None else RetryPolicy()
        self._clock = clock if clock is not None else time.monotonic
        self._sleep = sleep if sleep is not None else time.sleep
        if store is None or isinstance(store, str):
            from objlog.stores import open_store

            self._store = open_store(store)
            self._owns_store = True
        else:
            self._store = store
            self._owns_store = False
        if part_concurrency is None:
            config = getattr(self._store, "config", None)
            part_concurrency = config.part_concurrency if isinstance(config, StoreConfig) else 1
        self._part_concurrency = part_concurrency

    @property
    def store(self) -> ObjectStore:
        """The store results are written to."""
        return self._store

    def __repr__(self) -> str:
        return f"ResultWriter(store={self._store.url!r}, compresslevel={self._compresslevel})"

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """
        Close the store if this writer opened it from a URL; idempotent.

        Thread safety: call once no other method is running.
        """
        if self._owns_store:
            self._owns_store = False
            self._store.close()

    # asyncio: the blocking calls run in the loop's default executor (a worker
    # thread), so a slow store never blocks the event loop.
    async def __aenter__(self) -> ResultWriter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """
        Await `close` off the event loop (closing an SDK client may release sockets).

        Runs in a worker thread of the loop's default executor
        (``asyncio.to_thread``); idempotent, like `close`. A cancelled
        ``aclose`` returns at once and the close still completes in its thread.

        Thread safety: call once no other method is running.
        """
        import asyncio  # loaded already wherever a coroutine runs: no cost for sync users

        await asyncio.to_thread(self.close)

    async def awrite(
        self,
        pipelinerun: str,
        task: str,
        name: str,
        data: bytes | str | os.PathLike[str],
        *,
        progress: Progress | None = None,
    ) -> ObjectRef:
        """
        Await `write` (store `data` as a result) off the event loop.

        Same arguments, result and errors as `write`; the archive is built
        and uploaded in a worker thread of the loop's default executor
        (``asyncio.to_thread``) plus `write`'s own producer thread, so the
        loop is never blocked. Use ``asyncio.to_thread`` likewise for `read`,
        `open` and `extract`.

        Args:
            pipelinerun: The pipeline run (one key segment).
            task: The task (one key segment).
            name: The result name (one key segment, without ``.tgz``).
            data: The payload: bytes, str, or an `os.PathLike` to a file or
                directory.
            progress: As for `write` (called from the producer thread).

        Returns:
            The stored object's bucket, key, size (bytes) and SHA-256.

        Raises:
            ConfigError: A name or `data` is invalid (see `write`).
            TransientStoreError: The store kept failing transiently.
            PermanentStoreError: The store refused the request.
            OSError: A source file could not be read while uploading.

        Cancellation: cancelling the awaiting task returns at once; the
        upload goes on in its thread and either stores the whole object or
        none of it (S3 PUTs and completed multipart uploads are atomic).

        Thread safety: as `write`; call from a coroutine on any event loop.
        """
        import asyncio

        return await asyncio.to_thread(self.write, pipelinerun, task, name, data, progress=progress)

    def key(self, pipelinerun: str, task: str, name: str) -> str:
        """
        Return the key of a result: ``[PREFIX/]artifacts/<pipelinerun>/<task>/<name>.tgz``.

        The layout is the KFP-on-Tekton contract; ``PREFIX`` is the store's prefix.

        Args:
            pipelinerun: The pipeline run (one key segment).
            task: The task of the run (one key segment).
            name: The result name (one key segment, without ``.tgz``).

        Returns:
            The full key within the store's bucket.

        Raises:
            ConfigError: (a ValueError) a name is empty, ``.`` or ``..``,
                contains ``/``, ``\\``, a control, bidi, zero-width or line
                separator character, or a lone surrogate, or is longer than
                256 UTF-8 bytes; or the key would be longer than S3's limit of
                1,024 UTF-8 bytes (`objlog._layout.validate_segment`,
                `objlog._layout.check_key_length`). Every method that takes
                names checks them this way before any request.

        Thread safety: pure; call from any thread.
        """
        return artifact_key(self._store.prefix, pipelinerun, task, name)

    def list_results(self, pipelinerun: str, task: str) -> dict[str, ObjectInfo]:
        """
        Return the results stored for `task` of `pipelinerun`, by name, sorted by name.

        Every ``<name>.tgz`` object directly under
        ``[PREFIX/]artifacts/<pipelinerun>/<task>/`` counts (the KFP-on-Tekton
        layout); other objects there, and names `key` would refuse (so no
        name shown can hold a control or bidi character), are left out.

        Args:
            pipelinerun: The pipeline run.
            task: The task.

        Returns:
            ``{name: ObjectInfo}``; each info has the key, the stored
            (compressed) size in bytes and the time the store wrote it.
            Empty when the task has no result.

        Raises:
            ConfigError: `pipelinerun` or `task` is invalid (see `key`).
            PermanentStoreError: The store refused the listing.
            TransientStoreError: Listing kept failing transiently.

        Thread safety: call from any thread.
        """
        prefix = artifacts_prefix(self._store.prefix, pipelinerun, task)
        found: dict[str, ObjectInfo] = {}
        for info in self._retried(lambda: list(self._store.list_objects(prefix))):
            rest = info.key[len(prefix) :]
            if "/" in rest or not rest.endswith(".tgz"):
                continue
            name = rest[: -len(".tgz")]
            try:
                validate_segment(name, "result name")
            except ConfigError:
                continue
            found[name] = info
        return dict(sorted(found.items()))

    def write(
        self,
        pipelinerun: str,
        task: str,
        name: str,
        data: bytes | str | os.PathLike[str],
        *,
        progress: Progress | None = None,
    ) -> ObjectRef:
        """
        Store `data` as the result `name` of `task` in `pipelinerun`.

        The object is a gzip-compressed tar whose first member is the payload:
        `data` itself under the member name `name` for bytes or str (str is
        encoded as UTF-8; it is content, never a path), the file under its
        base name for a path to a file, and ``<basename>/`` followed by the
        sorted tree for a directory (symbolic links stored as links; devices,
        FIFOs and sockets refused). The archive is produced in a background
        thread while the store uploads it (multipart above the store's
        threshold, ``part_concurrency`` parts at once, each retried on its
        own), in bounded memory. A transient failure the part retries do not
        cure (or of a single PUT) retries the whole upload, re-reading the
        source from the start.

        Args:
            pipelinerun: The pipeline run (one key segment).
            task: The task (one key segment).
            name: The result name (one key segment, without ``.tgz``).
            data: The payload: bytes, str, or an `os.PathLike` to a file or
                directory.
            progress: Called with each count of payload bytes read (an
                increment, as ``tqdm.update`` takes), from the producer
                thread; before a retry it is called with minus the bytes
                counted so far. An exception it raises fails the write.

        Returns:
            The stored object's bucket, key, size (bytes) and SHA-256.

        Raises:
            ConfigError: (a ValueError) a name is invalid (see `key`), `data`
                has an unsupported type, does not exist, or is or contains a
                special file.
            TransientStoreError: The store kept failing transiently until the
                retry policy gave up.
            PermanentStoreError: The store refused the request (denied, no
                such bucket), or the archive could exceed S3's 5 TiB object
                limit (reason ``"EntityTooLarge"``, before any request);
                never retried.
            OSError: A source file could not be read while uploading (no
                object is stored; never retried).

        Thread safety: call from any thread; concurrent writes to the same
        key leave one of them stored whole.
        """
        key = self.key(pipelinerun, task, name)
        entries = plan(name, data)
        counted = 0

        def count(n: int) -> None:
            nonlocal counted
            counted += n
            if progress is not None:
                progress(n)

        def attempt() -> ObjectRef:
            nonlocal counted
            if counted and progress is not None:
                progress(-counted)
            counted = 0
            return self._upload(key, entries, count)

        return self._retried(attempt)

    def _retried(self, fn: Callable[[], _T]) -> _T:
        """Call `fn` under the retry policy, with this writer's clock and sleep."""
        return retry_call(fn, self._retry, sleep=self._sleep, clock=self._clock)

    def _upload(self, key: str, entries: list[Entry], progress: Progress) -> ObjectRef:
        # The size bound is taken before any byte is sent: it picks the part
        # size (any size S3 allows fits) and refuses more than 5 TiB at once.
        bound = archive_bound(entries)
        if bound > MAX_OBJECT_BYTES:
            raise self._error(
                key,
                "EntityTooLarge",
                f"result archive may reach {bound} bytes, above S3's limit of "
                f"{MAX_OBJECT_BYTES} bytes (5 TiB); nothing was sent",
            )
        with stream_archive(entries, self._compresslevel, progress, threads=self._threads) as body:
            return self._store.put_stream(key, body, content_type=CONTENT_TYPE, size_bytes=bound)

    def _mismatch(self, key: str) -> Callable[[str], Exception]:
        def make(detail: str) -> Exception:
            return self._error(
                key,
                "ChecksumMismatch",
                f"result object failed its integrity check (damaged, or replaced while "
                f"being read): {detail}",
            )

        return make

    def _open_verified(self, key: str, progress: Progress | None) -> Verifier:
        """
        Open the object at `key` as a `Verifier` stream (one attempt).

        HEAD first: the size decides between one GET and `RangedReader`'s
        concurrent ranged GETs, and the metadata holds ``objlog-sha256``
        for single-PUT objects.
        """
        info = self._store.head_object(key)
        raw: BinaryIO
        if self._part_concurrency > 1 and info.size > RANGE_BYTES:
            raw = cast(
                BinaryIO,
                RangedReader(
                    self._store,
                    key,
                    info.size,
                    concurrency=self._part_concurrency,
                    retry=self._retry,
                    sleep=self._sleep,
                ),
            )
        else:
            raw = self._store.open_object(key)
        return Verifier(raw, info.metadata.get(SHA256_META), self._mismatch(key), progress)

    def _error(self, key: str, reason: str, message: str) -> PermanentStoreError:
        """Return the permanent error about the result object at `key`."""
        return PermanentStoreError(message, bucket=self._store.bucket, key=key, reason=reason)

    def _corrupt(self, key: str) -> Callable[[BaseException], Exception]:
        def make(exc: BaseException) -> Exception:
            return self._error(
                key, "CorruptResult", f"result object is not a valid gzip or tar archive: {exc}"
            )

        return make

    def _open_payload(self, key: str, progress: Progress | None = None) -> Payload:
        """Open the object at `key` as a stream of its payload (one attempt)."""

        def not_a_file(member: str) -> Exception:
            return self._error(
                key,
                "ResultNotAFile",
                f"result's first member {member!r} is not a file; use extract()",
            )

        raw = self._open_verified(key, progress)
        # gzip reads 8 KiB at a time: a buffer makes the verifier hash 1 MiB reads.
        buffered = io.BufferedReader(raw, buffer_size=READ_BYTES)
        return open_payload(cast(BinaryIO, buffered), self._corrupt(key), not_a_file, raw.drain)

    def open(
        self, pipelinerun: str, task: str, name: str, *, progress: Progress | None = None
    ) -> BinaryIO:
        """
        Open a result's payload as a stream, for results too big for `read`.

        Args:
            pipelinerun: The pipeline run.
            task: The task.
            name: The result name (without ``.tgz``).
            progress: Called with each count of stored (compressed) bytes
                downloaded, from the reading thread (default None).

        Returns:
            A readable binary stream of the payload (see `read`); the caller
            closes it. Reading it may raise `PermanentStoreError` (reason
            ``"CorruptResult"``) for a damaged object, or the store's errors;
            the read that reaches the payload's end reads the rest of the
            object and checks its SHA-256 (reason ``"ChecksumMismatch"``), so
            only a stream read to its end is known whole.

        Raises:
            ConfigError: A name is invalid (see `key`).
            ObjectNotFoundError: No such result.
            PermanentStoreError: The store refused the request, the object is
                not a valid archive, or its first member is not a file.
            TransientStoreError: Opening kept failing transiently.

        Thread safety: call from any thread; the stream itself is for one thread.
        """
        key = self.key(pipelinerun, task, name)
        return cast(BinaryIO, self._retried(lambda: self._open_payload(key, progress)))

    def read(
        self, pipelinerun: str, task: str, name: str, *, progress: Progress | None = None
    ) -> bytes:
        """
        Return a result's payload, checked against the object's SHA-256.

        For a tar archive (compressed or not) the payload is its first
        member, which must be a regular file; for a legacy plain-gzip object
        (what the Go original stored under ``.tgz``) the decompressed bytes;
        for anything else the object's bytes as stored.

        Args:
            pipelinerun: The pipeline run.
            task: The task.
            name: The result name (without ``.tgz``).
            progress: Called with each count of stored (compressed) bytes
                downloaded (default None); before a retry with minus the
                bytes counted so far.

        Returns:
            The payload bytes.

        Raises:
            ConfigError: A name is invalid (see `key`).
            ObjectNotFoundError: No such result.
            PermanentStoreError: The store refused the request, the object is
                not a valid archive (reason ``"CorruptResult"``), its first
                member is a directory or link (reason ``"ResultNotAFile"``),
                or its bytes fail the SHA-256 of its trailer or of its
                ``objlog-sha256`` metadata (reason ``"ChecksumMismatch"``).
            TransientStoreError: Reading kept failing transiently.

        Thread safety: call from any thread.
        """
        key = self.key(pipelinerun, task, name)
        count = _Rewinding(progress)

        def attempt() -> bytes:
            count.rewind()
            with self._open_payload(key, count) as payload:
                return payload.readall()

        return self._retried(attempt)

    def extract(
        self,
        pipelinerun: str,
        task: str,
        name: str,
        dest: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
    ) -> list[Path]:
        """
        Extract a result into the directory `dest`, refusing unsafe members.

        Every member is checked before anything is written, and again as it
        is extracted: absolute paths, ``..`` components, members below a
        symbolic link of the archive, links pointing outside `dest` (or to an
        absolute path), devices and FIFOs are refused (tarfile's ``data``
        filter, or the same checks on Pythons without it). Modes are limited
        as that filter does and owners are not restored. A legacy plain-gzip
        or non-archive object is written to ``dest/<name>``.

        Args:
            pipelinerun: The pipeline run.
            task: The task.
            name: The result name (without ``.tgz``).
            dest: Directory to extract into; created if missing.
            progress: As for `read` (stored bytes downloaded).

        Returns:
            The paths created, in archive order (``dest`` joined with each
            member name).

        Raises:
            ConfigError: A name is invalid (see `key`).
            ObjectNotFoundError: No such result.
            PermanentStoreError: The store refused the request, the object is
                not a valid archive (reason ``"CorruptResult"``) or holds an
                unsafe member (reason ``"UnsafeArchive"``; nothing extracted
                when found by the first check), or fails its SHA-256 check
                (reason ``"ChecksumMismatch"``; nothing extracted).
            TransientStoreError: Downloading kept failing transiently.
            OSError: Writing below `dest` failed.

        Thread safety: call from any thread; concurrent extractions into the
        same `dest` may interleave.
        """
        key = self.key(pipelinerun, task, name)
        dest_path = Path(dest)
        dest_path.mkdir(parents=True, exist_ok=True)

        def refuse(message: str) -> Exception:
            return self._error(key, "UnsafeArchive", f"refusing to extract result: {message}")

        count = _Rewinding(progress)
        with tempfile.TemporaryFile() as tmp:

            def download() -> None:
                count.rewind()
                tmp.seek(0)
                tmp.truncate()
                # Read to the end, so the SHA-256 is checked before extraction.
                with self._open_verified(key, count) as src:
                    shutil.copyfileobj(src, tmp, READ_BYTES)

            self._retried(download)
            return extract_archive(cast(BinaryIO, tmp), dest_path, name, self._corrupt(key), refuse)


class _Rewinding:
    """A progress callback that can take back what it counted, before a retry."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._counted = 0

    def __call__(self, n: int) -> None:
        self._counted += n
        if self._progress is not None:
            self._progress(n)

    def rewind(self) -> None:
        if self._counted and self._progress is not None:
            self._progress(-self._counted)
        self._counted = 0
