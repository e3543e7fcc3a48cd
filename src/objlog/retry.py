"""
Retry policy for store requests; the only module that imports tenacity.

Only `TransientStoreError` is retried, with exponential backoff and full
jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"), bounded in
attempts and in total time. Once a request gives up, a writer keeps its batch
and waits `RetryPolicy.cooldown` seconds before the next round. Sleep and
clock are injectable so tests never really wait.

The SDKs' own retries are kept to one documented constant per store
(``SDK_MAX_ATTEMPTS`` in `objlog.stores.boto3` and `objlog.stores.minio`):
the real retrying is done here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from objlog.errors import ConfigError, TransientStoreError

__all__ = ["RetryPolicy", "retry_call"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """
    How often and how long to retry a store request that failed transiently.

    Args:
        max_attempts: Attempts in all, the first included (default 6).
        initial_backoff: Upper bound of the first jittered wait, seconds
            (default 0.2); doubles per attempt.
        max_backoff: Cap of any one wait, seconds (default 10.0).
        total_timeout: Give up when the next wait would end later than this
            many seconds after the first attempt started (default 60.0).
        cooldown: Seconds a writer waits after a request gave up before it
            tries that batch again (default None: `max_backoff` clamped to
            1-30 s, 10 s with the defaults).

    Raises:
        ConfigError: A value is out of range.

    Thread safety: immutable; share freely.
    """

    max_attempts: int = 6
    initial_backoff: float = 0.2
    max_backoff: float = 10.0
    total_timeout: float = 60.0
    cooldown: float | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial_backoff < 0 or self.max_backoff < 0:
            raise ConfigError("initial_backoff and max_backoff must be >= 0 seconds")
        if self.total_timeout <= 0:
            raise ConfigError(f"total_timeout must be > 0 seconds, got {self.total_timeout}")
        if self.cooldown is not None and not self.cooldown >= 0:
            raise ConfigError(f"cooldown must be >= 0 seconds, got {self.cooldown}")

    def cooldown_seconds(self) -> float:
        """Seconds to wait after a request gave up (see `cooldown`)."""
        if self.cooldown is not None:
            return self.cooldown
        return max(1.0, min(self.max_backoff, 30.0))


def retry_call(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_retry: Callable[[BaseException, int, float], None] | None = None,
) -> T:
    """
    Call `fn` until it returns, retrying `TransientStoreError` per `policy`.

    Args:
        fn: The request; must be safe to repeat (a PUT to the same key is).
        policy: Attempts, backoff and total time.
        sleep: Waits between attempts (default `time.sleep`).
        clock: Monotonic seconds (default `time.monotonic`).
        on_retry: Called as ``on_retry(exc, attempt, wait_seconds)`` before
            each wait.

    Returns:
        What `fn` returned.

    Raises:
        TransientStoreError: The last transient failure, once retries are exhausted.
        StoreError: Any non-transient store error at once (never retried).
    """
    start = clock()
    limit = start + policy.total_timeout
    waiter = tenacity.wait_random_exponential(
        multiplier=policy.initial_backoff, max=policy.max_backoff
    )

    def _wait(state: tenacity.RetryCallState) -> float:
        # Full jitter: uniform in [0, min(max, initial * 2**(n-1))].
        return float(waiter(state))

    def _stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= policy.max_attempts:
            return True
        upcoming = state.upcoming_sleep or 0.0
        return clock() + upcoming > limit

    def _before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            exc = state.outcome.exception()
            if exc is not None:
                on_retry(exc, state.attempt_number, state.upcoming_sleep or 0.0)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(TransientStoreError),
        wait=_wait,
        stop=_stop,
        sleep=sleep,
        before_sleep=_before_sleep,
        reraise=True,
    )
    return retrying(fn)
