"""Format-2 spool files: the batch being filled, mapped shared, and what a kill leaves of it."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from objlog._engine.records import FileRecordBuffer
from objlog._spool import HEADER_BYTES, Spool, SpoolCorruptError, _entry, is_batch_file

KEY = "logs/r/t/20260101T000000.000000Z-w1-{:08d}.jsonl.gz"
_seq = itertools.count()

lines = st.lists(st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" ") + b"\n"), max_size=30)


def _fill(spool: Spool, records: list[bytes], tail: bytes = b"", cap: int = 16384) -> Path:
    """A batch file holding `records` then `tail` (a record half-copied when the kill came)."""
    path, mm = spool.open_batch(KEY.format(next(_seq)), cap, compression="gzip", compresslevel=1)
    data = b"".join(records) + tail
    mm[HEADER_BYTES : HEADER_BYTES + len(data)] = data
    mm.close()
    return path


def _crash(spool: Spool) -> None:
    assert spool._lock_fd is not None
    os.close(spool._lock_fd)
    spool._lock_fd = None


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=lines, tail=st.binary(max_size=50).map(lambda b: b.replace(b"\n", b"")))
def test_unsealed_file_reads_every_whole_record(
    tmp_path: Path, records: list[bytes], tail: bytes
) -> None:
    """A file never sealed (its process killed) gives its whole records, not the torn tail."""
    spool = Spool(tmp_path / "spool", "w1")
    path = _fill(spool, records, tail)
    entry = _entry(path)
    assert (len(records), len(b"".join(records))) == (entry.records, entry.raw_bytes)
    assert b"".join(records) == Spool.read(path)


def test_sealed_file_reads_exactly_and_checks_its_crc(tmp_path: Path) -> None:
    """finish() writes the seal line and cuts the file; a flipped byte is then detected."""
    spool = Spool(tmp_path / "spool", "w1")
    records = [b'{"n": %d}\n' % i for i in range(100)]
    path = _fill(spool, records)
    data = b"".join(records)
    entry = Spool.finish(
        path, data, key=KEY.format(0), compression="gzip", compresslevel=1, records=100, fsync=True
    )
    assert HEADER_BYTES + len(data) == path.stat().st_size
    assert (100, len(data)) == (entry.records, entry.raw_bytes)
    assert data == Spool.read(path)
    with open(path, "r+b") as f:
        f.seek(HEADER_BYTES + 5)
        f.write(b"X")
    with pytest.raises(SpoolCorruptError):
        Spool.read(path)


def test_killed_between_cut_and_seal_line_is_still_whole(tmp_path: Path) -> None:
    """finish() cuts before it seals: a kill between the two leaves a readable unsealed file."""
    spool = Spool(tmp_path / "spool", "w1")
    records = [b"a\n", b"bb\n"]
    path = _fill(spool, records)
    os.truncate(path, HEADER_BYTES + 5)
    assert b"a\nbb\n" == Spool.read(path)


def test_recovery_claims_mapped_files_and_drops_empty_and_torn_ones(tmp_path: Path) -> None:
    """A dead writer's .batch files are claimed; an empty one and a temporary one are removed."""
    dead = Spool(tmp_path / "spool", "dead")
    full = _fill(dead, [b"kept\n"])
    _fill(dead, [])  # opened, never written to
    (dead.dir / ".tmp-x.batch").write_bytes(b"\0" * 10)  # killed inside open_batch
    _crash(dead)
    alive = Spool(tmp_path / "spool", "alive")
    entries, problems = alive.claim_leftovers()
    assert [] == problems
    assert [full.name] == [e.path.name for e in entries]
    assert b"kept\n" == Spool.read(entries[0].path)
    assert sorted([full.name, ".lock"]) == sorted(p.name for p in alive.dir.iterdir())
    assert not dead.dir.exists()


def test_a_full_disk_fails_at_open_not_later(tmp_path: Path) -> None:
    """posix_fallocate reserves the whole batch: no space is an OSError at open_batch."""
    import resource

    spool = Spool(tmp_path / "spool", "w1")
    spool.open_batch(KEY.format(next(_seq)), 10, compression="gzip", compresslevel=1)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))
    try:
        with pytest.raises(OSError):
            spool.open_batch(KEY.format(next(_seq)), 8 << 20, compression="gzip", compresslevel=1)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert [] == [p for p in spool.dir.iterdir() if p.name.startswith(".tmp")]


def test_writer_falls_back_to_memory_when_the_spool_file_cannot_be_made(tmp_path: Path) -> None:
    """No space for the batch file: the failure is reported, the records stay in memory and land."""
    import errno

    from objlog.stores.memory import MemoryStore
    from objlog.writer import ObjectStoreWriter

    store = MemoryStore()
    errors: list[BaseException] = []
    writer = ObjectStoreWriter(
        store, pipelinerun="r", task="t", spool_dir=tmp_path / "spool", on_error=errors.append
    )
    assert writer._spool is not None

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    writer._spool.open_batch = full  # type: ignore[method-assign,assignment]
    assert 5 == writer.write("kept\n")
    writer.close(timeout=30)
    assert [errno.ENOSPC] == [getattr(e, "errno", None) for e in errors]
    (key,) = store.keys()
    assert key.startswith("logs/r/t/")
    assert 1 == writer.stats.objects


def test_next_batch_file_is_made_ahead_and_removed_at_close(tmp_path: Path) -> None:
    """The preparer makes the next file with its pages in; close removes an unused one."""
    from objlog._engine.spooler import SpoolStage
    from objlog._engine.stats import Counters, Reporter

    spool = Spool(tmp_path / "spool", "w1")
    stage = SpoolStage(spool, Reporter(Counters(), "p/", None, 10.0))
    cap = 1 << 20
    first = stage.open_batch(KEY.format(next(_seq)), cap, "gzip", 1)
    deadline = time.monotonic() + 30
    while stage._ready is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    made_ahead = stage._ready.path
    second = stage.open_batch(KEY.format(next(_seq)), cap, "gzip", 1)
    assert not made_ahead.exists()  # renamed to the second batch's name
    assert isinstance(second, FileRecordBuffer)
    second.view[:6] = b"later\n"
    assert b"later\n" == Spool.read(second.path)  # the header was written into the mapping
    del first, second
    for path in list(spool.dir.iterdir()):
        if is_batch_file(path.name):
            path.unlink()
    stage.close()
    assert not spool.dir.exists()  # no prepared file left behind to keep it
