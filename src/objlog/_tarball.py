"""
The result archive: a deterministic tar.gz built in a producer thread, read back, extracted safely.

Results follow the Argo / KFP v1 artifact convention: a gzip-compressed tar
whose FIRST member is the payload (``tar -xzf`` extracts it; the KFP UI
shows the first tar record of a gunzipped object, ``frontend/server/minio-helper.ts``).

Archives are deterministic: the same input gives the same bytes (with the same
zlib). Every member has mtime `RESULT_MTIME` (0, the Unix epoch), uid/gid 0,
empty owner names, mode `FILE_MODE` (0o644, files), `DIR_MODE` (0o755,
directories) or `LINK_MODE` (0o777, symbolic links); directory trees are
stored in sorted order; the gzip header carries mtime 0 and no file name. Tar
headers use the GNU format, so UTF-8 names and members above 8 GiB need no
extra header record; only a member name longer than 100 bytes is preceded by a
GNU long-name record.

`stream_archive` writes the archive from a producer thread into a bounded
in-memory `Pipe` (`PIPE_CAPACITY_BYTES`) that the upload reads, so
compression and upload overlap and memory stays constant whatever the size of
the input. `open_payload` reads the first member back as a stream (also from
a legacy plain gzip, what the Go original stored); `extract_archive` extracts
a whole archive, refusing members that would escape the destination
(tarfile's ``data`` filter, or the same checks on Pythons without it).

Errors about the object (corrupt, unsafe, not a file) are made by callables
the caller passes in, so this module knows nothing of stores or keys.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import copy
import gzip
import hashlib
import io
import os
import shutil
import stat
import struct
import tarfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal, cast

from objlog._codec import GZIP_MAGIC, Gzip
from objlog._streams import PrependReader, read_exact
from objlog.errors import ConfigError

__all__ = [
    "CORRUPT_ERRORS",
    "DIR_MODE",
    "FILE_MODE",
    "LINK_MODE",
    "MAX_COMPRESS_THREADS",
    "MEMBER_BYTES",
    "PIPE_CAPACITY_BYTES",
    "READ_BYTES",
    "RESULT_MTIME",
    "TRAILER_BYTES",
    "Entry",
    "Payload",
    "Pipe",
    "PipeReader",
    "Progress",
    "Verifier",
    "archive_bound",
    "extract_archive",
    "open_payload",
    "plan",
    "stream_archive",
    "trailer",
    "trailer_digest",
    "write_archive",
]

#: mtime of every tar member and of the gzip header (seconds since the epoch).
RESULT_MTIME = 0
#: Mode of regular-file members.
FILE_MODE = 0o644
#: Mode of directory members.
DIR_MODE = 0o755
#: Mode of symbolic-link members (the conventional value; ignored on extraction).
LINK_MODE = 0o777
#: Bytes of compressed archive buffered between the producer thread and the upload.
PIPE_CAPACITY_BYTES = 4 * 1024**2
#: Bytes per read when copying objects and payloads.
READ_BYTES = 1024 * 1024
#: Uncompressed bytes of tar stream per gzip member of a result (the last
#: member may be shorter). Fixed, so the archive does not depend on the thread
#: count; small, so memory stays at about two members per thread; deflate's
#: window is 32 KiB, so a restart every 1 MiB costs well under 1% of ratio.
MEMBER_BYTES = 1024**2
#: Most threads compressing one result (more cores than this add little
#: beside the upload, and each holds about two members).
MAX_COMPRESS_THREADS = 16
#: What reading a damaged gzip or tar raises.
CORRUPT_ERRORS = (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error)

_TAR_MAGIC_OFFSET = 257
_TAR_MAGIC = b"ustar"
_TAR_BLOCK_BYTES = 512

#: Called with each count of payload bytes read (an increment, as ``tqdm.update`` takes).
Progress = Callable[[int], None]
#: Makes the error to raise from a message (unsafe member, first member not a file).
Refuse = Callable[[str], Exception]
#: Makes the error to raise for a damaged archive from what reading it raised.
Corrupt = Callable[[BaseException], Exception]


# -- what goes into the archive -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One tar member to write, in archive order."""

    arcname: str
    kind: Literal["bytes", "file", "dir", "symlink"]
    payload: bytes = b""
    path: Path | None = None
    linkname: str = ""


