"""objlog._engine.budget.MemoryBudget: the memory bound, stepped without threads."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog._engine.batch import RECORD_OVERHEAD, charged
from objlog._engine.budget import MemoryBudget, WhenFull
from objlog.errors import ConfigError


def _budget(max_buffer_bytes: int = 10_000) -> MemoryBudget:
    return MemoryBudget(max_buffer_bytes, WhenFull.BLOCK, 1.0)


def test_when_full_parses_its_two_values_and_refuses_others() -> None:
    """``"block"`` and ``"drop"`` parse; anything else is a ConfigError naming the choices."""
    assert (WhenFull.BLOCK, WhenFull.DROP) == (WhenFull.parse("block"), WhenFull.parse("drop"))
    with pytest.raises(ConfigError, match="block"):
        WhenFull.parse("spill")


@given(
    bound=st.integers(1, 10**6),
    held=st.integers(0, 10**6),
    current=st.integers(0, 10**6),
    size=st.integers(0, 10**6),
)
def test_fits_is_the_bound_with_overhead_and_an_empty_writer_takes_anything(
    bound: int, held: int, current: int, size: int
) -> None:
    """A record fits when held + current + size + overhead <= bound, or when nothing is held."""
    budget = _budget(bound)
    budget.charge(held)
    used = held + current
    assert (used == 0 or used + size + RECORD_OVERHEAD <= bound) == budget.fits(current, size)


@given(bound=st.integers(1, 10**6), held=st.integers(0, 10**6), current=st.integers(0, 10**6))
def test_room_admits_exactly_the_records_that_fit(bound: int, held: int, current: int) -> None:
    """Every record strictly shorter than `room` fits (the fast path relies on it)."""
    budget = _budget(bound)
    budget.charge(held)
    room = budget.room(current)
    if room > 0 and held + current:
        assert budget.fits(current, room - 1)
        assert not budget.fits(current, room)


def test_release_unblocks_and_wakes_a_waiter() -> None:
    """A writer waiting for room wakes at the next release, and blocked_out is cleared."""
    budget = _budget()
    budget.charge(10_000)
    budget.block_out()
    seen = budget.releases
    woke: list[bool] = []
    waiter = threading.Thread(
        target=lambda: woke.append(budget.wait_for_release(seen, time.monotonic() + 30))
    )
    waiter.start()
    budget.release(charged(100, 1))
    waiter.join(30)
    assert [True] == woke
    assert not budget.blocked_out
    assert 10_000 - charged(100, 1) == budget.held


def test_wait_returns_at_once_when_a_release_came_before_it() -> None:
    """A release between finding memory full and waiting is not missed (generation count)."""
    budget = _budget()
    seen = budget.releases
    budget.release(0)
    assert budget.wait_for_release(seen, time.monotonic() + 30)


def test_wait_gives_up_at_its_deadline() -> None:
    """With no release the wait returns False at its deadline."""
    budget = _budget()
    assert not budget.wait_for_release(budget.releases, time.monotonic() + 0.05)
