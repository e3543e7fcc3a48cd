"""The spool: durable batch files, checksums, crash recovery by rename-claim."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from objlog import errors
from objlog._spool import Spool, SpoolCorruptError


def _put(spool: Spool, key: str, chunks: list[bytes]) -> Path:
    return spool.put(key, chunks, compression="gzip", compresslevel=6, records=len(chunks)).path


def _crash(spool: Spool) -> None:
    """Simulate the owner's death: its lock descriptor goes away, its files stay."""
    assert spool._lock_fd is not None
    os.close(spool._lock_fd)
    spool._lock_fd = None


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=20))
def test_round_trip(tmp_path: Path, chunks: list[bytes]) -> None:
    """What put() wrote, read() returns, with the header's key and counts."""
    spool = Spool(tmp_path / "spool", "w1")
    entry = spool.put(
        "logs/r/t/20260101T000000.000000Z-w1-00000000.jsonl.gz",
        chunks,
        compression="gzip",
        compresslevel=6,
        records=len(chunks),
    )
    assert b"".join(chunks) == Spool.read(entry.path)
    assert (len(chunks), len(b"".join(chunks))) == (entry.records, entry.raw_bytes)
    Spool.remove(entry.path)
    spool.close()


def test_no_temp_files_left(tmp_path: Path) -> None:
    """Only the final file and the lock remain after put()."""
    spool = Spool(tmp_path, "w1")
    _put(spool, "logs/r/t/k1.jsonl.gz", [b"a\n"])
    assert [".lock", "k1.jsonl.gz.spool"] == sorted(p.name for p in spool.dir.iterdir())


def test_corruption_is_detected(tmp_path: Path) -> None:
    """A flipped byte or a truncated file fails the CRC/size check."""
    spool = Spool(tmp_path, "w1")
    path = _put(spool, "logs/r/t/k1.jsonl.gz", [b"hello\n", b"world\n"])
    data = path.read_bytes()
    path.write_bytes(data[:-1] + b"X")
    with pytest.raises(SpoolCorruptError):
        Spool.read(path)
    path.write_bytes(data[:-3])
    with pytest.raises(SpoolCorruptError):
        Spool.read(path)


def test_close_removes_empty_dir_keeps_leftovers(tmp_path: Path) -> None:
    """close() removes an empty writer directory and keeps one with batches."""
    empty = Spool(tmp_path, "w1")
    path = _put(empty, "logs/r/t/k1.jsonl.gz", [b"a\n"])
    Spool.remove(path)
    empty.close()
    assert not empty.dir.exists()
    full = Spool(tmp_path, "w2")
    _put(full, "logs/r/t/k2.jsonl.gz", [b"a\n"])
    full.close()
    assert (full.dir / "k2.jsonl.gz.spool").exists()


def test_recovery_claims_dead_writers_only(tmp_path: Path) -> None:
    """A dead writer's batches move to the claimant; a live writer's stay put."""
    dead = Spool(tmp_path, "dead")
    for i in range(3):
        _put(dead, f"logs/r/t/k{i}.jsonl.gz", [f"{i}\n".encode()])
    (dead.dir / ".tmp-torn.spool").write_bytes(b"partial")
    _crash(dead)
    live = Spool(tmp_path, "live")
    _put(live, "logs/r/t/mine.jsonl.gz", [b"x\n"])

    claimant = Spool(tmp_path, "new")
    entries, problems = claimant.claim_leftovers()
    assert [] == problems
    assert [f"logs/r/t/k{i}.jsonl.gz" for i in range(3)] == [e.key for e in entries]
    assert [f"{i}\n".encode() for i in range(3)] == [Spool.read(e.path) for e in entries]
    assert not dead.dir.exists()
    assert (live.dir / "mine.jsonl.gz.spool").exists()

    second = Spool(tmp_path, "other")
    assert ([], []) == second.claim_leftovers()


def test_recovery_quarantines_corrupt_files(tmp_path: Path) -> None:
    """A leftover that is not a spool file is reported and moved to .corrupt."""
    dead = Spool(tmp_path, "dead")
    _put(dead, "logs/r/t/good.jsonl.gz", [b"a\n"])
    (dead.dir / "bad.spool").write_bytes(b"garbage")
    _crash(dead)
    entries, problems = Spool(tmp_path, "new").claim_leftovers()
    assert ["logs/r/t/good.jsonl.gz"] == [e.key for e in entries]
    assert ["bad.spool"] == [p.name for p, _ in problems]
    assert ["new-bad.spool"] == [p.name for p in (tmp_path / ".corrupt").iterdir()]


def test_unwritable_spool_raises_oserror(tmp_path: Path) -> None:
    """A spool under a file (not a directory) raises OSError, for the writer to report."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError):
        _put(Spool(blocker / "spool", "w1"), "logs/r/t/k.jsonl.gz", [b"a\n"])


def test_restart_with_the_same_writer_id_recovers_and_spools(tmp_path: Path) -> None:
    """A writer restarted under a fixed id claims the dead one's batches and keeps spooling."""
    dead = Spool(tmp_path, "podA")
    _put(dead, "logs/r/t/k0.jsonl.gz", [b"old\n"])
    _crash(dead)
    again = Spool(tmp_path, "podA")
    entries, problems = again.claim_leftovers()
    assert ([], ["logs/r/t/k0.jsonl.gz"]) == (problems, [e.key for e in entries])
    assert [b"old\n"] == [Spool.read(e.path) for e in entries]
    path = _put(again, "logs/r/t/k1.jsonl.gz", [b"new\n"])
    assert b"new\n" == Spool.read(path)
    assert [again.dir.name] == [p.name for p in tmp_path.iterdir()]


def test_recovery_goes_on_when_a_directory_vanishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory removed mid-claim (its writer closed) is skipped; moved batches are returned."""
    dead = Spool(tmp_path, "a_dead")
    _put(dead, "logs/r/t/k0.jsonl.gz", [b"0\n"])
    _crash(dead)
    closing = Spool(tmp_path, "b_closing")
    Spool.remove(_put(closing, "logs/r/t/k1.jsonl.gz", [b"1\n"]))
    closing_lock = (closing.dir / ".lock").stat().st_ino
    real_flock = fcntl.flock

    def flock(fd: int, op: int) -> None:
        if os.fstat(fd).st_ino == closing_lock and closing._lock_fd is not None:
            closing.close()  # between our open(.lock) and flock: it goes away
        real_flock(fd, op)

    monkeypatch.setattr("objlog._spool.fcntl.flock", flock)
    entries, problems = Spool(tmp_path, "c_new").claim_leftovers()
    assert ([], ["logs/r/t/k0.jsonl.gz"]) == (problems, [e.key for e in entries])


def test_spool_corrupt_error_is_in_the_error_tree() -> None:
    """SpoolCorruptError is errors.SpoolCorruptError: an ObjlogError and still a ValueError."""
    assert errors.SpoolCorruptError is SpoolCorruptError
    assert issubclass(SpoolCorruptError, errors.ObjlogError)
    assert issubclass(SpoolCorruptError, ValueError)
    assert "SpoolCorruptError" in errors.__all__
    assert "SpoolCorruptError" in (errors.__doc__ or "")
