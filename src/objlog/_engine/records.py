"""
Reusable buffers that hold one batch's records, and their process-wide pool.

``write`` copies each record into the current batch's `RecordBuffer` and
drops it, so the allocator reuses the record's (hot) memory at once; a batch
of kept records would instead grow the heap by fresh pages, one first-touch
fault per 4 KiB. A buffer is an anonymous private mapping touched lazily, so
a small batch costs only the pages it fills; a sealed batch gives back the
pages past its end (`RecordBuffer.seal`), so its memory is its bytes, as
charged. Once no batch needs a buffer and no thread reads it, it goes back
to the pool for the next batch of any writer.

With a spool, a batch's buffer is a `FileRecordBuffer` instead: the
records area of its spool file, mapped shared (`objlog._spool.Spool.open_batch`),
so a record is on its way to disk the moment ``write`` copies it. Such a
buffer is never pooled: its mapping goes with its last reference.

Thread safety: a buffer's ``readers``/``detached`` fields are changed only
under the lock of the part that owns the batch (the upload pipeline's);
`take` and `recycle` use list operations, atomic under the GIL.
"""

from __future__ import annotations

import contextlib
import mmap
from pathlib import Path

__all__ = [
    "POOL_IDLE",
    "FileRecordBuffer",
    "RecordBuffer",
    "count_lines",
    "records_of",
    "recycle",
    "take",
]

#: Idle buffers kept per capacity, process-wide: their pages are already
#: touched, so filling them again costs no page faults.
POOL_IDLE = 2
_PAGE = mmap.PAGESIZE
_pool: dict[int, list[RecordBuffer]] = {}


class RecordBuffer:
    """
    The records of one batch, copied into one buffer of `cap` bytes.

    Attributes:
        cap: Capacity in bytes (the writer's ``max_size_bytes``).
        view: A writable memoryview of the whole buffer (the fast path writes here).
        used: Bytes of records, set by `seal`.
        readers: Threads reading `records()` unlocked (owner's lock).
        detached: No batch needs the buffer any more (owner's lock).
    """

    __slots__ = ("cap", "detached", "mm", "readers", "touched", "used", "view")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        try:
            self.mm: mmap.mmap | bytearray = mmap.mmap(-1, cap, flags=mmap.MAP_PRIVATE)
        except (AttributeError, TypeError, OSError):  # no MAP_PRIVATE (Windows)
            self.mm = bytearray(cap)
        self.view = memoryview(self.mm)
        self.touched = 0  # bytes from the start whose pages may be resident
        self.used = 0
        self.readers = 0
        self.detached = False

    def records(self) -> memoryview:
        """The sealed records, in place."""
        return self.view[: self.used]

    def seal(self, used: int) -> None:
        """The batch ends at `used` bytes: give back the pages past it."""
        self.used = used
        end = -(-used // _PAGE) * _PAGE
        if self.touched > end and hasattr(self.mm, "madvise"):
            with contextlib.suppress(OSError, ValueError):
                self.mm.madvise(mmap.MADV_DONTNEED, end, self.touched - end)
            self.touched = end
        else:
            self.touched = max(self.touched, used)

    def borrow(self) -> None:
        """Owner's lock held: one more thread reads the records unlocked."""
        self.readers += 1

    def give_back(self) -> None:
        """Owner's lock held: a reader is done; recycle once detached and unread."""
        self.readers -= 1
        if self.detached and not self.readers:
            self._free()

    def let_go(self) -> None:
        """Owner's lock held: no batch needs the buffer; recycle once no thread reads it."""
        self.detached = True
        if not self.readers:
            self._free()

    def _free(self) -> None:
        recycle(self)


class FileRecordBuffer(RecordBuffer):
    """
    A batch's records in the shared mapping of its spool file (see the module docstring).

    Args:
        mm: The file's mapping (`objlog._spool.Spool.open_batch`).
        offset: Where the records area starts in it.
        cap: Capacity of the records area, bytes.
        path: The file.
    """

    __slots__ = ("path",)

    def __init__(self, mm: mmap.mmap, offset: int, cap: int, path: Path) -> None:
        self.cap = cap
        self.mm = mm
        self.view = memoryview(mm)[offset : offset + cap]
        self.touched = 0
        self.used = 0
        self.readers = 0
        self.detached = False
        self.path = path

    def seal(self, used: int) -> None:
        """The batch ends at `used` bytes (the file keeps its pages: no madvise)."""
        self.used = used

    def _free(self) -> None:
        """Not pooled: the mapping is unmapped with its last reference."""


def count_lines(data: bytes | memoryview) -> int:
    """The number of ``\\n`` in `data` (the records a batch stores: one line each)."""
    if type(data) is not bytes:
        data = bytes(data)
    return data.count(b"\n")


def records_of(data: RecordBuffer | bytes | None) -> bytes | memoryview:
    """The bytes of a sealed batch's records (a view of its buffer; bytes as they are)."""
    if isinstance(data, RecordBuffer):
        return data.records()
    assert data is not None
    return data


def take(cap: int) -> RecordBuffer:
    """Return a buffer of `cap` bytes from the pool, else a new one."""
    idle = _pool.get(cap)
    if idle:
        with contextlib.suppress(IndexError):
            buf = idle.pop()
            buf.readers = 0
            buf.detached = False
            buf.used = 0
            return buf
    return RecordBuffer(cap)


def recycle(buf: RecordBuffer) -> None:
    """Give an unused buffer back to the pool (or to the allocator when the pool is full)."""
    idle = _pool.setdefault(buf.cap, [])
    if len(idle) < POOL_IDLE:
        idle.append(buf)
