"""What became of each line of ``objlog run``: writer spans, the sink's ledger, the summary."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from objlog import cli
from objlog._engine.stats import Counters
from objlog._run import LineSink, RunReport

# What becomes of a sealed batch: stored; spooled; spooled, then stored; stored
# while being spooled (the spool write is then stale); left in memory.
FATES = ("stored", "spooled", "spooled+stored", "stale", "memory")


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(st.tuples(st.integers(1, 5), st.sampled_from(FATES)), max_size=30))
def test_counters_split_sealed_records_by_fate(batches: list[tuple[int, str]]) -> None:
    """Every sealed record is in exactly one of stored, spooled, unsaved; spans say which."""
    counters = Counters()
    expected: dict[str, list[tuple[int, int]]] = {"stored": [], "spooled": [], "memory": []}
    first = 0
    for i, (records, fate) in enumerate(batches):
        key = f"k{i}"
        counters.sealed(records, 10 * records, key)
        if fate == "stored":
            counters.stored(7, key)
        elif fate == "spooled":
            counters.spooled_batches(1, [key])
        elif fate == "spooled+stored":
            counters.spooled_batches(1, [key])
            counters.stored(7, key)
        elif fate == "stale":
            counters.stored(7, key)
            counters.spooled_batches(0, [key])
        counters.stored(5, "recovered-from-an-earlier-writer")  # not one of this writer's
        where = {"spooled": "spooled", "memory": "memory"}.get(fate, "stored")
        expected[where].append((first, records))
        first += records
    stats = counters.snapshot(current_records=3, current_bytes=30, queue_depth=0)
    assert first + 3 == stats.records
    assert sum(n for _, n in expected["stored"]) == stats.stored_records
    assert tuple(expected["spooled"]) == stats.spooled_spans
    assert tuple(expected["memory"]) == stats.unsaved_spans
    assert sum(n for _, n in expected["spooled"]) == stats.spooled_records
    assert first == stats.stored_records + stats.spooled_records + stats.unsaved_records


class CountingWriter:
    """A writer that accepts, drops (returns 0) or refuses (raises) as told, per call."""

    def __init__(self, verdicts: list[str]) -> None:
        self.verdicts = verdicts
        self.calls = 0

    def write(self, data: str) -> int:
        verdict = self.verdicts[self.calls]
        self.calls += 1
        if verdict == "refuse":
            raise ValueError("refused")
        return 0 if verdict == "drop" else len(data)


@settings(max_examples=200, deadline=None)
@given(
    calls=st.lists(
        st.tuples(st.integers(1, 4), st.sampled_from(["take", "take", "drop", "refuse"])),
        max_size=25,
    ),
    data=st.data(),
)
def test_line_sink_ledger_maps_writer_records_to_lines(
    calls: list[tuple[int, str]], data: st.DataObject
) -> None:
    """line_count of any span of accepted calls is the lines they held, also after forget_before."""
    sink = LineSink(CountingWriter([verdict for _, verdict in calls]))
    held: list[int] = []  # lines of each accepted call, in order
    for n, verdict in calls:
        sink.emit("stdout", [(b"x", True)] * n, "2026-11-21T11:40:00.000000Z")
        if verdict == "take":
            held.append(n)
    assert sum(held) == sink.accepted
    assert len(held) == sink.writes
    assert sum(n for n, v in calls if v == "drop") == sink.dropped
    assert sum(n for n, v in calls if v == "refuse") == sink.errors
    cut = data.draw(st.integers(0, len(held)), label="cut")
    sink.forget_before(cut)
    first = data.draw(st.integers(cut, len(held)), label="first")
    count = data.draw(st.integers(0, len(held) - first), label="count")
    assert sum(held[first : first + count]) == sink.line_count([(first, count)])
    assert sum(held[first:]) == sink.line_count([(first, len(held) + 5)])  # clipped at the end


def _summary(**fields: object) -> str:
    report = RunReport(**fields)  # type: ignore[arg-type]
    return cli._run_summary(report, "logs/pr/t/")


def test_summary_of_a_healthy_run_says_stored() -> None:
    """All lines stored: the summary says so, and mentions no spool and no loss."""
    line = _summary(lines_stored=120, objects=2, synced=True, spool_dir=Path("/sp"))
    assert line.startswith("120 lines: 120 stored in 2 object(s) under logs/pr/t/ ;")
    assert "spooled" not in line
    assert "LOST" not in line


def test_summary_never_says_stored_for_spooled_lines() -> None:
    """Spooled lines are counted apart, with the spool directory; stored counts only the rest."""
    line = _summary(lines_stored=20, lines_spooled=100, objects=1, spool_dir=Path("/var/sp"))
    assert "120 lines: 20 stored in 1 object(s) under logs/pr/t/" in line
    assert "100 spooled in /var/sp" in line
    assert "LOST" not in line


def test_summary_says_lost() -> None:
    """Lost lines are named as such, with the exit status."""
    line = _summary(lines_lost=7, exit_status=1)
    assert line.startswith("7 lines: 0 stored in 0 object(s) under logs/pr/t/, 7 LOST ;")
    assert line.endswith("exit status 1")
