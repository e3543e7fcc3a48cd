"""Batch codec: record normalisation, gzip round trip, content headers."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog._codec import (
    GZIP_MAGIC,
    decode_batch,
    encode_batch,
    encoding_for,
    normalize_record,
)
from objlog.errors import ConfigError, PermanentStoreError


def test_normalize_appends_one_newline() -> None:
    """A record gets a newline unless it already ends in one."""
    assert b"a\n" == normalize_record("a")
    assert b"a\n" == normalize_record(b"a\n")
    assert b"\n" == normalize_record("")
    assert "é\n".encode() == normalize_record("é")


def test_normalize_lone_surrogate_gives_valid_utf8() -> None:
    """A str with a lone surrogate is written as its backslash escape, not refused."""
    assert b"a\\ud800b\n" == normalize_record("a\ud800b")
    assert b"x\\udcffy\n" == normalize_record("x\udcffy")
    normalize_record("a\ud800b").decode("utf-8")


def test_normalize_refuses_other_types() -> None:
    """Only str and bytes are records."""
    with pytest.raises(TypeError):
        normalize_record(42)  # type: ignore[arg-type]


def test_encodings() -> None:
    """gzip is application/gzip without Content-Encoding; none is NDJSON."""
    gz = encoding_for("gzip")
    assert (".jsonl.gz", "application/gzip", None) == (
        gz.suffix,
        gz.content_type,
        gz.content_encoding,
    )
    plain = encoding_for("none")
    assert (".jsonl", "application/x-ndjson", None) == (
        plain.suffix,
        plain.content_type,
        plain.content_encoding,
    )
    with pytest.raises(ConfigError):
        encoding_for("zstd")


@given(st.binary(max_size=4096), st.sampled_from(["gzip", "none"]), st.integers(0, 9))
def test_round_trip(raw: bytes, compression: str, level: int) -> None:
    """decode_batch(encode_batch(x)) == x for both encodings and any level."""
    suffix = encoding_for(compression).suffix
    body = encode_batch(raw, compression, level)
    if compression == "gzip":
        assert GZIP_MAGIC == body[:2]
    assert raw == decode_batch(body, "logs/a/b/x" + suffix)


@given(st.binary(max_size=2048))
def test_gzip_is_deterministic(raw: bytes) -> None:
    """The same records give the same object bytes (a re-upload is identical)."""
    assert encode_batch(raw, "gzip") == encode_batch(raw, "gzip")


def test_decode_concatenated_members() -> None:
    """Concatenated gzip members decode to the concatenated records."""
    data = gzip.compress(b"a\n") + gzip.compress(b"b\n")
    assert b"a\nb\n" == decode_batch(data, "x.jsonl.gz")


def test_decode_already_decompressed_gz() -> None:
    """A .gz key whose bytes were already decompressed by a client is returned as is."""
    assert b'{"a":1}\n' == decode_batch(b'{"a":1}\n', "x.jsonl.gz")


def test_decode_corrupt_gzip() -> None:
    """Truncated gzip data under a .gz key is a PermanentStoreError naming the key."""
    data = gzip.compress(b"hello world\n" * 100)[:-20]
    with pytest.raises(PermanentStoreError) as info:
        decode_batch(data, "logs/a/b/x.jsonl.gz")
    assert "CorruptBatch" == info.value.reason
    assert "logs/a/b/x.jsonl.gz" == info.value.key
