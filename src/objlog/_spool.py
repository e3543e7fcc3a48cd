"""
The spool: a durable local queue of sealed batches, for crash recovery.

Layout under the spool directory::

    <spool_dir>/<writer id>.<random>/.lock               flock()ed while the writer lives
    <spool_dir>/<writer id>.<random>/<batch name>.batch  a batch in a shared mapping (format 2)
    <spool_dir>/<writer id>.<random>/<batch name>.spool  one sealed batch, name = last key segment
    <spool_dir>/.corrupt/                             files that failed their checksum
    <spool_dir>/.dead/<batch name>.spool[.json]       batches the store refused for good,
                                                      with their reason (`Spool.dead_letter`)

Format 2, the batch being filled (`Spool.open_batch`): with a spool, a
writer's current batch lives in a file of ``HEADER_BYTES`` + max_size_bytes,
reserved with ``posix_fallocate`` (a full disk fails here, never later as a
SIGBUS on a page fault) and mapped ``MAP_SHARED``: ``write()`` copies each
record into the mapping, so once it returns the record is in the kernel's
page cache and survives the death of the process (SIGKILL, OOM kill), though
not a power loss. The header page holds a magic line and a JSON line (key,
compression, level); when the batch is spooled (`Spool.finish`) a second
JSON line at ``_SEAL_AT`` adds its size, record count and CRC-32, the file
is cut to its records and, unless the writer's ``spool_fsync`` is
``"never"``, fsync()ed. A file without that line belongs to a process that
died while filling it (or before spooling it): its records end at the last
``\n`` of the data area (the rest of the area is zeros), and a record cut
short by the kill has no ``\n`` of its own, so it is left out.

Format 1, ``.spool``: a batch file is written to a temporary name, fsync()ed, renamed into place
with `os.replace` and the directory fsync()ed, so a file with the final name
is always complete. It holds a magic line, a JSON header (full key,
compression, record count, size, CRC-32) and the raw records. Raw records,
not the encoded object, are kept: spooling happens on the caller's thread when
memory is full, and gzip is too slow for that.

Crash recovery: a writer's directory whose ``.lock`` can be flock()ed belongs
to a dead process. The recovering writer moves each of its batch files into
its own directory with `os.rename` (atomic: two recovering writers can never
both claim one file), then uploads them under their original keys. The random
part of a directory's name makes it unique per `Spool` instance, so a writer
restarted under a fixed id (a pod name) never meets its predecessor's
directory; the key lives in each file's header.

POSIX only: the liveness test above is ``fcntl.flock``, and the layout relies
on renaming directories and files that are held open, which Windows refuses.
Where ``fcntl`` is missing, ``import objlog`` and every store still work, and
`Spool` (so a writer with a ``spool_dir``) raises `ConfigError` (see
`check_supported`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import mmap
import os
import secrets
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from objlog._streams import fsync_dir
from objlog.errors import ConfigError, SpoolCorruptError

try:
    import fcntl
except ImportError:  # Windows: no flock, hence no spool (see the module docstring)
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DEAD_DIR",
    "HEADER_BYTES",
    "PreparedFile",
    "Spool",
    "SpoolCorruptError",
    "SpoolEntry",
    "check_supported",
    "is_batch_file",
    "read_entry",
    "read_reason",
    "reason_path",
    "requeue",
    "writer_dirs",
]

_MAGIC = b"OBJLOG-SPOOL 1\n"
_MAGIC2 = b"OBJLOG-SPOOL 2\n"
_SUFFIX = ".spool"
_SUFFIX2 = ".batch"
#: Bytes before the records of a format-2 file: one page, so the records
#: area of the mapping starts page-aligned.
HEADER_BYTES = 4096
#: Offset of the seal line in a format-2 header (NUL while unsealed).
_SEAL_AT = 3072
#: madvise(2) advice that faults pages in writable (Linux 5.14; not in 3.11's mmap module).
_MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)
#: Bytes populated per madvise call, so the GIL is given up between slices.
_POPULATE_SLICE = 256 * 1024
_LOCK = ".lock"
_CORRUPT = ".corrupt"


@dataclass(frozen=True, slots=True)
class PreparedFile:
    """A format-2 file made ahead by `Spool.prepare`: temporary name, mapping, capacity."""

    path: Path
    mm: mmap.mmap
    cap: int

    def discard(self) -> None:
        """Remove the unused file (its mapping goes with its last reference)."""
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpoolEntry:
    """
    One batch file in the spool.

    Attributes:
        path: The file.
        key: The object key the batch is stored under.
        compression: ``"gzip"`` or ``"none"``, as sealed.
        compresslevel: gzip level, as sealed.
        records: Number of records.
        raw_bytes: Size of the records in bytes (uncompressed).
    """

    path: Path
    key: str
    compression: str
    compresslevel: int
    records: int
    raw_bytes: int


def check_supported() -> None:
    """
    Refuse a spool where ``fcntl.flock`` is missing (Windows).

    Raises:
        ConfigError: This platform has no ``fcntl``: leave ``spool_dir`` unset.

    Thread safety: pure; safe from any thread.
    """
    if fcntl is None:
        raise ConfigError(
            "spool_dir needs POSIX file locks (fcntl.flock), which this platform lacks:"
            " leave spool_dir and OBJLOG_SPOOL_DIR unset"
        )


def _lock(fd: int) -> None:
    """Take the exclusive lock on `fd` without waiting (OSError when another process holds it)."""
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def is_batch_file(name: str) -> bool:
    """
    Whether a file named `name` in a spool directory holds a batch (either format).

    Temporary files (a dot name), the ``.lock`` and reason files are not.
    The one place that knows the batch files' naming: listing and
    recovery tools ask it.

    Thread safety: pure; safe from any thread.
    """
    return name.endswith((_SUFFIX, _SUFFIX2)) and not name.startswith(".")


def _json_line(line: bytes, path: Path) -> dict[str, object]:
    """One JSON object on a line of a spool file's header (SpoolCorruptError if not)."""
    if not line.endswith(b"\n"):
        raise SpoolCorruptError(f"{path}: truncated header")
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise SpoolCorruptError(f"{path}: bad header") from exc
    if not isinstance(header, dict):
        raise SpoolCorruptError(f"{path}: bad header")
    return header


