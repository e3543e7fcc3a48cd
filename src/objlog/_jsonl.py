"""
JSON Lines machinery shared by the logging adapters (`objlog.stdlib`, `objlog.structlog`).

One line is one compact JSON object: UTF-8 text (not ASCII-escaped), no
spaces after separators, newlines inside values escaped by JSON. Encoding
never raises for a value: what JSON cannot encode (sets, objects, NaN,
dicts with tuple keys, cycles, ints too long to print) becomes its `repr`
as a JSON string, and a key that is not a string becomes its `str`.

Timestamps are RFC 3339 UTC with microseconds (``2026-11-21T11:40:30.123456Z``),
the date-time part cached per second by `TimestampCache`.

The helpers are module globals so that callers on the per-record path bind
them once at import and pay no extra call layer.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping

__all__ = [
    "TimestampCache",
    "dumps",
    "encode_key",
    "encode_value",
    "quote",
    "safe_repr",
]

#: Quote and escape one str as a JSON string (the C implementation when
#: available); non-ASCII characters are kept as they are.
quote: Callable[[str], str] = json.encoder.encode_basestring

_int_repr = int.__repr__
_float_repr = float.__repr__
_isfinite = math.isfinite


def safe_repr(value: object) -> str:
    """
    Return ``repr(value)``, or a placeholder naming its type when that raises.

    Args:
        value: Any object.

    Returns:
        The repr text; never raises for an `Exception` from ``__repr__``.

    Thread safety: pure; call from any thread.
    """
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not lose the record
        return f"<unrepresentable {type(value).__qualname__} object>"


# One encoder for nested values: json.dumps() with options builds a new encoder per call.
_ENCODER = json.JSONEncoder(
    ensure_ascii=False,
    allow_nan=False,  # NaN/Infinity are not JSON; they fall back to repr ("nan")
    separators=(",", ":"),
    default=safe_repr,
)


def encode_value(value: object) -> str:
    """
    Return `value` as JSON text, or its repr as a JSON string; never raises.

    Args:
        value: Any object.

    Returns:
        JSON text (a scalar, array or object).

    Thread safety: pure; call from any thread.
    """
    kind = type(value)
    try:
        # Fast paths for the common scalar types; containers go to the encoder.
        if kind is str:
            return quote(value)  # type: ignore[arg-type]
        if kind is int:
            return _int_repr(value)
        if kind is float and _isfinite(value):  # type: ignore[arg-type]
            return _float_repr(value)
        if value is None:
            return "null"
        if kind is bool:
            return "true" if value else "false"
        return _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError):
        # NaN, sets, objects, dicts with tuple keys, cycles, ints too long to print.
        return quote(safe_repr(value))


def encode_key(key: object) -> str:
    """
    Return `key` as a JSON string: itself when a str, else its `str`.

    Args:
        key: An object member name.

    Returns:
        The quoted JSON string.

    Thread safety: pure; call from any thread.
    """
    return quote(key if isinstance(key, str) else str(key))


def dumps(fields: Mapping[str, object]) -> str:
    """
    Encode `fields` as one line of compact JSON, never raising.

    Values the encoder cannot take (sets, objects, NaN, dicts with tuple keys,
    circular structures) become their `repr`; a key that is not a string
    becomes its `str`.

    Args:
        fields: The object's members, in output order.

    Returns:
        One JSON object without a trailing newline (UTF-8 text, not
        ASCII-escaped; newlines inside values are escaped by JSON).

    Thread safety: safe to call from any thread.
    """
    return "{" + ",".join([f"{encode_key(k)}:{encode_value(v)}" for k, v in fields.items()]) + "}"


class TimestampCache:
    """
    Format epoch seconds as RFC 3339 UTC timestamps with microseconds.

    The ``YYYY-MM-DDTHH:MM:SS.`` part is cached for the current second, so
    consecutive records of one second cost a comparison and one f-string.

    Thread safety: one cache may serve many threads; the cached state is one
    tuple, read and replaced atomically, so no lock is needed.
    """

    __slots__ = ("_cached",)

    def __init__(self) -> None:
        # (first microsecond of the cached second, first of the next, "YYYY-MM-DDTHH:MM:SS.")
        self._cached: tuple[int, int, str] = (0, -1, "")

    def format(self, created: float) -> str:
        """
        Return `created` as e.g. ``2026-11-21T11:40:30.123456Z``.

        Args:
            created: Seconds since the Unix epoch (``time.time()``,
                ``LogRecord.created``), rounded to the microsecond.

        Returns:
            The RFC 3339 UTC timestamp.
        """
        micros = round(created * 1_000_000)
        cached = self._cached  # one tuple read: atomic, so no lock is needed
        if cached[0] <= micros < cached[1]:
            # Only seconds >= 1 are cached, so the last six digits are the
            # zero-padded microseconds (cheaper than a format spec).
            return f"{cached[2]}{str(micros)[-6:]}Z"
        start = micros // 1_000_000 * 1_000_000
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(start // 1_000_000))
        if start >= 1_000_000:
            self._cached = (start, start + 1_000_000, prefix)
        return f"{prefix}{micros - start:06d}Z"
