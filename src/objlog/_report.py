"""
Failure lines on stderr for code that must never raise (private).

Background threads, logging handlers and shutdown hooks cannot raise into
the application, so their failures go to counters, hooks and stderr. This
module is the one place that writes such lines: `write_stderr` never raises
(stderr may be closed or replaced at interpreter exit), and `StderrReporter`
keeps a failing component to one line per interval.

Lock-free on purpose: a reporter is used from signal handlers, at-fork hooks
and atexit, where waiting for a lock another thread held could deadlock.
Under a race a line may be shown twice or a suppressed count be off by one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

__all__ = ["STDERR_INTERVAL", "StderrReporter", "write_stderr"]

#: Default seconds between two stderr lines of one reporter.
STDERR_INTERVAL = 10.0


def write_stderr(line: str) -> bool:
    """
    Write one line (a newline is added) to the current ``sys.stderr`` and flush.

    Returns:
        True when written, False when stderr is missing or failed.

    Thread safety: safe from any thread; never raises.
    """
    stream = sys.stderr
    if stream is None:
        return False
    try:
        stream.write(line + "\n")
        stream.flush()
    except Exception:  # noqa: BLE001 - stderr may be closed at shutdown; nothing to do
        return False
    return True


class StderrReporter:
    """
    Show at most one stderr line per `interval`; count the lines held back.

    The next line shown says how many were suppressed since the last one.

    Args:
        interval: Seconds between two lines (default `STDERR_INTERVAL`);
            ``math.inf`` shows only the first line.
        clock: Monotonic seconds (default `time.monotonic`).

    Thread safety: safe from any thread, lock-free (see the module docstring).
    """

    __slots__ = ("_clock", "_interval", "_next", "_suppressed")

    def __init__(
        self, interval: float = STDERR_INTERVAL, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._next: float | None = None
        self._suppressed = 0

    @property
    def suppressed(self) -> int:
        """Lines held back since the last one shown."""
        return self._suppressed

    def __call__(self, line: str) -> bool:
        """
        Show `line` unless one was shown less than `interval` seconds ago.

        Returns:
            True when the line was written to stderr.
        """
        now = self._clock()
        if self._next is not None and now < self._next:
            self._suppressed += 1
            return False
        self._next = now + self._interval
        suppressed, self._suppressed = self._suppressed, 0
        more = f" ({suppressed} similar suppressed)" if suppressed else ""
        return write_stderr(line + more)