def _read_header(path: Path) -> tuple[dict[str, object], int]:
    """
    Return the header and the payload offset of a spool file (either format).

    For format 2 the header holds ``"sealed": False`` while no seal line
    was written, else the seal line's fields too.
    """
    with open(path, "rb") as f:
        magic = f.read(len(_MAGIC))
        if magic == _MAGIC2:
            page = f.read(HEADER_BYTES - len(_MAGIC2))
            if len(page) != HEADER_BYTES - len(_MAGIC2):
                raise SpoolCorruptError(f"{path}: truncated header")
            end = page.find(b"\n")
            header = _json_line(page[: end + 1], path)
            seal = page[_SEAL_AT - len(_MAGIC2) :]
            if seal[:1] == b"\0":
                header["sealed"] = False
            else:
                header.update(_json_line(seal[: seal.find(b"\n") + 1], path))
                header["sealed"] = True
            return header, HEADER_BYTES
        if magic != _MAGIC:
            raise SpoolCorruptError(f"{path}: not a spool file")
        return _json_line(f.readline(64 * 1024), path), f.tell()


def _unsealed_records(path: Path, offset: int) -> bytes:
    """The records of a format-2 file its writer never sealed: up to the last newline."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    return data[: data.rfind(b"\n") + 1]


def _entry(path: Path) -> SpoolEntry:
    header, offset = _read_header(path)
    try:
        if header.get("sealed") is False:
            data = _unsealed_records(path, offset)
            header["records"], header["raw_bytes"] = data.count(b"\n"), len(data)
        return SpoolEntry(
            path=path,
            key=str(header["key"]),
            compression=str(header["compression"]),
            compresslevel=int(header["compresslevel"]),  # type: ignore[call-overload]
            records=int(header["records"]),  # type: ignore[call-overload]
            raw_bytes=int(header["raw_bytes"]),  # type: ignore[call-overload]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SpoolCorruptError(f"{path}: incomplete header") from exc


class Spool:
    """
    One writer's directory in a spool, created on first use.

    Args:
        root: The spool directory (created if missing).
        writer_id: The owning writer's id (its subdirectory's name, followed
            by a random part unique to this instance).

    Raises:
        ConfigError: The platform has no ``fcntl.flock`` (see `check_supported`).

    Thread safety: `put`, `read` and `remove` may run concurrently for
    different batches; `claim_leftovers` and `close` are called by one thread.
    """

    def __init__(self, root: str | os.PathLike[str], writer_id: str) -> None:
        check_supported()
        self.root = Path(root)
        self.writer_id = writer_id
        self.dir = self.root / f"{writer_id}.{secrets.token_hex(4)}"
        self._lock_fd: int | None = None
        self._setup = threading.Lock()

    def __repr__(self) -> str:
        return f"Spool(dir={str(self.dir)!r})"

    # -- own directory -----------------------------------------------------
    def _ensure_dir(self) -> Path:
        if self._lock_fd is not None:
            return self.dir
        with self._setup:
            if self._lock_fd is not None:
                return self.dir
            return self._make_dir()

    def _make_dir(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        # Built under a dot name and renamed, so another writer never sees
        # this directory without its held lock.
        tmp = self.root / f".{self.dir.name}.tmp"
        tmp.mkdir(exist_ok=True)
        fd = os.open(tmp / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock(fd)
            tmp.replace(self.dir)
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd
        return self.dir

    def put(
        self,
        key: str,
        chunks: Sequence[bytes | bytearray | memoryview],
        *,
        compression: str,
        compresslevel: int,
        records: int,
    ) -> SpoolEntry:
        """
        Write one sealed batch durably and return its entry.

        Raises:
            OSError: The spool is full or not writable (the batch is not spooled).
        """
        directory = self._ensure_dir()
        name = key.rsplit("/", 1)[-1] + _SUFFIX
        final = directory / name
        tmp = directory / f".tmp-{name}"
        crc = 0
        size = 0
        for chunk in chunks:
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
        header = {
            "key": key,
            "compression": compression,
            "compresslevel": compresslevel,
            "records": records,
            "raw_bytes": size,
            "crc32": crc,
        }
        try:
            with open(tmp, "wb") as f:
                f.write(_MAGIC)
                f.write(json.dumps(header, separators=(",", ":")).encode() + b"\n")
                f.writelines(chunks)
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(final)
            fsync_dir(directory)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return SpoolEntry(
            path=final,
            key=key,
            compression=compression,
            compresslevel=compresslevel,
            records=records,
            raw_bytes=size,
        )

    def prepare(self, cap: int) -> PreparedFile:
        """
        Make a format-2 file for a later batch ahead of time, its pages faulted in.

        Runs on a background thread: `open_batch` then only writes the header
        and renames, and the first write to each page costs no page fault on
        the caller's thread (about 7 us per 4 KiB page measured here).
        ``MADV_POPULATE_WRITE`` (Linux 5.14+) faults the pages in, in slices
        that let other threads run; where it is missing the pages fault on
        first write as without preparation.

        Raises:
            OSError: The file cannot be made (nothing is left behind).
        """
        directory = self._ensure_dir()
        tmp = directory / f".next-{secrets.token_hex(6)}{_SUFFIX2}"
        mm = self._create(tmp, HEADER_BYTES + cap)
        with contextlib.suppress(OSError, ValueError):
            for start in range(0, HEADER_BYTES + cap, _POPULATE_SLICE):
                length = min(_POPULATE_SLICE, HEADER_BYTES + cap - start)
                mm.madvise(_MADV_POPULATE_WRITE, start, length)
        return PreparedFile(tmp, mm, cap)

    @staticmethod
    def _create(path: Path, size: int) -> mmap.mmap:
        """Create `path` of `size` bytes, space reserved, and map it shared (OSError: none left)."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, size)  # ENOSPC now, not SIGBUS on a later write
            else:
                os.ftruncate(fd, size)
            return mmap.mmap(fd, size, flags=mmap.MAP_SHARED)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)

    def open_batch(
        self,
        key: str,
        cap: int,
        *,
        compression: str,
        compresslevel: int,
        prepared: PreparedFile | None = None,
    ) -> tuple[Path, mmap.mmap]:
        """
        Create the format-2 file of a batch being filled and map its records area.

        Args:
            key: The batch's object key.
            cap: Bytes of records it can hold (the writer's max_size_bytes).
            compression: Codec name, for the upload after a crash.
            compresslevel: Codec level.
            prepared: A file from `prepare` of the same `cap` to use (its
                temporary name becomes the batch's); else one is made now.

        Returns:
            The file and a shared writable mapping of all of it: the records
            go at ``HEADER_BYTES`` onwards.

        Raises:
            OSError: The file cannot be created or its space reserved (a
                full disk: ENOSPC); nothing is left behind.
        """
        directory = self._ensure_dir()
        path = directory / (key.rsplit("/", 1)[-1] + _SUFFIX2)
        head = (
            _MAGIC2
            + json.dumps(
                {"key": key, "compression": compression, "compresslevel": compresslevel},
                separators=(",", ":"),
            ).encode()
            + b"\n"
        )
        if len(head) > _SEAL_AT:
            raise OSError(errno.ENAMETOOLONG, f"spool header of {key!r} too long")
        # Made under a temporary name, so a file with the final name always
        # has its header (a torn temporary file is removed by recovery).
        if prepared is not None and prepared.cap == cap:
            tmp, mm = prepared.path, prepared.mm
        else:
            tmp = directory / f".tmp-{path.name}"
            mm = self._create(tmp, HEADER_BYTES + cap)
        try:
            mm[: len(head)] = head
            tmp.rename(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path, mm

    @staticmethod
    def finish(
        path: Path,
        data: bytes | memoryview,
        *,
        key: str,
        compression: str,
        compresslevel: int,
        records: int,
        fsync: bool,
    ) -> SpoolEntry:
        """
        Seal a format-2 file whose records are `data`: seal line, cut, fsync.

        Args:
            path: From `open_batch`.
            data: The batch's records (its mapping's records area, up to their end).
            key: compression: compresslevel: As given to `open_batch`.
            records: Their number.
            fsync: fsync() the file and its directory (power-loss safe).

        Returns:
            The batch's entry.

        Raises:
            OSError: The file cannot be written (it stays as it was: a
                recovering writer still reads it to its last newline).
        """
        size = len(data)
        seal = (
            json.dumps(
                {"raw_bytes": size, "records": records, "crc32": zlib.crc32(data)},
                separators=(",", ":"),
            ).encode()
            + b"\n"
        )
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            # Cut first: killed between the two steps, the file is still a
            # whole unsealed one (records end at its last newline).
            os.ftruncate(fd, HEADER_BYTES + size)
            os.pwrite(fd, seal, _SEAL_AT)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if fsync:
            fsync_dir(path.parent)
        return SpoolEntry(
            path=path,
            key=key,
            compression=compression,
            compresslevel=compresslevel,
            records=records,
            raw_bytes=size,
        )

    @staticmethod
    def read(path: Path) -> bytes:
        """
        Return the records of a spool file, checked against its CRC-32.

        Raises:
            SpoolCorruptError: Truncated, or the checksum does not match.
            OSError: The file cannot be read.
        """
        header, offset = _read_header(path)
        if header.get("sealed") is False:
            return _unsealed_records(path, offset)
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(int(header.get("raw_bytes", -1)) + 1)  # type: ignore[call-overload]
        if len(data) != header.get("raw_bytes") or zlib.crc32(data) != header.get("crc32"):
            raise SpoolCorruptError(f"{path}: size or CRC-32 mismatch")
        return data

    @staticmethod
    def remove(path: Path) -> None:
        """Delete a batch file once its batch is stored (missing is fine)."""
        path.unlink(missing_ok=True)

    def quarantine(self, path: Path) -> Path:
        """Move a corrupt file to ``<root>/.corrupt/`` for a human; return its new path."""
        target_dir = self.root / _CORRUPT
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / f"{self.writer_id}-{path.name}"
        path.replace(target)
        return target

    # -- crash recovery ------------------------------------------------------
    def claim_leftovers(self) -> tuple[list[SpoolEntry], list[tuple[Path, Exception]]]:
        """
        Move the batches of dead writers into this writer's directory.

        Returns:
            ``(entries, problems)``: the claimed batches sorted by file name
            (seal time), and files that could not be read (already moved to
            ``.corrupt``) or directories that could not be claimed, with the
            reason. A directory that vanishes meanwhile (its writer closed)
            is skipped.

        Raises:
            OSError: The spool directory cannot be listed or written.
        """
        if not self.root.is_dir():
            return [], []
        own = self._ensure_dir()
        problems: list[tuple[Path, Exception]] = []
        moved: list[Path] = []
        for other in sorted(self.root.iterdir()):
            if other.name.startswith(".") or other == own or not other.is_dir():
                continue
            try:
                fd = os.open(other / _LOCK, os.O_RDWR)
            except OSError:
                continue  # being set up or being removed by another writer
            try:
                try:
                    _lock(fd)
                except OSError:
                    continue  # its writer is alive
                try:
                    self._claim_dir(other, own, moved)
                except FileNotFoundError:
                    continue  # its writer closed (and removed it) since our open()
                except OSError as exc:  # keep what was moved; try the other directories
                    problems.append((other, exc))
            finally:
                os.close(fd)
        entries: list[SpoolEntry] = []
        for path in sorted(moved, key=lambda p: p.name):
            try:
                entry = _entry(path)
            except (SpoolCorruptError, OSError) as exc:
                problems.append((path, exc))
                with contextlib.suppress(OSError):
                    self.quarantine(path)
                continue
            if entry.raw_bytes:
                entries.append(entry)
            else:  # a batch opened, never written to: nothing to upload
                path.unlink(missing_ok=True)
        return entries, problems

    @staticmethod
    def _claim_dir(other: Path, own: Path, moved: list[Path]) -> None:
        """Move a dead writer's batch files (flock held) into `own`, appending to `moved`."""
        for path in sorted(other.iterdir()):
            if is_batch_file(path.name):
                try:
                    path.rename(own / path.name)
                except FileNotFoundError:
                    continue
                moved.append(own / path.name)
            elif path.name != _LOCK:
                path.unlink(missing_ok=True)  # a torn temp file: never sealed
        (other / _LOCK).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            other.rmdir()

    # -- lifecycle -------------------------------------------------------------
    def close(self) -> None:
        """Remove the directory if empty and release its lock; leftovers stay for recovery."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        try:
            leftovers = [p for p in self.dir.iterdir() if p.name != _LOCK]
            if not leftovers:
                (self.dir / _LOCK).unlink(missing_ok=True)
                self.dir.rmdir()
        except OSError:
            pass
        finally:
            os.close(fd)

    def forget_after_fork(self) -> None:
        """In a forked child: drop the inherited lock descriptor without unlocking the parent's."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- dead letters ----------------------------------------------------------
    @property
    def dead_dir(self) -> Path:
        """``<root>/.dead/``: batches the store refused for good (see `dead_letter`)."""
        return self.root / DEAD_DIR

    def dead_letter(self, path: Path, reason: Mapping[str, object]) -> Path:
        """
        Move a batch file into ``<root>/.dead/`` and write its reason beside it.

        The move is an `os.rename` within the spool (atomic: the file is
        either still queued or dead-lettered, never both nor lost); the
        reason goes to ``<file>.json`` (`reason_path`), written after, so a
        crash between the two leaves a dead letter without a reason, which
        `read_reason` shows as an empty mapping. Nothing is deleted.

        Args:
            path: A batch file of this spool (a writer's directory).
            reason: JSON-able fields: key, error type, message (no secret:
                store errors are scrubbed), time, writer id.

        Returns:
            The batch file's new path.

        Raises:
            OSError: The file could not be moved (it stays where it was) or
                its reason not written (the file is dead-lettered anyway).
        """
        target_dir = self.dead_dir
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / path.name
        if target.exists():  # the same batch name twice (two writers with one fixed id)
            stem, dot, suffix = path.name.rpartition(".")
            target = target_dir / f"{stem}~{secrets.token_hex(4)}{dot}{suffix}"
        path.rename(target)
        fsync_dir(target_dir)
        with contextlib.suppress(OSError):
            fsync_dir(path.parent)
        _write_json(reason_path(target), reason)
        return target

    def put_dead(
        self,
        key: str,
        chunks: Sequence[bytes | bytearray | memoryview],
        *,
        compression: str,
        compresslevel: int,
        records: int,
        reason: Mapping[str, object],
    ) -> Path:
        """
        Write a batch held only in memory durably, then dead-letter it (see `put`, `dead_letter`).

        Returns:
            The batch file in ``<root>/.dead/``.

        Raises:
            OSError: The batch could not be written (nothing is left on disk)
                or moved (it stays in this writer's directory, so the next
                writer on the spool tries it again).
        """
        entry = self.put(
            key, chunks, compression=compression, compresslevel=compresslevel, records=records
        )
        return self.dead_letter(entry.path, reason)


#: Folder of the spool root holding dead-lettered batches (skipped by recovery: a dot name).
DEAD_DIR = ".dead"
#: Name prefix of the directories `requeue` makes (any writer id would do).
REQUEUED = "requeued"


def read_entry(path: Path) -> SpoolEntry:
    """
    Return the entry of a batch file from its header (the records are not checked).

    Raises:
        SpoolCorruptError: Not a spool file, or its header is incomplete.
        OSError: It cannot be read.
    """
    return _entry(path)


def reason_path(path: Path) -> Path:
    """The reason file of a dead-lettered batch file: ``<file name>.json`` beside it."""
    return path.with_name(path.name + ".json")


def read_reason(path: Path) -> dict[str, object]:
    """
    Return the reason stored beside a dead-lettered batch file.

    Returns:
        The mapping `Spool.dead_letter` wrote; empty when the file is
        missing or unreadable (a crash between the move and its write).

    Thread safety: reads one file; safe from any thread.
    """
    try:
        with open(reason_path(path), "rb") as f:
            data = json.loads(f.read(64 * 1024))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def writer_dirs(root: Path) -> list[tuple[Path, bool]]:
    """
    Return the writers' directories of a spool and whether each writer is alive.

    A writer is alive while it holds the flock on its ``.lock`` (see the
    module docstring); the test takes a shared lock for an instant, which
    a recovering writer that meets it then simply skips until its next start.

    Args:
        root: The spool directory.

    Returns:
        ``(directory, alive)`` pairs sorted by name; [] when `root` is missing.

    Raises:
        OSError: `root` cannot be listed.
    """
    check_supported()
    if not root.is_dir():
        return []
    found: list[tuple[Path, bool]] = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or not child.is_dir():
            continue
        try:
            fd = os.open(child / _LOCK, os.O_RDONLY)
        except OSError:
            continue  # being set up or removed: not a writer's directory yet or any more
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                alive = True
            else:
                alive = False
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        found.append((child, alive))
    return found


def requeue(root: Path, paths: Sequence[Path]) -> Path:
    """
    Move batch files back into the queue of the spool at `root`: the next writer uploads them.

    They go into a new directory with an unlocked ``.lock`` (what a dead
    writer leaves), built under a dot name and renamed into place, so
    `Spool.claim_leftovers` of the next writer started on this spool
    claims them whole and uploads them under their original keys. Their
    reason files are removed.

    Args:
        root: The spool directory.
        paths: Batch files, normally in ``<root>/.dead/``.

    Returns:
        The new directory.

    Raises:
        OSError: A file could not be moved; those moved before stay queued.
    """
    check_supported()
    name = f"{REQUEUED}.{secrets.token_hex(4)}"
    tmp = root / f".{name}.tmp"
    tmp.mkdir(parents=True)
    os.close(os.open(tmp / _LOCK, os.O_RDWR | os.O_CREAT, 0o600))
    try:
        for path in paths:
            path.rename(tmp / path.name)
            reason_path(path).unlink(missing_ok=True)
        fsync_dir(tmp)
    finally:
        final = root / name
        tmp.replace(final)
        fsync_dir(root)
    return final


def _write_json(path: Path, data: Mapping[str, object]) -> None:
    """Write `data` to `path` whole or not at all (temp file, fsync, `os.replace`)."""
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        with open(tmp, "wb") as f:
            f.write(json.dumps(data, separators=(",", ":"), default=str).encode())
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
