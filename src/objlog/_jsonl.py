"""
JSON Lines machinery shared by the logging adapters (`objlog.stdlib`, `objlog.structlog`).

One line is one compact JSON object: UTF-8 text (not ASCII-escaped), no
spaces after separators, newlines inside values escaped by JSON. Encoding
never raises for a value: what JSON cannot encode (sets, objects, NaN,
dicts with tuple keys, cycles, ints too long to print) becomes its `repr`
as a JSON string, and a key that is not a string becomes its `str`.

One event is one record (CWE-117): `record_line` makes sure of it for text
objlog did not encode itself (a user's formatter or structlog renderer). Text
that already is one JSON object on one line is kept; anything else, a plain
``%(levelname)s %(message)s`` line or a message holding ``\\n{"level": ...}``,
is framed as the ``message`` member of a JSON object of its own
(`frame_message`), where JSON escapes every control character. Besides
``\\n`` and ``\\r``, Unicode counts U+0085, U+2028 and U+2029 as line ends
(``str.splitlines``, many viewers); JSON allows them raw inside strings, so
`escape_line_breaks` writes them as ``\\uXXXX`` escapes in every line.

Timestamps are RFC 3339 UTC with microseconds (``2026-11-21T11:40:30.123456Z``),
the date-time part cached per second by `TimestampCache`.

The helpers are module globals so that callers on the per-record path bind
them once at import and pay no extra call layer.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping

__all__ = [
    "TimestampCache",
    "dumps",
    "encode_key",
    "encode_value",
    "escape_line_breaks",
    "frame_message",
    "json_line",
    "quote",
    "record_line",
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


# -- one event, one record ---------------------------------------------------------

# Line ends that JSON leaves raw inside strings (it escapes only U+0000-U+001F).
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})
_C0 = re.compile(r"[\x00-\x1f]")


def escape_line_breaks(json_text: str) -> str:
    """
    Return JSON text with raw U+0085, U+2028 and U+2029 written as ``\\uXXXX`` escapes.

    JSON allows these characters raw, but only inside strings, where the
    escape means the same character; so the value is unchanged while
    ``str.splitlines`` and log viewers no longer see a line end.

    Args:
        json_text: JSON text (or text in which these characters may be escaped).

    Returns:
        `json_text`, itself when it holds none of them.

    Thread safety: pure; call from any thread.
    """
    # isascii() reads a flag CPython keeps on every str (O(1)): most log lines
    # are ASCII and skip the three scans (about 1 us for a 4 KiB line).
    if json_text.isascii():
        return json_text
    if "\u2028" in json_text or "\u2029" in json_text or "\x85" in json_text:
        return json_text.translate(_LINE_BREAKS)
    return json_text


def json_line(text: str) -> str | None:
    """
    Return `text` as one line when it is one JSON object, else None.

    One trailing ``\\n`` (which renderers may add) is dropped. An object
    spread over several lines (an indenting renderer) is re-encoded compactly;
    a line holding a raw control character is not JSON and gives None.

    Args:
        text: A formatter's or renderer's output.

    Returns:
        One JSON object without a line end of any kind (see
        `escape_line_breaks`), or None when `text` is something else and
        needs `frame_message`.

    Thread safety: pure; call from any thread.
    """
    if text[-1:] == "\n":
        text = text[:-1]
    if text[:1] != "{" or text[-1:] != "}":
        return None
    if text.isprintable():  # the common case: no control, no line break, one C scan
        return text
    if _C0.search(text) is None:
        return escape_line_breaks(text)
    # Raw control characters: JSON only allows tab, LF and CR between tokens.
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return escape_line_breaks(dumps(value)) if isinstance(value, dict) else None


def frame_message(text: str, fields: Mapping[str, object] | None = None) -> str:
    """
    Return `text` as the ``message`` member of one JSON object on one line.

    Args:
        text: Any text, newlines and control characters included.
        fields: Members put before ``message`` (e.g. ``timestamp``,
            ``level``, ``logger``); default none. A ``message`` among them
            is dropped.

    Returns:
        ``{<fields>,"message":<text>}`` without a trailing newline; it holds no
        ``\\n``, ``\\r``, U+0085, U+2028 or U+2029, and ``json.loads`` of it
        gives `text` back as ``message``.

    Thread safety: pure; call from any thread.
    """
    head = "".join(
        [f"{encode_key(k)}:{encode_value(v)}," for k, v in (fields or {}).items() if k != "message"]
    )
    return escape_line_breaks(f'{{{head}"message":{quote(text)}}}')


def record_line(
    rendered: str | bytes | bytearray | memoryview,
    fields: Callable[[], Mapping[str, object]],
) -> str:
    """
    Return what a formatter or renderer produced as exactly one JSON line.

    One JSON object on one line (`json_line`) is kept; anything else is
    framed by `frame_message` with the members `fields()` returns, so a
    message cannot add a record of its own (CWE-117) and the reader still
    finds a level and a time.

    Args:
        rendered: The output; bytes are decoded as UTF-8, an undecodable
            byte becoming a lone surrogate (written as its ``\\udcXX``
            escape when the line is encoded).
        fields: Called only when framing, for the members before ``message``.

    Returns:
        One line without its ``\\n``.

    Raises:
        TypeError: `rendered` is neither str nor bytes.

    Thread safety: pure; call from any thread.
    """
    if type(rendered) is str:
        text = rendered
    elif isinstance(rendered, (bytes, bytearray, memoryview)):
        text = bytes(rendered).decode("utf-8", "surrogateescape")
    elif isinstance(rendered, str):
        text = str(rendered)
    else:
        raise TypeError(f"a record must be str or bytes, not {type(rendered).__name__}")
    line = json_line(text)
    return line if line is not None else frame_message(text, fields())


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
