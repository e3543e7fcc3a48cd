"""BatchQueue and SpoolStage setting a refused batch aside, stepped on one thread."""

from __future__ import annotations

from pathlib import Path

from objlog import _spool
from objlog._engine.batch import SealedBatch, SpoolState
from objlog._engine.budget import MemoryBudget, WhenFull
from objlog._engine.queue import BatchQueue
from objlog._engine.records import take
from objlog._engine.spooler import SpoolStage
from objlog._engine.stats import Counters, Reporter
from objlog._spool import Spool
from objlog.errors import PermanentStoreError

_REFUSED = PermanentStoreError(
    "put_object: access denied", bucket="b", key="k", reason="AccessDenied"
)


def _batch(n: int) -> SealedBatch:
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
        compression="gzip",
        compresslevel=1,
    )


def _queue(spool_dir: Path | None) -> tuple[BatchQueue, MemoryBudget, SpoolStage | None]:
    budget = MemoryBudget(10**6, WhenFull.BLOCK, 1.0)
    counters = Counters()
    stage = None
    if spool_dir is not None:
        stage = SpoolStage(Spool(spool_dir, "w1"), Reporter(counters, "logs/r/t/", None))
    queue = BatchQueue(
        prefix="logs/r/t/", budget=budget, counters=counters, stage=stage, clock=lambda: 0.0
    )
    return queue, budget, stage


def test_a_batch_in_memory_is_written_straight_to_the_dead_letters(tmp_path: Path) -> None:
    """Not yet spooled: claimed (no other thread spools it), written to .dead/, memory released."""
    queue, budget, stage = _queue(tmp_path)
    assert stage is not None
    batch, other = _batch(0), _batch(1)
    queue.put(batch)
    queue.put(other)
    assert batch is queue.take_for_upload()
    entry, data, claimed = queue.claim_for_dead_letter(batch)
    assert (None, True, SpoolState.SPOOLING) == (entry, claimed, batch.spool)
    queue.spool_pending()  # a sync meanwhile spools the other batch only
    assert (SpoolState.SPOOLING, SpoolState.SPOOLED) == (batch.spool, other.spool)

    dead, on_disk, problem = stage.dead_letter(batch, entry, data, _REFUSED)
    queue.set_aside(batch, data, claimed=claimed, keep=not on_disk)

    assert dead is not None and (True, None) == (on_disk, problem)
    assert tmp_path / ".dead" == dead.parent
    assert b"record 0\n" == Spool.read(dead)
    assert "AccessDenied" == _spool.read_reason(dead)["reason"]
    assert [other] == list(queue._batches)
    assert (0, 0) == (budget.held, queue.dead_in_memory())
    assert [] == [p for p in stage.spool.dir.iterdir() if p.name == dead.name]


def test_a_spooled_batch_is_moved_not_copied(tmp_path: Path) -> None:
    """A spooled batch's file is renamed into .dead/: it leaves the writer's directory."""
    queue, _, stage = _queue(tmp_path)
    assert stage is not None
    batch = _batch(0)
    queue.put(batch)
    queue.spool_pending()
    spooled = batch.spool_entry
    assert spooled is not None
    entry, data, claimed = queue.claim_for_dead_letter(batch)
    assert (spooled, None, False) == (entry, data, claimed)
    dead, on_disk, _ = stage.dead_letter(batch, entry, data, _REFUSED)
    queue.set_aside(batch, data, claimed=claimed, keep=not on_disk)
    assert dead is not None and not spooled.path.exists()
    assert b"record 0\n" == Spool.read(dead)
    assert 0 == len(queue)


def test_without_a_spool_the_batch_stays_charged_and_close_counts_it(tmp_path: Path) -> None:
    """No spool: set aside in memory, still charged to the budget, not pending for sync."""
    queue, budget, _ = _queue(None)
    batch = _batch(0)
    queue.put(batch)
    charged = budget.held
    entry, data, claimed = queue.claim_for_dead_letter(batch)
    assert (None, False) == (entry, claimed)
    queue.set_aside(batch, data, claimed=claimed, keep=True)
    assert (charged, 1, 0) == (budget.held, queue.dead_in_memory(), len(queue))
    queue.wait_done(queue.sealed, 0.0, "sync")  # returns: nothing left to wait for
    error = queue.timeout("close", 1, 1)
    assert 1 == error.pending_batches
    assert "refused by the store for good" in str(error)
    assert "neither stored nor spooled" not in str(error)


def test_a_failed_dead_letter_write_keeps_the_batch_in_memory(tmp_path: Path) -> None:
    """An unwritable spool: the records stay in memory (charged) and the failure is returned."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    queue, budget, stage = _queue(blocker)
    assert stage is not None
    batch = _batch(0)
    queue.put(batch)
    entry, data, claimed = queue.claim_for_dead_letter(batch)
    dead, on_disk, problem = stage.dead_letter(batch, entry, data, _REFUSED)
    queue.set_aside(batch, data, claimed=claimed, keep=not on_disk)
    assert (None, False) == (dead, on_disk)
    assert isinstance(problem, OSError)
    assert (1, SpoolState.MEMORY) == (queue.dead_in_memory(), batch.spool)
    assert budget.held > 0
