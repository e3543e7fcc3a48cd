"""objlog._engine.policy.FlushPolicy: the seal rule, stepped without threads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog._engine.policy import FlushPolicy
from objlog.errors import ConfigError


@pytest.mark.parametrize(
    "options",
    [
        {"max_size_bytes": 0, "max_age": 1.0},
        {"max_size_bytes": 10, "max_age": 0},
        {"max_size_bytes": 10, "max_age": -1.0},
        {"max_size_bytes": 10, "max_age": float("inf")},
        {"max_size_bytes": 10, "max_age": float("nan")},
        {"max_size_bytes": 10, "max_age": "5"},
        {"max_size_bytes": 10.5, "max_age": 1.0},
        {"max_size_bytes": True, "max_age": 1.0},
    ],
)
def test_out_of_range_or_mistyped_options_raise(options: dict[str, object]) -> None:
    """Sizes below 1, ages not above 0 or not finite, and mistyped values raise ConfigError."""
    with pytest.raises(ConfigError):
        FlushPolicy(**options)  # type: ignore[arg-type]


@given(
    max_size=st.integers(1, 10**7),
    batch=st.integers(0, 10**7),
    size=st.integers(0, 10**7),
    age=st.floats(0, 100, allow_nan=False),
    max_age=st.floats(0.001, 100, allow_nan=False),
)
def test_seal_before_is_size_overflow_or_age(
    max_size: int, batch: int, size: int, age: float, max_age: float
) -> None:
    """A batch is sealed before a record exactly when the record overflows it or it is old."""
    policy = FlushPolicy(max_size_bytes=max_size, max_age=max_age)
    expected = batch + size > max_size or age >= max_age
    assert expected == policy.seal_before(batch, size, 0.0, age)
    assert (age >= max_age) == policy.due(0.0, age)


@given(max_size=st.integers(1, 10**7), size=st.integers(0, 2 * 10**7))
def test_a_record_of_at_least_max_size_is_alone(max_size: int, size: int) -> None:
    """A record of max_size_bytes or more is an object of its own; smaller ones are batched."""
    assert (size >= max_size) == FlushPolicy(max_size_bytes=max_size, max_age=1.0).alone(size)
