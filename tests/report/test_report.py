"""The private stderr reporter: one line per interval, suppressed counts, never raises."""

from __future__ import annotations

import math
import sys

import pytest

from objlog._report import StderrReporter, write_stderr
from writer_helpers import FakeClock


def test_one_line_per_interval_with_suppressed_count(capsys: pytest.CaptureFixture[str]) -> None:
    """Lines within the interval are held back and counted on the next line shown."""
    clock = FakeClock()
    report = StderrReporter(10.0, clock=clock)
    assert [True, False, False] == [report(f"line {i}") for i in range(3)]
    clock.advance(10.0)
    assert report("line 3")
    assert "line 0\nline 3 (2 similar suppressed)\n" == capsys.readouterr().err


def test_infinite_interval_shows_only_the_first(capsys: pytest.CaptureFixture[str]) -> None:
    """With an infinite interval only the first line is ever shown."""
    report = StderrReporter(math.inf)
    for i in range(5):
        report(f"failure {i}")
    assert ("failure 0\n", 4) == (capsys.readouterr().err, report.suppressed)


def test_missing_or_broken_stderr_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """No stderr, or a closed one, makes write_stderr return False instead of raising."""
    monkeypatch.setattr(sys, "stderr", None)
    assert not write_stderr("x")

    class Closed:
        def write(self, text: str) -> int:
            raise ValueError("I/O operation on closed file")

    monkeypatch.setattr(sys, "stderr", Closed())
    assert not StderrReporter()("x")
