"""The spool's dead letters: set aside with a reason, listed, re-queued for the next writer."""

from __future__ import annotations

import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from objlog import _spool
from objlog._spool import Spool

_KEY = "logs/r/t/20260101T000000.000000Z-w1-{:08d}.jsonl"


def _put(spool: Spool, n: int) -> Path:
    return spool.put(
        _KEY.format(n), [f"r{n}\n".encode()], compression="none", compresslevel=0, records=1
    ).path


@settings(max_examples=50)
@given(st.text(alphabet=string.ascii_letters + "._-~", min_size=1, max_size=40))
def test_is_batch_file_accepts_only_sealed_batch_names(stem: str) -> None:
    """A ``.spool`` name is a batch unless a dot file; the lock, reasons and temp files are not."""
    name = stem + ".spool"
    assert (not name.startswith(".")) == _spool.is_batch_file(name)
    assert not _spool.is_batch_file(name + ".json")
    assert not _spool.is_batch_file(".tmp-" + name)
    assert not _spool.is_batch_file(".lock")


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["key", "error", "message", "time"]), st.text(max_size=50)))
def test_dead_letter_moves_the_file_and_keeps_its_reason(
    tmp_path_factory: object, reason: dict[str, str]
) -> None:
    """dead_letter renames the file into .dead/ (records intact) and stores the reason beside it."""
    root = tmp_path_factory.mktemp("spool")  # type: ignore[attr-defined]
    spool = Spool(root, "w1")
    path = _put(spool, 0)
    dead = spool.dead_letter(path, reason)
    assert (False, root / ".dead") == (path.exists(), dead.parent)
    assert b"r0\n" == Spool.read(dead)
    assert reason == _spool.read_reason(dead)
    spool.close()


def test_the_same_name_twice_is_kept_twice(tmp_path: Path) -> None:
    """A second dead letter of one name gets a unique name: nothing is overwritten."""
    first, second = Spool(tmp_path, "w1"), Spool(tmp_path, "w1")
    a = first.dead_letter(_put(first, 0), {"error": "A"})
    b = second.dead_letter(_put(second, 0), {"error": "B"})
    assert a != b and _spool.is_batch_file(b.name)
    assert ("A", "B") == (_spool.read_reason(a)["error"], _spool.read_reason(b)["error"])


def test_a_missing_reason_reads_as_empty(tmp_path: Path) -> None:
    """A crash between the move and the reason's write leaves a dead letter without reason."""
    spool = Spool(tmp_path, "w1")
    dead = spool.dead_letter(_put(spool, 0), {"error": "A"})
    _spool.reason_path(dead).unlink()
    assert {} == _spool.read_reason(dead)


def test_put_dead_writes_a_memory_batch_straight_there(tmp_path: Path) -> None:
    """put_dead leaves nothing in the writer's directory."""
    spool = Spool(tmp_path, "w1")
    dead = spool.put_dead(
        _KEY.format(1),
        [b"a\n", b"b\n"],
        compression="none",
        compresslevel=0,
        records=2,
        reason={"error": "X"},
    )
    assert b"a\nb\n" == Spool.read(dead)
    assert [".lock"] == [p.name for p in spool.dir.iterdir()]


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sets(st.integers(min_value=0, max_value=999), min_size=1, max_size=6))
def test_requeued_batches_are_recovered_by_the_next_writer(
    tmp_path_factory: object, numbers: set[int]
) -> None:
    """requeue puts dead letters where claim_leftovers finds them, keys and records intact."""
    root = tmp_path_factory.mktemp("spool")  # type: ignore[attr-defined]
    old = Spool(root, "w1")
    dead = [old.dead_letter(_put(old, n), {"error": "X"}) for n in sorted(numbers)]
    old.close()
    directory = _spool.requeue(root, dead)
    assert [] == [p for p in (root / ".dead").iterdir()]
    assert [(directory, False)] == _spool.writer_dirs(root)

    entries, problems = Spool(root, "w2").claim_leftovers()
    assert [] == problems
    assert [_KEY.format(n) for n in sorted(numbers)] == [e.key for e in entries]
    assert [f"r{n}\n".encode() for n in sorted(numbers)] == [Spool.read(e.path) for e in entries]


def test_writer_dirs_tells_live_writers_from_dead_ones(tmp_path: Path) -> None:
    """A directory whose lock is held belongs to a live writer; an unlocked one to a dead one."""
    live, gone = Spool(tmp_path, "live"), Spool(tmp_path, "gone")
    _put(live, 0)
    _put(gone, 1)
    gone.close()  # leftovers: the directory stays, unlocked
    assert [(gone.dir, False), (live.dir, True)] == sorted(_spool.writer_dirs(tmp_path))
    assert live._lock_fd is not None  # the probe did not take the live writer's lock away
    assert [] == _spool.writer_dirs(tmp_path / "missing")
