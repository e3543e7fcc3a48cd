"""
The spool stage of the upload pipeline: sealed batches to local disk and back.

It also makes the file-backed buffer of each batch being filled
(`open_batch`); spooling such a batch seals its file in place
(`objlog._spool.Spool.finish`) instead of copying its records.

`SpoolStage` does the spool's I/O for the pipeline, with no lock held: it
writes batches (`write`), reads one back for its upload (`read`), removes a
stored batch's file, quarantines a corrupt one, claims the batches a dead
writer left (`recover`), and sets aside a batch the store refused for good
(`dead_letter`). Which batches to write, and what their states
become, is the pipeline's business, under its lock.

Thread safety: safe from any thread (`objlog._spool.Spool` locks its own files).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import threading
from collections.abc import Sequence
from pathlib import Path

from objlog import _shutdown
from objlog._engine.batch import SealedBatch
from objlog._engine.records import FileRecordBuffer, RecordBuffer, records_of
from objlog._engine.stats import Reporter
from objlog._spool import HEADER_BYTES, PreparedFile, Spool, SpoolEntry

__all__ = ["PREPARE_JOIN", "SpoolStage"]

#: Seconds `SpoolStage.close` waits for the preparer thread to finish a file.
PREPARE_JOIN = 2.0
#: Batches at least this big get their next file made ahead (smaller ones fault little).
_PREPARE_MIN = 256 * 1024


class SpoolStage:
    """
    Spool I/O for one writer's pipeline.

    Args:
        spool: The writer's spool.
        report: Records a failure (never raises).
    """

    __slots__ = ("_closed", "_prep", "_ready", "_report", "_wake", "_want", "fsync", "spool")

    def __init__(self, spool: Spool, report: Reporter, *, fsync: bool = True) -> None:
        self.spool = spool
        self._report = report
        self.fsync = fsync
        self._ready: PreparedFile | None = None  # the next batch's file, made ahead
        self._want = 0  # its capacity
        self._wake = threading.Event()
        self._prep: threading.Thread | None = None
        self._closed = False

    def open_batch(
        self, key: str, cap: int, compression: str, compresslevel: int, *, ahead: bool = True
    ) -> RecordBuffer:
        """
        A buffer for the batch being filled: its spool file's shared mapping.

        Takes the file made ahead for a batch of this `cap` when there is
        one, and (`ahead`) asks the preparer thread for the next (see
        `Spool.prepare`); a record sealed alone passes ``ahead=False``.

        Raises:
            OSError: The file cannot be made (full disk, no permission).
        """
        ready = self._ready
        if ready is not None and ready.cap == cap:
            self._ready = None
        else:
            ready = None
        path, mm = self.spool.open_batch(
            key, cap, compression=compression, compresslevel=compresslevel, prepared=ready
        )
        if ahead and cap >= _PREPARE_MIN:
            self._prepare_next(cap)
        return FileRecordBuffer(mm, HEADER_BYTES, cap, path)

    def _prepare_next(self, cap: int) -> None:
        """Have the preparer thread make the next batch's file (started on first use)."""
        self._want = cap
        if self._prep is None and not self._closed:
            thread = threading.Thread(
                target=self._preparer, name=f"objlog-spool-prep-{self.spool.writer_id}", daemon=True
            )
            try:
                thread.start()
            except RuntimeError:  # interpreter shutting down: files are made on demand
                return
            self._prep = thread
        self._wake.set()

    def _preparer(self) -> None:
        _shutdown.mark_objlog_thread()
        while not self._closed:
            self._wake.wait()
            self._wake.clear()
            if self._closed or self._ready is not None:
                continue
            try:
                ready = self.spool.prepare(self._want)
            except OSError:
                continue  # open_batch makes the file itself, and reports what fails
            if self._closed:
                ready.discard()
                return
            self._ready = ready

    def write(
        self, todo: Sequence[tuple[SealedBatch, RecordBuffer | bytes | None]]
    ) -> list[tuple[SealedBatch, SpoolEntry]]:
        """
        Write each batch's borrowed records to the spool (fsync), in order.

        Stops at the first failure, which is reported; the batches not
        written stay in memory and are tried again by the next spooling.

        Returns:
            The batches written, each with its spool entry.
        """
        done: list[tuple[SealedBatch, SpoolEntry]] = []
        for batch, data in todo:
            if data is None:
                continue
            try:
                if batch.file is not None:  # its records are in the file already: seal it
                    entry = self._finish(batch, batch.file, data)
                else:
                    entry = self.spool.put(
                        batch.key,
                        [records_of(data)],
                        compression=batch.compression,
                        compresslevel=batch.compresslevel,
                        records=batch.records,
                    )
            except FileNotFoundError:
                if batch.file is not None:
                    continue  # stored (and its file removed) meanwhile
                self._report_missing(batch)
                break
            except OSError as exc:
                self._report(exc, f"spool to {self.spool.root}")
                break
            done.append((batch, entry))
        return done

    def _finish(self, batch: SealedBatch, path: Path, data: RecordBuffer | bytes) -> SpoolEntry:
        """Seal the format-2 file of `batch` in place (OSError as `Spool.finish`)."""
        return self.spool.finish(
            path,
            records_of(data),
            key=batch.key,
            compression=batch.compression,
            compresslevel=batch.compresslevel,
            records=batch.records,
            fsync=self.fsync,
        )

    def _report_missing(self, batch: SealedBatch) -> None:
        self._report(FileNotFoundError(f"spool directory {self.spool.dir} vanished"), batch.key)

    def read(self, entry: SpoolEntry) -> bytes:
        """
        Return the records of a spooled batch.

        Raises:
            SpoolCorruptError: The file is not a whole spool file.
            OSError: It cannot be read.
        """
        return Spool.read(entry.path)

    def remove(self, path: Path, *, quiet: bool = False) -> None:
        """Remove a stored batch's spool file; a failure is reported unless `quiet`."""
        try:
            Spool.remove(path)
        except OSError as exc:
            if not quiet:
                self._report(exc, f"spool clean-up of {path.name}")

    def quarantine(self, entry: SpoolEntry) -> None:
        """Set a corrupt spool file aside (it is never deleted)."""
        with contextlib.suppress(OSError):
            self.spool.quarantine(entry.path)

    def recover(self) -> list[SealedBatch]:
        """Claim the batches dead writers left in the spool, oldest first; problems are reported."""
        try:
            entries, problems = self.spool.claim_leftovers()
        except OSError as exc:
            self._report(exc, f"spool recovery in {self.spool.root}")
            return []
        for path, problem in problems:
            self._report(problem, f"spool recovery of {path.name}")
        return [
            SealedBatch(
                entry.key,
                None,
                records=entry.records,
                raw_bytes=entry.raw_bytes,
                index=-1,
                compression=entry.compression,
                compresslevel=entry.compresslevel,
                spool_entry=entry,
            )
            for entry in entries
        ]

    def close(self) -> None:
        """Stop the preparer, remove an unused prepared file, release the spool's lock."""
        self._closed = True
        self._wake.set()
        thread = self._prep
        if thread is not None and thread is not threading.current_thread():
            thread.join(PREPARE_JOIN)
        ready, self._ready = self._ready, None
        if ready is not None:
            with contextlib.suppress(OSError):
                ready.discard()
        self.spool.close()

    def dead_letter(
        self,
        batch: SealedBatch,
        entry: SpoolEntry | None,
        data: RecordBuffer | bytes | None,
        exc: BaseException,
    ) -> tuple[Path | None, bool, OSError | None]:
        """
        Set a batch the store refused for good aside in ``<spool>/.dead/`` with its reason.

        A spooled batch's file is moved there; a batch only in memory is
        written there from its borrowed records `data`. Never raises.

        Args:
            batch: The batch.
            entry: Its spool file, or None when it is only in memory.
            data: Its borrowed records when `entry` is None.
            exc: Why the store refused it (its message holds no secret:
                store errors are scrubbed where they are made).

        Returns:
            ``(dead, on_disk, problem)``: the file in ``.dead/`` (None if
            that failed), whether the records are on disk at all (in
            ``.dead/`` or still in this writer's directory, where the next
            writer finds them), and the failure, if any.
        """
        reason = {
            "key": batch.key,
            "error": type(exc).__name__,
            "reason": getattr(exc, "reason", ""),
            "message": str(exc),
            "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "writer_id": self.spool.writer_id,
            "records": batch.records,
            "raw_bytes": batch.raw_bytes,
        }
        try:
            if entry is None and batch.file is not None and data is not None:
                # Its records are in its own file already: seal that, then move it.
                entry = self._finish(batch, batch.file, data)
            if entry is not None:
                return self.spool.dead_letter(entry.path, reason), True, None
            if data is None:  # no records left to write: nothing to keep on disk
                return None, False, None
            dead = self.spool.put_dead(
                batch.key,
                [records_of(data)],
                compression=batch.compression,
                compresslevel=batch.compresslevel,
                records=batch.records,
                reason=reason,
            )
        except OSError as problem:
            on_disk = entry is not None and entry.path.exists()
            return None, on_disk, problem
        return dead, True, None
