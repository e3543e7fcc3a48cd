"""
Tests for `objlog._jsonl`: the never-raising JSON line encoder and the timestamp cache.
"""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given
from hypothesis import strategies as st

from logging_helpers import BrokenRepr, json_values
from objlog._jsonl import TimestampCache, dumps, encode_value, safe_repr


@given(st.floats(min_value=0, max_value=4102444800, allow_nan=False))
def test_timestamp_matches_datetime(created: float) -> None:
    """The cached timestamp equals datetime's rendering of the rounded instant."""
    expected = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(
        microseconds=round(created * 1_000_000)
    )
    cache = TimestampCache()
    cache.format(created + 3600)  # a stale cached second must not leak in
    assert expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ") == cache.format(created)


@given(st.dictionaries(st.text(max_size=5), json_values, max_size=5))
def test_dumps_never_raises(fields: dict[str, object]) -> None:
    """dumps turns any mapping into a JSON object with the same keys."""
    assert set(fields) == set(json.loads(dumps(fields)))


def test_dumps_stringifies_non_string_keys() -> None:
    """Top-level keys that are not strings become their str."""
    assert {"1": "a", "None": 2} == json.loads(dumps({1: "a", None: 2}))  # type: ignore[dict-item]


json_native = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@given(json_native)
def test_encode_value_round_trips_json_values(value: object) -> None:
    """A value JSON can hold encodes to text that decodes to an equal value."""
    assert value == json.loads(encode_value(value))


@given(json_values)
def test_encode_value_always_gives_valid_json(value: object) -> None:
    """Any value, JSON-native or not, encodes to one line of valid JSON."""
    text = encode_value(value)
    assert "\n" not in text
    json.loads(text)


def test_safe_repr_names_the_type_when_repr_raises() -> None:
    """A broken __repr__ gives a placeholder naming the type instead of raising."""
    assert "<unrepresentable BrokenRepr object>" == safe_repr(BrokenRepr())


@given(st.text(alphabet=st.sampled_from(["a", "\u2028", "\u2029", "\x85", "é", '"', "\\"])))
def test_escape_line_breaks_same_with_and_without_the_ascii_shortcut(text: str) -> None:
    """The isascii() shortcut changes nothing: the result is the full translation's."""
    from objlog._jsonl import escape_line_breaks

    table = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}
    got = escape_line_breaks(text)
    assert (got, "\u2028" in got or "\u2029" in got or "\x85" in got) == (
        text.translate(table),
        False,
    )
