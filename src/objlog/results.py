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
constant whatever the size of the input.
"""

from __future__ import annotations

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
    PIPE_CAPACITY_BYTES,
    READ_BYTES,
    RESULT_MTIME,
    Entry,
    Payload,
    Progress,
    extract_archive,
    open_payload,
    plan,
    stream_archive,
)
from objlog.errors import ConfigError, PermanentStoreError
from objlog.retry import RetryPolicy, retry_call
from objlog.typing import ObjectInfo, ObjectRef, ObjectStore

__all__ = [
    "CONTENT_TYPE",
    "DIR_MODE",
    "FILE_MODE",
    "LINK_MODE",
    "PIPE_CAPACITY_BYTES",
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
        retry: Retry policy for store requests (default `RetryPolicy()`).
        clock: Monotonic seconds for retry deadlines (default `time.monotonic`).
        sleep: Waits between retries (default `time.sleep`).

    Raises:
        ConfigError: `compresslevel` is out of range, or the store URL or
            its configuration is invalid.
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
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if isinstance(compresslevel, bool) or not isinstance(compresslevel, int):
            raise ConfigError(f"compresslevel must be an int 0..9, got {compresslevel!r}")
        if not 0 <= compresslevel <= 9:
            raise ConfigError(f"compresslevel must be 0..9, got {compresslevel}")
        self._compresslevel = compresslevel
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
        threshold), in constant memory. A transient store failure retries the
        whole upload, re-reading the source from the start.

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
                such bucket); never retried.
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
        with stream_archive(entries, self._compresslevel, progress) as body:
            return self._store.put_stream(key, body, content_type=CONTENT_TYPE)

    def _error(self, key: str, reason: str, message: str) -> PermanentStoreError:
        """Return the permanent error about the result object at `key`."""
        return PermanentStoreError(message, bucket=self._store.bucket, key=key, reason=reason)

    def _corrupt(self, key: str) -> Callable[[BaseException], Exception]:
        def make(exc: BaseException) -> Exception:
            return self._error(
                key, "CorruptResult", f"result object is not a valid gzip or tar archive: {exc}"
            )

        return make

    def _open_payload(self, key: str) -> Payload:
        """Open the object at `key` as a stream of its payload (one attempt)."""

        def not_a_file(member: str) -> Exception:
            return self._error(
                key,
                "ResultNotAFile",
                f"result's first member {member!r} is not a file; use extract()",
            )

        return open_payload(self._store.open_object(key), self._corrupt(key), not_a_file)

    def open(self, pipelinerun: str, task: str, name: str) -> BinaryIO:
        """
        Open a result's payload as a stream, for results too big for `read`.

        Args:
            pipelinerun: The pipeline run.
            task: The task.
            name: The result name (without ``.tgz``).

        Returns:
            A readable binary stream of the payload (see `read`); the caller
            closes it. Reading it may raise `PermanentStoreError` (reason
            ``"CorruptResult"``) for a damaged object, or the store's errors.

        Raises:
            ConfigError: A name is invalid (see `key`).
            ObjectNotFoundError: No such result.
            PermanentStoreError: The store refused the request, the object is
                not a valid archive, or its first member is not a file.
            TransientStoreError: Opening kept failing transiently.

        Thread safety: call from any thread; the stream itself is for one thread.
        """
        key = self.key(pipelinerun, task, name)
        return cast(BinaryIO, self._retried(lambda: self._open_payload(key)))

    def read(self, pipelinerun: str, task: str, name: str) -> bytes:
        """
        Return a result's payload.

        For a tar archive (compressed or not) the payload is its first
        member, which must be a regular file; for a legacy plain-gzip object
        (what the Go original stored under ``.tgz``) the decompressed bytes;
        for anything else the object's bytes as stored.

        Args:
            pipelinerun: The pipeline run.
            task: The task.
            name: The result name (without ``.tgz``).

        Returns:
            The payload bytes.

        Raises:
            ConfigError: A name is invalid (see `key`).
            ObjectNotFoundError: No such result.
            PermanentStoreError: The store refused the request, the object is
                not a valid archive (reason ``"CorruptResult"``), or its first
                member is a directory or link (reason ``"ResultNotAFile"``).
            TransientStoreError: Reading kept failing transiently.

        Thread safety: call from any thread.
        """
        key = self.key(pipelinerun, task, name)

        def attempt() -> bytes:
            with self._open_payload(key) as payload:
                return payload.readall()

        return self._retried(attempt)

    def extract(
        self, pipelinerun: str, task: str, name: str, dest: str | os.PathLike[str]
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

        Returns:
            The paths created, in archive order (``dest`` joined with each
            member name).

        Raises:
            ConfigError: A name is invalid (see `key`).
            ObjectNotFoundError: No such result.
            PermanentStoreError: The store refused the request, the object is
                not a valid archive (reason ``"CorruptResult"``) or holds an
                unsafe member (reason ``"UnsafeArchive"``; nothing extracted
                when found by the first check).
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

        with tempfile.TemporaryFile() as tmp:

            def download() -> None:
                tmp.seek(0)
                tmp.truncate()
                src = self._store.open_object(key)
                try:
                    shutil.copyfileobj(src, tmp, READ_BYTES)
                finally:
                    src.close()

            self._retried(download)
            return extract_archive(cast(BinaryIO, tmp), dest_path, name, self._corrupt(key), refuse)
