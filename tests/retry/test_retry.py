"""objlog.retry: which errors are retried, how long, and with what waits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog.errors import ConfigError, PermanentStoreError, TransientStoreError
from objlog.retry import RetryPolicy, retry_call


class FakeTime:
    """A clock that only moves when `sleep` is called."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(n: int, exc: Exception) -> tuple[list[int], object]:
    calls = [0]

    def fn() -> str:
        calls[0] += 1
        if calls[0] <= n:
            raise exc
        return "stored"

    return calls, fn


TRANSIENT = TransientStoreError("503 SlowDown", bucket="b", key="k")


def test_transient_errors_are_retried_until_success() -> None:
    """Three transient failures then success returns the result after four calls."""
    t = FakeTime()
    calls, fn = failing(3, TRANSIENT)
    assert "stored" == retry_call(fn, RetryPolicy(), sleep=t.sleep, clock=t.clock)  # type: ignore[arg-type]
    assert 4 == calls[0]
    assert 3 == len(t.sleeps)


def test_permanent_errors_are_not_retried() -> None:
    """A PermanentStoreError escapes on the first attempt without any wait."""
    t = FakeTime()
    calls, fn = failing(1, PermanentStoreError("AccessDenied", bucket="b"))
    with pytest.raises(PermanentStoreError):
        retry_call(fn, RetryPolicy(), sleep=t.sleep, clock=t.clock)  # type: ignore[arg-type]
    assert 1 == calls[0]
    assert [] == t.sleeps


def test_attempts_are_bounded_and_last_error_reraised() -> None:
    """After max_attempts transient failures the last TransientStoreError escapes."""
    t = FakeTime()
    calls, fn = failing(100, TRANSIENT)
    with pytest.raises(TransientStoreError):
        retry_call(fn, RetryPolicy(max_attempts=4), sleep=t.sleep, clock=t.clock)  # type: ignore[arg-type]
    assert 4 == calls[0]


def test_total_timeout_stops_retries_before_it_would_be_passed() -> None:
    """No wait is started that would end after total_timeout."""
    t = FakeTime()
    calls, fn = failing(1000, TRANSIENT)
    with pytest.raises(TransientStoreError):
        retry_call(
            fn,  # type: ignore[arg-type]
            RetryPolicy(
                max_attempts=1000, initial_backoff=1.0, max_backoff=2.0, total_timeout=10.0
            ),
            sleep=t.sleep,
            clock=t.clock,
        )
    assert t.now <= 10.0
    assert calls[0] > 1


def test_on_retry_sees_each_failure() -> None:
    """on_retry is told the error, the attempt number and the wait."""
    t = FakeTime()
    seen: list[tuple[int, float]] = []
    _, fn = failing(2, TRANSIENT)
    retry_call(
        fn,  # type: ignore[arg-type]
        RetryPolicy(),
        sleep=t.sleep,
        clock=t.clock,
        on_retry=lambda exc, n, wait: seen.append((n, wait)),
    )
    assert [1, 2] == [n for n, _ in seen]
    assert [w for _, w in seen] == t.sleeps


@given(
    initial=st.floats(min_value=0.001, max_value=5.0),
    cap=st.floats(min_value=0.001, max_value=30.0),
    attempts=st.integers(min_value=1, max_value=12),
)
def test_waits_are_full_jitter_within_the_exponential_cap(
    initial: float, cap: float, attempts: int
) -> None:
    """Every wait lies in [0, min(max_backoff, initial * 2**(n-1))]."""
    t = FakeTime()
    _, fn = failing(attempts - 1, TRANSIENT)
    policy = RetryPolicy(
        max_attempts=attempts, initial_backoff=initial, max_backoff=cap, total_timeout=1e9
    )
    retry_call(fn, policy, sleep=t.sleep, clock=t.clock)  # type: ignore[arg-type]
    for n, wait in enumerate(t.sleeps, start=1):
        assert 0.0 <= wait <= min(cap, initial * 2 ** (n - 1)) + 1e-9


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"initial_backoff": -1.0}, {"max_backoff": -1.0}, {"total_timeout": 0.0}],
)
def test_bad_policy_is_a_config_error(kwargs: dict[str, float]) -> None:
    """Out-of-range values raise ConfigError (a ValueError)."""
    with pytest.raises(ConfigError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
