"""
A sealed batch on its way to the store, and the states it goes through.

Upload state (`UploadState`)::

    QUEUED ──> ENCODING ──> QUEUED (body kept) ──> UPLOADING ──> STORED
       └────────────────────────────────────────────> UPLOADING ──> QUEUED (failed: kept)

Spool state (`SpoolState`), independent of it: ``MEMORY`` ──> ``SPOOLING``
──> ``SPOOLED`` (back to ``MEMORY`` when the spool write failed).

A batch's records are in a `RecordBuffer` (sealed from the current batch),
in ``bytes`` (a record of at least ``max_size_bytes``, kept as given, or the
encoded body of an uncompressed batch), or only in its spool file.

Thread safety: every field is read and changed under the upload pipeline's lock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from objlog._engine.records import RecordBuffer
from objlog._spool import SpoolEntry
from objlog.typing import BodyDigests

__all__ = ["RECORD_OVERHEAD", "SealedBatch", "SpoolState", "UploadState", "charged"]

#: Memory charged per record on top of its bytes (``sys.getsizeof(b"")`` is
#: 33, plus its list slot and allocator rounding): the figure the memory
#: bound has always used.
RECORD_OVERHEAD = 48


def charged(raw_bytes: int, records: int) -> int:
    """Memory counted against ``max_buffer_bytes`` for `records` records of `raw_bytes` in all."""
    return raw_bytes + RECORD_OVERHEAD * records


class UploadState(enum.Enum):
    """Where a sealed batch is on its way to the store."""

    QUEUED = "queued"  # waiting for the encoder or the uploader
    ENCODING = "encoding"  # the encoder thread compresses and hashes it
    UPLOADING = "uploading"  # the uploader thread encodes (if needed) and PUTs it
    STORED = "stored"  # the store acknowledged it


class SpoolState(enum.Enum):
    """Whether a sealed batch is safe on local disk."""

    MEMORY = "memory"  # only in memory
    SPOOLING = "spooling"  # a thread writes it to the spool (no lock held)
    SPOOLED = "spooled"  # in the spool; its memory is released


@dataclass(slots=True, eq=False, repr=False)
class SealedBatch:
    """
    A sealed batch: its key, its records or spool file, and its encoded body once made.

    Args:
        key: The object key (fixed at seal time).
        data: The records (see the module docstring), or None for a batch
            known only from its spool file.
        records: Number of records.
        raw_bytes: Bytes of records (uncompressed).
        index: Seal order within the writer (-1 for a recovered batch).
        compression: Codec name (``"gzip"``, ``"none"``).
        compresslevel: Codec level.
        spool_entry: The batch's spool file, when it has one.
        file: The spool file that holds its records from the first write
            (format 2), sealed when the batch is spooled; None without a spool.

    Equality is identity: the queue finds a batch by ``is``.
    """

    key: str
    data: RecordBuffer | bytes | None
    records: int = field(kw_only=True)
    raw_bytes: int = field(kw_only=True)
    index: int = field(kw_only=True)
    compression: str = field(kw_only=True)
    compresslevel: int = field(kw_only=True)
    spool_entry: SpoolEntry | None = field(default=None, kw_only=True)
    file: Path | None = field(default=None, kw_only=True)
    #: What the batch counts against max_buffer_bytes while in memory (0 once released).
    mem_bytes: int = field(init=False, default=0)
    spool: SpoolState = field(init=False, default=SpoolState.MEMORY)
    upload: UploadState = field(init=False, default=UploadState.QUEUED)
    #: The encoded body once a thread encoded it (kept across retries) and its digests.
    body: bytes | None = field(init=False, default=None)
    digests: BodyDigests | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.data is not None:
            self.mem_bytes = charged(self.raw_bytes, self.records)
        if self.spool_entry is not None:
            self.spool = SpoolState.SPOOLED

    def __repr__(self) -> str:
        return (
            f"SealedBatch(key={self.key!r}, records={self.records}, upload={self.upload.value},"
            f" spool={self.spool.value})"
        )

    @property
    def idle(self) -> bool:
        """No thread encodes or uploads it."""
        return self.upload is UploadState.QUEUED

    def borrow(self) -> RecordBuffer | bytes | None:
        """Return the records for reading unlocked; pass them to `give_back` after."""
        data = self.data
        if isinstance(data, RecordBuffer):
            data.borrow()
        return data

    def keep_body(self, body: bytes, digests: BodyDigests | None, *, keep_records: bool) -> None:
        """
        Keep the encoded body (and digests) for the upload and its retries.

        The records go once nothing needs them: an uncompressed body replaces
        them (one copy, not two); without a spool nobody reads them again.
        """
        if self.upload is UploadState.STORED:
            return
        self.body = body
        self.digests = digests
        if self.data is None:
            return
        if self.compression == "none":
            self.set_data(body)
        elif not keep_records:
            self.set_data(None)

    def set_data(self, data: bytes | None) -> None:
        """Replace the records; a buffer they were in is let go (recycled once unread)."""
        old, self.data = self.data, data
        if isinstance(old, RecordBuffer):
            old.let_go()

    def release_memory(self) -> int:
        """Return the bytes this batch charged (once; 0 after)."""
        released, self.mem_bytes = self.mem_bytes, 0
        return released


def give_back(data: RecordBuffer | bytes | None) -> None:
    """A thread is done reading records taken with `SealedBatch.borrow` (pipeline's lock)."""
    if isinstance(data, RecordBuffer):
        data.give_back()
