"""
The encoder thread of the upload pipeline: compress and hash ahead of the uploader.

While sealed batches wait for the uploader, one thread per writer encodes
up to `ENCODE_AHEAD` of them (compression and the MD5/SHA-256 digests the
store sends): zlib and hashlib release the GIL, so this runs beside the
uploader's PUTs. Started on the first backlog; exits when the pipeline
drains or aborts.

Thread safety: the thread takes work from the queue and hands results back
(`BatchQueue.take_for_encoding`, `BatchQueue.encoded`), holding no lock of
its own.
"""

from __future__ import annotations

import os
import threading

from objlog import _shutdown
from objlog._codec import encode_batch
from objlog._engine.queue import BatchQueue
from objlog._engine.records import RecordBuffer, count_lines, records_of
from objlog._engine.stats import Reporter
from objlog.typing import BodyDigests

__all__ = ["GZIP_THREADS", "Encoder", "encode"]

#: Threads (the encoding one included) that compress the gzip members of one
#: batch longer than `objlog._codec.GZIP_MEMBER_BYTES` at once.
GZIP_THREADS = max(1, min(4, os.cpu_count() or 1))


def encode(data: RecordBuffer | bytes, compression: str, compresslevel: int) -> tuple[bytes, int]:
    """
    Return the object body of a sealed batch's records and their number of lines.

    gzip reads the buffer in place. The lines are counted here, off the
    caller's thread: a ``write`` whose data held inner newlines stored as
    many records as lines, and ``stats.records`` says so from here on.

    A batch of several gzip members (longer than GZIP_MEMBER_BYTES) is
    compressed on up to GZIP_THREADS threads: the sync of a large buffered
    batch at shutdown does not wait for one core's zlib alone.
    """
    records = records_of(data)
    body = encode_batch(records, compression, compresslevel, threads=GZIP_THREADS)
    body = body if type(body) is bytes else bytes(body)
    return body, count_lines(body if compression == "none" else records)


class Encoder:
    """
    The encoder thread of one pipeline.

    Args:
        queue: The queue whose batches it encodes.
        report: Records a failure (never raises).
        name: Thread name.
    """

    __slots__ = ("_queue", "_report", "thread")

    def __init__(self, queue: BatchQueue, report: Reporter, name: str) -> None:
        self._queue = queue
        self._report = report
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> bool:
        """Start the thread; False when the interpreter is shutting down."""
        try:
            self.thread.start()
        except RuntimeError:  # the uploader encodes alone
            return False
        return True

    def _run(self) -> None:
        _shutdown.mark_objlog_thread()
        queue = self._queue
        while True:
            taken = queue.take_for_encoding()
            if taken is None:
                return
            batch, data = taken
            encoded: tuple[bytes, BodyDigests, int] | None = None
            try:
                assert data is not None
                body, lines = encode(data, batch.compression, batch.compresslevel)
                # Hashed here rather than by the store on the uploader's
                # thread: the next PUT need not wait for it.
                encoded = (body, BodyDigests.of(body), lines)
            except Exception as exc:  # noqa: BLE001 - the uploader encodes it instead
                self._report(exc, f"encode of {batch.key}")
            queue.encoded(batch, data, encoded)
            del data
