"""objlog._engine.queue.BatchQueue: batch states, spooling and waits, stepped on one thread."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from objlog._engine.batch import SealedBatch, SpoolState, UploadState
from objlog._engine.budget import MemoryBudget, WhenFull
from objlog._engine.queue import ENCODE_AHEAD, BatchQueue, PipelineState
from objlog._engine.records import take
from objlog._engine.spooler import SpoolStage
from objlog._engine.stats import Counters, Reporter
from objlog._spool import Spool
from objlog.errors import SyncTimeout


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _batch(n: int, compression: str = "gzip") -> SealedBatch:
    record = f"record {n}\n".encode()
    buf = take(4096)
    buf.view[: len(record)] = record
    buf.seal(len(record))
    return SealedBatch(
        f"logs/r/t/{n:08d}.jsonl.gz",
        buf,
        records=1,
        raw_bytes=len(record),
        index=-1,
        compression=compression,
        compresslevel=1,
    )


def _queue(spool_dir: Path | None = None) -> tuple[BatchQueue, MemoryBudget, Counters]:
    budget = MemoryBudget(10**6, WhenFull.BLOCK, 1.0)
    counters = Counters()
    stage = None
    if spool_dir is not None:
        stage = SpoolStage(Spool(spool_dir, "w1"), Reporter(counters, "logs/r/t/", None))
    queue = BatchQueue(
        prefix="logs/r/t/", budget=budget, counters=counters, stage=stage, clock=_Clock()
    )
    return queue, budget, counters


def test_put_numbers_batches_in_seal_order_and_charges_memory() -> None:
    """Each batch gets the next index; its memory is charged; put returns the queue length."""
    queue, budget, _ = _queue()
    first, second = _batch(0), _batch(1)
    assert [1, 2] == [queue.put(first), queue.put(second)]
    assert (0, 1, 2) == (first.index, second.index, queue.sealed)
    assert first.mem_bytes + second.mem_bytes == budget.held


def test_the_uploader_takes_the_oldest_idle_batch_and_gives_it_back() -> None:
    """take_for_upload skips a batch another thread works on; done_with makes it idle again."""
    queue, _, _ = _queue()
    first, second = _batch(0), _batch(1)
    queue.put(first)
    queue.put(second)
    assert first is queue.take_for_upload()
    assert second is queue.take_for_upload()
    queue.done_with(first)
    assert (UploadState.QUEUED, UploadState.UPLOADING) == (first.upload, second.upload)


def test_a_stored_batch_leaves_the_queue_and_its_memory_is_released() -> None:
    """remove(stored=True) marks it STORED, drops it and gives its bytes back to the budget."""
    queue, budget, _ = _queue()
    batch = _batch(0)
    queue.put(batch)
    assert batch is queue.take_for_upload()
    assert queue.remove(batch, stored=True) is None
    assert (UploadState.STORED, 0, 0) == (batch.upload, len(queue), budget.held)
    assert batch.data is None


def test_cooldown_holds_batches_back_until_expedited() -> None:
    """After cool_down no batch is handed out; expedite (sync, close) ends the cooldown."""
    queue, _, _ = _queue()
    batch = _batch(0)
    queue.put(batch)
    queue.cool_down(30.0)
    taken: list[SealedBatch | None] = []
    uploader = threading.Thread(target=lambda: taken.append(queue.take_for_upload()))
    uploader.start()
    uploader.join(0.2)
    assert [] == taken
    queue.expedite()
    uploader.join(30)
    assert [batch] == taken


def test_the_encoder_looks_only_encode_ahead_batches_deep() -> None:
    """take_for_encoding skips busy batches and never looks past ENCODE_AHEAD + 1."""
    queue, _, _ = _queue()
    batches = [_batch(n) for n in range(ENCODE_AHEAD + 3)]
    for batch in batches:
        queue.put(batch)
    assert batches[0] is queue.take_for_upload()
    picked = []
    for _ in range(ENCODE_AHEAD):
        taken = queue.take_for_encoding()
        assert taken is not None
        picked.append(taken[0])
        queue.encoded(taken[0], taken[1], (b"body", None, 1))
    assert batches[1 : ENCODE_AHEAD + 1] == picked
    assert [UploadState.QUEUED] * ENCODE_AHEAD == [b.upload for b in picked]
    assert all(b.body == b"body" for b in picked)
    queue.state = PipelineState.ABORTED
    assert queue.take_for_encoding() is None


def test_an_uncompressed_body_replaces_its_records() -> None:
    """For compression "none" the encoded body is the records: one copy is kept, not two."""
    queue, _, _ = _queue()
    batch = _batch(0, compression="none")
    queue.put(batch)
    taken = queue.take_for_encoding()
    assert taken is not None
    queue.encoded(batch, taken[1], (b"record 0\n", None, 1))
    assert batch.data is batch.body


def test_spooling_writes_every_batch_and_releases_its_memory(tmp_path: Path) -> None:
    """spool_pending writes each in-memory batch once, marks it SPOOLED and frees its bytes."""
    queue, budget, counters = _queue(tmp_path)
    batches = [_batch(n) for n in range(3)]
    for batch in batches:
        queue.put(batch)
    queue.spool_pending()
    queue.spool_pending()  # nothing left to write: no second copy
    assert [SpoolState.SPOOLED] * 3 == [b.spool for b in batches]
    assert (0, 3) == (budget.held, counters.spooled)
    assert 3 == len(list(tmp_path.glob("*/*.spool")))


def test_sync_counts_spooled_batches_as_done(tmp_path: Path) -> None:
    """wait_done returns once every batch up to its target is spooled, stored or not."""
    queue, _, _ = _queue(tmp_path)
    queue.put(_batch(0))
    queue.wait_done(queue.sealed, time.monotonic() + 30, "sync")
    assert 1 == len(queue)


def test_sync_times_out_naming_the_pending_batches() -> None:
    """Without a spool, batches not stored by the deadline raise SyncTimeout with their count."""
    queue, _, _ = _queue()
    queue.put(_batch(0))
    queue.put(_batch(1))
    with pytest.raises(SyncTimeout, match="1 batch") as info:
        queue.wait_done(1, time.monotonic() + 0.05, "sync")
    assert 1 == info.value.pending_batches


def test_drain_aborts_when_batches_are_left_and_counts_them_lost() -> None:
    """With no uploader alive drain aborts at once; lost() counts what was not stored or spooled."""
    queue, _, _ = _queue()
    assert not queue.drain(time.monotonic() + 30, lambda: False)
    assert PipelineState.DRAINING is queue.state
    queue.put(_batch(0))
    assert queue.drain(time.monotonic() + 30, lambda: False)
    assert (True, 1) == (queue.aborted, queue.lost(queue.sealed))
    assert queue.take_for_upload() is None


def test_recovered_batches_go_first_and_end_recovery(tmp_path: Path) -> None:
    """Batches claimed from the spool are queued ahead of new ones, and recovery is over."""
    queue, _, _ = _queue(tmp_path)
    assert not queue.recovered
    fresh, old = _batch(1), _batch(0)
    queue.put(fresh)
    queue.put_recovered([old])
    assert queue.recovered
    assert old is queue.take_for_upload()
