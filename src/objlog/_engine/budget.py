"""
The memory bound of one writer: bytes charged for sealed batches held in memory.

The bound covers the current batch plus sealed batches neither stored nor
spooled (`objlog._engine.batch.charged`: record bytes plus
``RECORD_OVERHEAD`` per record). The current batch's share is kept by the
batch buffer, which asks `MemoryBudget.fits` with it; this part holds the
sealed share, charged when a batch is sealed and released when it is stored
or spooled. A writer that finds memory full waits here, with no other lock
held, for a release (`wait_for_release`), the way s3transfer's bounded
executor blocks ``submit`` while too much is in flight.

After one wait ran out, later records are dropped at once (`blocked_out`)
until a release makes room: a long outage costs one ``block_timeout``, not
one per record.

Thread safety: `MemoryBudget` has its own condition; `held` may be read
without it (one int), giving a figure at least as high as the real one to a
thread holding the batch buffer's lock (only that thread's seals add to it).
"""

from __future__ import annotations

import enum
import threading
import time

from objlog._engine.batch import RECORD_OVERHEAD
from objlog.errors import ConfigError

__all__ = ["MemoryBudget", "WhenFull"]


class WhenFull(enum.Enum):
    """What a write does when memory is full (and no spool takes the batches)."""

    BLOCK = "block"  # wait up to block_timeout for room, then drop
    DROP = "drop"  # drop at once

    @classmethod
    def parse(cls, value: str) -> WhenFull:
        """
        Return the member named by `value`.

        Raises:
            ConfigError: `value` is not ``"block"`` or ``"drop"``.
        """
        try:
            return cls(value)
        except ValueError:
            raise ConfigError(
                f"when_full must be one of {[m.value for m in cls]}, got {value!r}"
            ) from None


class MemoryBudget:
    """
    Bytes charged for a writer's sealed batches in memory, bounded with the current batch's.

    Args:
        max_buffer_bytes: The bound, bytes.
        when_full: What a write does when memory is full.
        block_timeout: Seconds a write may wait for room.
    """

    __slots__ = (
        "_cond",
        "_limit",
        "block_timeout",
        "blocked_out",
        "held",
        "max_buffer_bytes",
        "releases",
        "when_full",
    )

    def __init__(self, max_buffer_bytes: int, when_full: WhenFull, block_timeout: float) -> None:
        self.max_buffer_bytes = max_buffer_bytes
        self._limit = max_buffer_bytes  # less the inbox's reserve
        self.when_full = when_full
        self.block_timeout = block_timeout
        self._cond = threading.Condition(threading.Lock())
        self.held = 0
        self.releases = 0  # generation: a waiter wakes on any change
        self.blocked_out = False

    def reserve(self, n: int) -> None:
        """
        Set `n` bytes aside for records accepted before they are counted (the inbox).

        `fits` and `room` then leave them free, so such records always fit
        when they are moved in and the bound holds.
        """
        self._limit = self.max_buffer_bytes - n

    def fits(self, current: int, size: int) -> bool:
        """Whether a record of `size` bytes fits beside the current batch's `current` bytes."""
        used = self.held + current
        return used == 0 or used + size + RECORD_OVERHEAD <= self._limit

    def room(self, current: int) -> int:
        """Bytes a record may have, overhead included, beside `current` (may be negative)."""
        return self._limit - self.held - current + 1 - RECORD_OVERHEAD

    def charge(self, n: int) -> None:
        """Count `n` more bytes of sealed batches in memory."""
        with self._cond:
            self.held += n

    def release(self, n: int) -> None:
        """`n` bytes left memory (stored or spooled): room for blocked writers."""
        with self._cond:
            self.held -= n
            self.releases += 1
            self.blocked_out = False
            self._cond.notify_all()

    def unblock(self) -> None:
        """Something made room or changed (a spool write, a close): wake every waiter."""
        with self._cond:
            self.releases += 1
            self.blocked_out = False
            self._cond.notify_all()

    def block_out(self) -> None:
        """A wait ran out: drop at once until the next release."""
        self.blocked_out = True

    def wait_for_release(self, seen: int, deadline: float) -> bool:
        """
        Wait until a release after generation `seen` (read from `releases`) or `deadline`.

        Args:
            seen: The value of `releases` when the caller found memory full.
            deadline: ``time.monotonic()`` seconds to give up at.

        Returns:
            True when something was released, False when the deadline passed.
        """
        with self._cond:
            while self.releases == seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True