def plan(name: str, data: object) -> list[Entry]:
    """Return the members for `data`; the payload comes first."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return [Entry(name, "bytes", payload=bytes(data))]
    if isinstance(data, str):
        return [Entry(name, "bytes", payload=data.encode("utf-8"))]
    if not isinstance(data, os.PathLike):
        raise ConfigError(f"result data must be bytes, str or a path, got {type(data).__name__}")
    path = Path(os.fspath(data))
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"result source {str(path)!r} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"result source {str(path)!r} cannot be read: {exc}") from exc
    base = path.name or path.resolve().name
    if not base:
        raise ConfigError(f"result source {str(path)!r} has no base name")
    if stat.S_ISREG(st.st_mode):
        return [Entry(base, "file", path=path)]
    if stat.S_ISDIR(st.st_mode):
        entries = [Entry(base, "dir", path=path)]
        _walk(path, base, entries)
        return entries
    raise ConfigError(f"result source {str(path)!r} is neither a regular file nor a directory")


def _walk(directory: Path, arcdir: str, out: list[Entry]) -> None:
    """Append the tree below `directory` to `out`, sorted by name, depth first."""
    with os.scandir(directory) as it:
        children = sorted(it, key=lambda e: e.name)
    for child in children:
        arcname = f"{arcdir}/{child.name}"
        if child.is_symlink():
            out.append(Entry(arcname, "symlink", linkname=str(Path(child.path).readlink())))
        elif child.is_dir(follow_symlinks=False):
            out.append(Entry(arcname, "dir", path=Path(child.path)))
            _walk(Path(child.path), arcname, out)
        elif child.is_file(follow_symlinks=False):
            out.append(Entry(arcname, "file", path=Path(child.path)))
        else:
            raise ConfigError(
                f"result source {child.path!r} is a special file (device, FIFO or socket)"
            )


def _tarinfo(entry: Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.arcname)
    info.mtime = RESULT_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
        info.mode = DIR_MODE
    elif entry.kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.mode = LINK_MODE
        info.linkname = entry.linkname
    else:
        info.type = tarfile.REGTYPE
        info.mode = FILE_MODE
    return info


class _Counting:
    """A reader that reports every chunk it returns to `progress`."""

    def __init__(self, raw: BinaryIO, progress: Progress | None) -> None:
        self._raw = raw
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        if chunk and self._progress is not None:
            self._progress(len(chunk))
        return chunk


def write_archive(
    entries: Iterable[Entry],
    sink: BinaryIO,
    compresslevel: int,
    progress: Progress | None,
    *,
    threads: int | None = None,
) -> str:
    """
    Write the deterministic tar.gz of `entries` to `sink` (not closed); return its SHA-256.

    The tar stream is cut every `MEMBER_BYTES` and each piece compressed as
    its own gzip member (RFC 1952 allows concatenated members; ``tar -xzf``,
    gzip and Python read them as one stream) on up to `threads` threads,
    through ISA-L for levels 1-3 when installed (``objlog._codec``). Pieces
    are cut at fixed offsets and compressed independently, so the bytes are
    the same whatever `threads` is. The archive ends with the `trailer`
    member holding the SHA-256 of everything before it.

    Args:
        entries: The members, from `plan`.
        sink: Where the archive goes (``write`` only).
        compresslevel: gzip level 0..9.
        progress: Called with payload byte counts (from this thread).
        threads: Members compressed at once (default: the CPU count, at
            most `MAX_COMPRESS_THREADS`).

    Returns:
        The hex SHA-256 of every byte written (hashed once, for the trailer).
    """
    if threads is None:
        threads = min(os.cpu_count() or 1, MAX_COMPRESS_THREADS)
    members = _MemberWriter(sink, compresslevel, threads)
    try:
        with tarfile.open(
            fileobj=cast(BinaryIO, members), mode="w|", format=tarfile.GNU_FORMAT, encoding="utf-8"
        ) as tar:
            for entry in entries:
                info = _tarinfo(entry)
                if entry.kind == "bytes":
                    info.size = len(entry.payload)
                    tar.addfile(
                        info, cast(BinaryIO, _Counting(io.BytesIO(entry.payload), progress))
                    )
                elif entry.kind == "file":
                    assert entry.path is not None
                    with entry.path.open("rb") as f:
                        # Size taken now, per attempt: a file that shrinks meanwhile
                        # fails the write ("unexpected end of data"), one that grows
                        # is cut at this size; never a malformed archive.
                        info.size = os.fstat(f.fileno()).st_size
                        tar.addfile(info, cast(BinaryIO, _Counting(f, progress)))
                else:
                    tar.addfile(info)
        return members.finish()
    finally:
        members.close()


def archive_bound(entries: Iterable[Entry]) -> int:
    """
    Return an upper bound, in bytes, of the archive `write_archive` makes of `entries`.

    zlib's ``deflateBound`` (n + n/4096 + n/16384 + n/2**25 + 13 per member)
    over the tar size (512-byte headers, a long-name record each, padding,
    the 10 KiB record), plus gzip's 18 bytes per member and the trailer.
    Used to pick the part size before the upload (`fitted_part_bytes`).
    """
    tar = tarfile.RECORDSIZE
    for entry in entries:
        tar += 3 * _TAR_BLOCK_BYTES
        if entry.kind == "bytes":
            tar += len(entry.payload) + _TAR_BLOCK_BYTES
        elif entry.kind == "file" and entry.path is not None:
            with contextlib.suppress(OSError):
                tar += entry.path.stat().st_size + _TAR_BLOCK_BYTES
    members = tar // MEMBER_BYTES + 1
    deflated = tar + (tar >> 12) + (tar >> 14) + (tar >> 25) + 13 * members
    return deflated + 18 * members + TRAILER_BYTES


class _MemberWriter(io.RawIOBase):
    """
    The sink tarfile writes to: raw bytes cut into pieces, compressed in parallel, written in order.

    At most `threads` pieces are being compressed while the next one fills,
    so memory holds about ``2 * threads + 1`` pieces of `MEMBER_BYTES`.
    """

    def __init__(self, sink: BinaryIO, level: int, threads: int) -> None:
        super().__init__()
        self._sink = sink
        self._codec = Gzip(level=level)
        self._threads = max(1, threads)
        self._buffer = bytearray()
        self._pending: collections.deque[concurrent.futures.Future[bytes]] = collections.deque()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._sha = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        view = memoryview(cast(bytes, b)).cast("B")
        n = len(view)
        offset = 0
        while offset < n:
            take = min(n - offset, MEMBER_BYTES - len(self._buffer))
            self._buffer += view[offset : offset + take]
            offset += take
            if len(self._buffer) == MEMBER_BYTES:
                self._submit()
        return n

    def _submit(self) -> None:
        piece = bytes(self._buffer)
        self._buffer.clear()
        if self._threads == 1:
            self._emit(self._codec.encode(piece))
            return
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                self._threads, thread_name_prefix="objlog-result-gzip"
            )
        self._pending.append(self._pool.submit(self._codec.encode, piece))
        while len(self._pending) > self._threads:
            self._emit(self._pending.popleft().result())

    def _emit(self, member: bytes) -> None:
        self._sha.update(member)
        self._sink.write(member)

    def finish(self) -> str:
        """
        Compress what is left, write every member in order, then the trailer.

        Returns:
            The hex SHA-256 of the whole archive, trailer included.
        """
        if self._buffer:
            self._submit()
        while self._pending:
            self._emit(self._pending.popleft().result())
        last = trailer(self._sha.digest())
        self._sha.update(last)
        self._sink.write(last)
        return self._sha.hexdigest()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending.clear()
        super().close()


# -- the integrity trailer -----------------------------------------------------------

#: The gzip header of the trailer member: FLG.FEXTRA, mtime 0, OS unknown (RFC 1952),
#: XLEN 36, then the subfield ``OL`` (objlog) of 32 bytes.
_TRAILER_HEAD = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff" + struct.pack("<H", 36) + b"OL"
_TRAILER_HEAD += struct.pack("<H", 32)
#: An empty deflate stream, CRC-32 0, size 0: the member decompresses to nothing.
_TRAILER_TAIL = b"\x03\x00" + b"\x00" * 8
#: Bytes of the trailer member.
TRAILER_BYTES = len(_TRAILER_HEAD) + 32 + len(_TRAILER_TAIL)


def trailer(sha256: bytes) -> bytes:
    """
    Return the last gzip member of a result: empty, with `sha256` in its extra field.

    The SHA-256 of every byte before the trailer, in an RFC 1952 ``FEXTRA``
    subfield ``OL``. The member decompresses to nothing, so gzip, ``tar
    -xzf`` and the KFP UI see the same archive; objlog's readers check it
    (`Verifier`). It is the end-to-end checksum of results uploaded in
    parts, whose SHA-256 is known only after the upload has started (S3
    takes metadata at CreateMultipartUpload).
    """
    return _TRAILER_HEAD + sha256 + _TRAILER_TAIL


def trailer_digest(tail: bytes) -> bytes | None:
    """Return the SHA-256 in `tail` when it is a trailer (`TRAILER_BYTES` long), else None."""
    if (
        len(tail) == TRAILER_BYTES
        and tail.startswith(_TRAILER_HEAD)
        and tail.endswith(_TRAILER_TAIL)
    ):
        return tail[len(_TRAILER_HEAD) : len(_TRAILER_HEAD) + 32]
    return None


class Verifier(io.RawIOBase):
    """
    A stream over an object that checks its SHA-256 when it reaches the end.

    Two checks, each when it applies: the whole object against `expected`
    (objlog's ``objlog-sha256`` metadata of single PUTs), and the bytes
    before a `trailer` against the digest it holds. A mismatch raises
    `mismatch`'s error from the ``read`` that hit the end, so a caller never
    mistakes a damaged result for a whole one. Objects with neither (legacy
    results) are passed through unchecked. `progress` is called with each
    count of stored bytes read.
    """

    def __init__(
        self,
        raw: BinaryIO,
        expected: str | None,
        mismatch: Callable[[str], Exception],
        progress: Progress | None = None,
    ) -> None:
        super().__init__()
        self._raw = raw
        self._progress = progress
        self._expected = expected
        self._mismatch = mismatch
        # Hash the whole object only when there is a digest to compare it with:
        # SHA-256 is the costliest step of a download (one pass per hash).
        self._whole = hashlib.sha256() if expected is not None else None
        self._body = hashlib.sha256()
        self._tail = b""
        self._done = False
        # Hashing runs on a thread of its own, in order, beside the caller's
        # decompression and copying (hashlib releases the GIL); a few chunks
        # at most wait for it.
        self._hasher: concurrent.futures.ThreadPoolExecutor | None = None
        self._hashing: collections.deque[concurrent.futures.Future[None]] = collections.deque()
        #: True once a check ran and passed (a trailer or metadata was found).
        self.verified = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        chunk = self._raw.read(-1 if size is None else size)
        if chunk:
            if self._progress is not None:
                self._progress(len(chunk))
            # Keep the last TRAILER_BYTES aside: they may be the trailer.
            if len(chunk) >= TRAILER_BYTES:
                body, self._tail = (self._tail, chunk[:-TRAILER_BYTES]), chunk[-TRAILER_BYTES:]
            else:
                joined = self._tail + chunk
                cut = max(0, len(joined) - TRAILER_BYTES)
                body, self._tail = (joined[:cut], b""), joined[cut:]
            self._hash(chunk, body)
            return chunk
        if not self._done:
            self._done = True
            self._settle()
            self._check()
        return chunk

    def _hash(self, chunk: bytes, body: tuple[bytes, bytes]) -> None:
        if self._hasher is None and len(chunk) < _HASH_THREAD_BYTES:
            self._update(chunk, body)  # never after the thread started: order matters
            return
        if self._hasher is None:
            self._hasher = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="objlog-result-sha256"
            )
        self._hashing.append(self._hasher.submit(self._update, chunk, body))
        while len(self._hashing) > 4:
            self._hashing.popleft().result()

    def _update(self, chunk: bytes, body: tuple[bytes, bytes]) -> None:
        if self._whole is not None:
            self._whole.update(chunk)
        for piece in body:
            if piece:
                self._body.update(piece)

    def _settle(self) -> None:
        """Wait for the hashing thread (in order) and stop it."""
        while self._hashing:
            self._hashing.popleft().result()
        if self._hasher is not None:
            self._hasher.shutdown(wait=True)
            self._hasher = None

    def readinto(self, b: object) -> int:
        view = memoryview(cast(bytearray, b)).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read to the end (checking), discarding the bytes."""
        while self.read(READ_BYTES):
            pass

    def _check(self) -> None:
        whole = self._whole.hexdigest() if self._whole is not None else None
        if self._expected is not None and whole != self._expected:
            raise self._mismatch(
                f"SHA-256 {whole} of the stored bytes is not {self._expected} (objlog-sha256)"
            )
        digest = trailer_digest(self._tail)
        if digest is not None and digest != self._body.digest():
            raise self._mismatch(
                f"SHA-256 {self._body.hexdigest()} of the archive is not {digest.hex()} "
                "(its trailer)"
            )
        self.verified = self._expected is not None or digest is not None

    def close(self) -> None:
        if not self.closed:
            try:
                if self._hasher is not None:
                    self._hasher.shutdown(wait=True, cancel_futures=True)
                self._hashing.clear()
                self._raw.close()
            finally:
                super().close()


#: Reads at least this long are hashed on the verifier's own thread (shorter: inline).
_HASH_THREAD_BYTES = 256 * 1024


# -- the bounded pipe between producer thread and upload ------------------------


class _RawReader(io.RawIOBase):
    """A readable raw stream built on `read`; `readinto` fills a buffer from it."""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        raise NotImplementedError

    def readinto(self, b: object) -> int:
        view = memoryview(cast(bytearray, b)).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


class Pipe:
    """
    A bounded byte queue: one producer thread, one consumer.

    `put` blocks while `capacity` bytes wait; `take` blocks until it has `n`
    bytes or the producer finished; a producer failure is raised to the
    consumer so the store aborts the upload instead of storing a truncated
    object; `stop` (consumer gave up) makes `put` raise BrokenPipeError.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._cond = threading.Condition()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._eof = False
        self._stopped = False
        #: What made the producer fail, unless the consumer had stopped first.
        self.error: BaseException | None = None
        #: Hex SHA-256 of everything put, set by the producer before `finish`.
        self.sha256: str | None = None

    def put(self, data: bytes) -> None:
        with self._cond:
            while self._size >= self._capacity and not self._stopped:
                self._cond.wait()
            if self._stopped:
                raise BrokenPipeError("the upload stopped reading the result archive")
            self._chunks.append(data)
            self._size += len(data)
            self._cond.notify_all()

    def finish(self) -> None:
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def finished(self) -> bool:
        """Tell whether the producer finished without error and every byte was taken."""
        with self._cond:
            return self._eof and self.error is None and not self._chunks and not self._stopped

    def fail(self, exc: BaseException) -> None:
        with self._cond:
            if not self._stopped:
                self.error = exc
            self._eof = True
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._chunks.clear()
            self._size = 0
            self._cond.notify_all()

    def take(self, n: int) -> bytes:
        # BytesIO grows in place and getvalue() hands over its buffer without a
        # copy, so a read of n bytes holds about n bytes, not 2n.
        out = io.BytesIO()
        got = 0
        with self._cond:
            while n < 0 or got < n:
                while not self._chunks and not self._eof and not self._stopped:
                    self._cond.wait()
                if self.error is not None:
                    raise _SourceFailed("reading the result source failed") from self.error
                if not self._chunks:
                    break
                chunk = self._chunks.popleft()
                want = len(chunk) if n < 0 else n - got
                if len(chunk) > want:
                    self._chunks.appendleft(chunk[want:])
                    chunk = chunk[:want]
                out.write(chunk)
                got += len(chunk)
                self._size -= len(chunk)
                self._cond.notify_all()
        return out.getvalue()


class _SourceFailed(Exception):
    """Raised into the upload when the producer failed; the cause is the real error."""


class _PipeWriter(io.RawIOBase):
    """The producer's end of a `Pipe`."""

    def __init__(self, pipe: Pipe) -> None:
        super().__init__()
        self._pipe = pipe

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        data = bytes(cast(bytes, b))
        if data:
            self._pipe.put(data)
        return len(data)


class PipeReader(_RawReader):
    """The upload's end of a `Pipe`: ``read(n)`` returns n bytes unless at EOF."""

    def __init__(self, pipe: Pipe) -> None:
        super().__init__()
        self._pipe = pipe

    def read(self, size: int | None = -1) -> bytes:
        return self._pipe.take(-1 if size is None else size)

    def readall(self) -> bytes:
        return self._pipe.take(-1)

    def sha256_hexdigest(self) -> str | None:
        """
        Return the SHA-256 of every byte the producer put, once this reader is at EOF.

        The producer hashes the archive anyway (for its trailer), so an
        upload reading this pipe need not hash it again (`objlog.stores._upload`
        asks for this method). None before the end.
        """
        return self._pipe.sha256 if self._pipe.finished() else None

    def close(self) -> None:
        self._pipe.stop()
        super().close()


@contextlib.contextmanager
def stream_archive(
    entries: list[Entry],
    compresslevel: int,
    progress: Progress | None,
    *,
    threads: int | None = None,
) -> Iterator[BinaryIO]:
    """
    Produce the archive of `entries` in a thread; yield the stream to upload.

    Args:
        entries: The members, from `plan`.
        compresslevel: gzip level 0..9.
        progress: Called with payload byte counts, from the producer thread.
        threads: Gzip members compressed at once (default: the CPU count);
            the bytes do not depend on it.

    Yields:
        A readable stream of the tar.gz; ``read(n)`` returns n bytes unless
        at the end.

    Raises:
        BaseException: Whatever made the producer fail (a source file that
            could not be read, an exception from `progress`), instead of what
            the consumer made of the cut stream.

    Thread safety: one consumer thread; the producer thread is joined on exit.
    """
    pipe = Pipe(PIPE_CAPACITY_BYTES)

    def produce() -> None:
        try:
            pipe.sha256 = write_archive(
                entries,
                cast(BinaryIO, _PipeWriter(pipe)),
                compresslevel,
                progress,
                threads=threads,
            )
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            pipe.fail(exc)
        else:
            pipe.finish()

    producer = threading.Thread(target=produce, name="objlog-result-producer", daemon=True)
    producer.start()
    reader = PipeReader(pipe)
    try:
        yield cast(BinaryIO, reader)
    except BaseException:
        if pipe.error is not None:
            # The source failed: that, not what the consumer made of it, is the error.
            raise pipe.error from None
        raise
    finally:
        reader.close()
        producer.join()


# -- reading back -----------------------------------------------------------------


class Payload(_RawReader):
    """The payload stream `ResultWriter.open` returns; closing it closes the object."""

    def __init__(
        self,
        inner: PrependReader | BinaryIO,
        closers: list[Callable[[], object]],
        on_corrupt: Callable[[BaseException], Exception],
        on_end: Callable[[], object] | None = None,
    ) -> None:
        super().__init__()
        self._inner = inner
        self._closers = closers
        self._on_corrupt = on_corrupt
        self._on_end = on_end

    def read(self, size: int | None = -1) -> bytes:
        try:
            data = self._inner.read(-1 if size is None else size)
        except CORRUPT_ERRORS as exc:
            raise self._on_corrupt(exc) from exc
        if not data and size != 0 and self._on_end is not None:
            # The payload's end: read the object's rest so its checksum is checked.
            on_end, self._on_end = self._on_end, None
            on_end()
        return data

    def readall(self) -> bytes:
        chunks = []
        while chunk := self.read(READ_BYTES):
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if not self.closed:
            for closer in reversed(self._closers):
                # Closing a read stream must not mask the caller's outcome.
                with contextlib.suppress(Exception):
                    closer()
        super().close()


class _Gunzip(_RawReader):
    """
    Every gzip member of `raw`, decompressed as one stream, in 1 MiB reads.

    `gzip.GzipFile` reads its input 8 KiB at a time on Python 3.11, which
    made it the slowest step of reading a large result; zlib checks each
    member's CRC-32 and size as GzipFile does (``zlib.error``), and a
    truncated member raises EOFError.
    """

    def __init__(self, raw: PrependReader | BinaryIO) -> None:
        super().__init__()
        self._raw = raw
        self._inflater: zlib._Decompress | None = None
        self._input = b""
        self._eof = False

    def read(self, size: int | None = -1) -> bytes:
        want = READ_BYTES if size is None or size < 0 else max(size, 1)
        while True:
            if self._input:
                if self._inflater is None:
                    self._inflater = zlib.decompressobj(wbits=31)  # gzip header and trailer
                out = self._inflater.decompress(self._input, want)
                self._input = self._inflater.unconsumed_tail
                if self._inflater.eof:
                    self._input = self._inflater.unused_data
                    self._inflater = None
                if out:
                    return out
                continue
            if self._eof:
                if self._inflater is not None:
                    raise EOFError("compressed data ended before the end-of-stream marker")
                return b""
            self._input = self._raw.read(READ_BYTES)
            self._eof = not self._input


def _is_tar(head: bytes) -> bool:
    """Tell whether `head`, the first tar block, carries the ustar magic."""
    return head[_TAR_MAGIC_OFFSET : _TAR_MAGIC_OFFSET + len(_TAR_MAGIC)] == _TAR_MAGIC


def open_payload(
    raw: BinaryIO,
    corrupt: Corrupt,
    not_a_file: Refuse,
    on_end: Callable[[], object] | None = None,
) -> Payload:
    """
    Wrap the object stream `raw` into a stream of its payload.

    For a tar archive (gzip-compressed or not) the payload is its first
    member; for a legacy plain gzip the decompressed bytes; for anything else
    the bytes as stored.

    Args:
        raw: The object's bytes; closed with the returned stream (or here,
            on error).
        corrupt: Makes the error for a damaged gzip or tar.
        not_a_file: Makes the error, from the member name, when the first
            member is not a regular file.
        on_end: Called once when the payload has been read to its end
            (e.g. `Verifier.drain`, which raises on a checksum mismatch).

    Returns:
        The payload stream; reading it raises `corrupt`'s error for damage
        found later.

    Raises:
        Exception: The errors `corrupt` and `not_a_file` make, or what
            reading `raw` raises.
    """
    closers: list[Callable[[], object]] = [raw.close]
    try:
        head = read_exact(raw, len(GZIP_MAGIC))
        stream: PrependReader | BinaryIO = PrependReader(head, raw)
        if head == GZIP_MAGIC:
            stream = cast(BinaryIO, io.BufferedReader(_Gunzip(stream), READ_BYTES))
        head = read_exact(stream, _TAR_BLOCK_BYTES)
        stream = PrependReader(head, cast(BinaryIO, stream))
        if _is_tar(head):
            tar = tarfile.open(fileobj=cast(BinaryIO, stream), mode="r|")  # noqa: SIM115 - closed by the returned stream
            closers.append(tar.close)
            member = tar.next()
            if member is None:
                raise tarfile.ReadError("the archive has no member")
            if not member.isfile():
                raise not_a_file(member.name)
            member_stream = tar.extractfile(member)
            assert member_stream is not None  # a regular file always has one
            stream = cast(BinaryIO, member_stream)
        # else: a legacy plain gzip (the Go original) or an uncompressed object.
    except CORRUPT_ERRORS as exc:
        Payload(raw, closers, corrupt).close()
        raise corrupt(exc) from exc
    except BaseException:
        Payload(raw, closers, corrupt).close()
        raise
    return Payload(stream, closers, corrupt, on_end)


# -- extraction safety ----------------------------------------------------------------


def _check_member(
    member: tarfile.TarInfo, dest: str, links: set[str], refuse: Refuse
) -> tarfile.TarInfo:
    """
    Refuse a member that would write outside `dest` or is not plain data.

    Absolute names and any ``..`` component are refused outright (tarfile's
    ``data`` filter would strip a leading ``/`` instead); so is a member below
    a symbolic link of the same archive. The rest is tarfile's ``data`` filter
    (Python >= 3.12, 3.11.4, 3.10.12) or, before that, the same checks here.
    """
    name = member.name
    parts = PurePosixPath(name).parts
    if (
        name.startswith(("/", os.sep))
        or PurePosixPath(name).is_absolute()
        or Path(name).is_absolute()
    ):
        raise refuse(f"member {name!r} has an absolute path")
    if ".." in parts or ".." in Path(name).parts:
        raise refuse(f"member {name!r} contains '..'")
    for i in range(1, len(parts)):
        if "/".join(parts[:i]) in links:
            raise refuse(f"member {name!r} lies below a symbolic link of the archive")
    if member.issym():
        links.add("/".join(parts))
    data_filter = getattr(tarfile, "data_filter", None)
    if data_filter is not None:
        try:
            return cast(tarfile.TarInfo, data_filter(member, dest))
        except tarfile.TarError as exc:  # FilterError and its subclasses
            raise refuse(f"member {name!r} refused: {exc}") from exc
    return _fallback_filter(member, dest, refuse)


def _fallback_filter(member: tarfile.TarInfo, dest: str, refuse: Refuse) -> tarfile.TarInfo:
    """The checks of tarfile's ``data`` filter, for Pythons that lack it."""
    name = member.name
    dest_real = os.path.realpath(dest)

    def inside(target: Path) -> bool:
        real = os.path.realpath(target)
        return os.path.commonpath([real, dest_real]) == dest_real

    if not inside(Path(dest_real, name)):
        raise refuse(f"member {name!r} would be written outside the destination")
    if not (member.isreg() or member.islnk() or member.isdir() or member.issym()):
        raise refuse(f"member {name!r} is a special file (device or FIFO)")
    if member.islnk() or member.issym():
        if Path(member.linkname).is_absolute():
            raise refuse(f"link {name!r} points to the absolute path {member.linkname!r}")
        if member.issym():
            target = Path(dest_real, PurePosixPath(name).parent, member.linkname)
        else:
            target = Path(dest_real, member.linkname)
        if not inside(target):
            raise refuse(f"link {name!r} points outside the destination")
    safe = copy.copy(member)
    safe.uid = safe.gid = 0
    safe.uname = safe.gname = ""
    if member.isreg() or member.islnk():
        mode = member.mode & 0o755
        if not mode & 0o100:
            mode &= ~0o111
        safe.mode = mode | 0o600
    elif member.isdir():
        safe.mode = DIR_MODE
    return safe


def _extract_members(
    tar: tarfile.TarFile, members: list[tarfile.TarInfo], dest: str, refuse: Refuse
) -> None:
    if hasattr(tarfile, "data_filter"):
        # The filter runs again per member at extraction time, when earlier
        # members (links) exist on disk.
        tar.extractall(dest, members=members, filter="data")
        return

    def rechecked() -> Iterator[tarfile.TarInfo]:
        links: set[str] = set()
        for member in members:
            yield _check_member(member, dest, links, refuse)

    # Every member is checked by rechecked(); a Python that knows extraction
    # filters (only in tests when data_filter is hidden) must not warn.
    trusted = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
    tar.extractall(dest, members=rechecked(), **trusted)  # type: ignore[arg-type]  # noqa: S202


def extract_archive(
    source: BinaryIO, dest: Path, name: str, corrupt: Corrupt, refuse: Refuse
) -> list[Path]:
    """
    Extract the object in `source` into the directory `dest`, refusing unsafe members.

    Every member is checked before anything is written, and again as it is
    extracted: absolute paths, ``..`` components, members below a symbolic
    link of the archive, links pointing outside `dest` (or to an absolute
    path), devices and FIFOs are refused. Modes are limited as tarfile's
    ``data`` filter does and owners are not restored. A legacy plain-gzip or
    non-archive object is written to ``dest/<name>``.

    Args:
        source: A seekable file holding the whole object (read from its start).
        dest: An existing directory.
        name: The file name for an object that is not a tar archive.
        corrupt: Makes the error for a damaged gzip or tar.
        refuse: Makes the error for an unsafe member, from a message.

    Returns:
        The paths created, in archive order.

    Raises:
        Exception: The errors `corrupt` and `refuse` make.
        OSError: Writing below `dest` failed.
    """
    try:
        source.seek(0)
        compressed = read_exact(source, len(GZIP_MAGIC)) == GZIP_MAGIC
        source.seek(0)
        body: BinaryIO = (
            cast(BinaryIO, gzip.GzipFile(filename="", mode="rb", fileobj=source))
            if compressed
            else source
        )
        head = read_exact(body, _TAR_BLOCK_BYTES)
        if not _is_tar(head):
            target = dest / name
            with open(target, "wb") as out:
                out.write(head)
                shutil.copyfileobj(body, out, READ_BYTES)
            return [target]
        body.seek(0)
        dest_str = os.fspath(dest)
        with tarfile.open(fileobj=body, mode="r:") as tar:
            members = tar.getmembers()
            links: set[str] = set()
            for member in members:
                _check_member(member, dest_str, links, refuse)
            _extract_members(tar, members, dest_str, refuse)
    except CORRUPT_ERRORS as exc:
        raise corrupt(exc) from exc
    return [dest / PurePosixPath(m.name) for m in members]
