"""
When a batch is sealed: the flush policy, and the timer that applies its age bound.

`FlushPolicy` is the pure rule (the stdlib's ``MemoryHandler.shouldFlush``
kept apart from the flush itself): a batch is sealed when the next record
would take it past ``max_size_bytes``, when it reaches that size, or when
its first record is ``max_age`` seconds old, or, under a key layout with
time partitions (``partition_us``, `objlog._layout.Layout`), when the clock
reaches the end of the partition of the batch's key time (so a batch never
spans two partitions: its records all arrive within its key's hour). A
record of at least ``max_size_bytes`` is an object of its own.

The age bound must hold with no further write, so `AgeTimer` runs one small
thread per writer: armed with the current batch's deadline, it calls its
``on_due`` hook then (and every ``idle_interval`` seconds while unarmed, so
records left in the inbox by contended writes are moved in, see
`objlog._engine.buffer`). The hook is called with no timer lock held.
"""

from __future__ import annotations

import contextlib
import enum
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from objlog import _shutdown
from objlog.errors import ConfigError

__all__ = ["AgeTimer", "FlushPolicy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FlushPolicy:
    """
    The seal rule of a writer's batches.

    Args:
        max_size_bytes: Seal a batch at this many record bytes (>= 1).
        max_age: Seal a batch when its first record is this many seconds old (> 0).
        partition_us: The key layout's partition, microseconds (an hour or a
            day), or None (default: no partitions, ``kfp``). A batch is then
            also sealed when its key time's partition ends.

    Raises:
        ConfigError: A value is out of range.

    Thread safety: immutable.
    """

    max_size_bytes: int
    max_age: float
    partition_us: int | None = None

    def __post_init__(self) -> None:
        if self.partition_us is not None and (
            not isinstance(self.partition_us, int) or self.partition_us < 1
        ):
            raise ConfigError(f"partition_us must be a positive int, got {self.partition_us!r}")
        if not isinstance(self.max_size_bytes, int) or isinstance(self.max_size_bytes, bool):
            raise ConfigError(f"max_size_bytes must be an int, got {self.max_size_bytes!r}")
        if not isinstance(self.max_age, (int, float)) or isinstance(self.max_age, bool):
            raise ConfigError(f"max_age must be a number of seconds, got {self.max_age!r}")
        if self.max_size_bytes < 1:
            raise ConfigError(f"max_size_bytes must be >= 1, got {self.max_size_bytes}")
        if not 0 < self.max_age < math.inf:
            raise ConfigError(f"max_age must be > 0 seconds and finite, got {self.max_age}")

    def deadline(self, started: float, key_us: int) -> float:
        """
        Return the clock time at which a batch opened at `started` is due.

        `max_age` after `started`, or earlier: when the partition of its key
        time `key_us` (microseconds since the epoch, UTC) ends. The wall
        clock's time left in the partition is carried over to `started`'s
        clock, so a batch keyed at 10:59:58 is due 2 s after it opened.
        """
        if self.partition_us is None:
            return started + self.max_age
        left_us = self.partition_us - key_us % self.partition_us
        return started + min(float(self.max_age), left_us / 1e6)

    def seal_before(
        self,
        batch_bytes: int,
        size: int,
        started: float,
        now: float,
        *,
        deadline: float | None = None,
    ) -> bool:
        """
        Whether a non-empty batch must be sealed before a record of `size` bytes goes in.

        `deadline` (from `deadline`) replaces the ``max_age`` test when given.
        """
        if batch_bytes + size > self.max_size_bytes:
            return True
        return self.due(started, now, deadline=deadline)

    def due(self, started: float, now: float, *, deadline: float | None = None) -> bool:
        """Whether a batch started at `started` (due at `deadline`, when given) is due at `now`."""
        if deadline is not None:
            return now >= deadline
        return now - started >= self.max_age

    def alone(self, size: int) -> bool:
        """Whether a record of `size` bytes is an object of its own."""
        return size >= self.max_size_bytes


#: Longest single wait of the timer thread, seconds (it looks at the deadline again after).
_MAX_WAIT = 3600.0


class TimerState(enum.Enum):
    """Lifecycle of an `AgeTimer`."""

    IDLE = "idle"  # no thread yet (or a forked child's copy)
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(slots=True, eq=False)
class AgeTimer:
    """
    One thread that calls `on_due` at the armed deadline, or every `idle_interval` seconds.

    Args:
        on_due: Called on the timer's thread with no timer lock held; must not raise
            (it is guarded anyway) and must not wait long.
        idle_interval: Seconds between calls while unarmed.
        clock: Monotonic seconds the deadlines are in.
        name: Thread name.

    Thread safety: `arm` and `stop` are safe from any thread.
    """

    on_due: Callable[[], None]
    idle_interval: float = field(kw_only=True)
    clock: Callable[[], float] = field(kw_only=True)
    name: str = field(kw_only=True)
    state: TimerState = field(init=False, default=TimerState.IDLE)
    _cond: threading.Condition = field(
        init=False, default_factory=lambda: threading.Condition(threading.Lock())
    )
    _deadline: float | None = field(init=False, default=None)
    _thread: threading.Thread | None = field(init=False, default=None)

    def arm(self, deadline: float) -> None:
        """Call `on_due` at `deadline` (clock seconds); starts the thread on first use."""
        with self._cond:
            if self.state is TimerState.STOPPED:
                return
            self._deadline = deadline
            if self.state is TimerState.IDLE:
                self._start()
            self._cond.notify()

    def stop(self) -> None:
        """End the thread (it exits at its next wake-up, at once)."""
        with self._cond:
            self.state = TimerState.STOPPED
            self._cond.notify()

    def _start(self) -> None:
        thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down: sync and close still seal
            return
        self._thread = thread
        self.state = TimerState.RUNNING

    def _run(self) -> None:
        _shutdown.mark_objlog_thread()
        while True:
            with self._cond:
                while True:
                    if self.state is TimerState.STOPPED:
                        return
                    deadline = self._deadline
                    wait = self.idle_interval if deadline is None else deadline - self.clock()
                    if wait <= 0:
                        self._deadline = None
                        break
                    # Bounded: a fake clock's deadline may lie far ahead (wait() overflows).
                    if not self._cond.wait(min(max(0.001, wait), _MAX_WAIT)) and deadline is None:
                        break  # an idle interval passed
            with contextlib.suppress(Exception):  # the hook reports its own failures
                self.on_due()
