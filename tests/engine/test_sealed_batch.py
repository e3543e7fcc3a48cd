"""objlog._engine.batch.SealedBatch and objlog._engine.records: states and buffer reuse."""

from __future__ import annotations

from objlog._engine.batch import RECORD_OVERHEAD, SealedBatch, UploadState, charged
from objlog._engine.records import _pool, take


def _batch(data: bytes) -> SealedBatch:
    buf = take(8192)
    buf.view[: len(data)] = data
    buf.seal(len(data))
    return SealedBatch(
        "k", buf, records=2, raw_bytes=len(data), index=0, compression="gzip", compresslevel=1
    )


def test_a_batch_charges_its_bytes_plus_overhead_once() -> None:
    """mem_bytes is bytes + RECORD_OVERHEAD a record; release_memory gives it back only once."""
    batch = _batch(b"a\nb\n")
    assert 4 + 2 * RECORD_OVERHEAD == charged(4, 2) == batch.mem_bytes
    assert (charged(4, 2), 0) == (batch.release_memory(), batch.release_memory())


def test_a_recovered_batch_charges_nothing() -> None:
    """A batch known only from its spool file holds no memory."""
    batch = SealedBatch(
        "k", None, records=5, raw_bytes=500, index=-1, compression="gzip", compresslevel=1
    )
    assert 0 == batch.mem_bytes


def test_keeping_a_body_drops_records_nobody_needs() -> None:
    """Without a spool a compressed body is all an upload needs: the buffer goes to the pool."""
    batch = _batch(b"a\nb\n")
    buf = batch.data
    batch.keep_body(b"gz", None, keep_records=False)
    assert (b"gz", None) == (batch.body, batch.data)
    assert any(b is buf for b in _pool.get(8192, []))


def test_a_spooling_writer_keeps_the_records_beside_the_body() -> None:
    """With a spool the records stay until spooled (the spool stores records, not bodies)."""
    batch = _batch(b"a\nb\n")
    buf = batch.data
    batch.keep_body(b"gz", None, keep_records=True)
    assert buf is batch.data


def test_a_stored_batch_keeps_no_body() -> None:
    """A late encoder result for a batch already stored is ignored."""
    batch = _batch(b"a\n")
    batch.upload = UploadState.STORED
    batch.keep_body(b"late", None, keep_records=False)
    assert batch.body is None
