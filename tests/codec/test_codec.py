"""Batch codec: record normalisation, gzip round trip, content headers."""

from __future__ import annotations

import gzip
import threading
import time
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog import _codec, reader
from objlog._codec import (
    CODECS,
    GZIP_MAGIC,
    CorruptBatchError,
    Gzip,
    Identity,
    Zstd,
    codec_for,
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
    assert b"" == normalize_record("")  # no record: write("") stores nothing
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
    zst = encoding_for("zstd")
    assert (".jsonl.zst", "application/zstd", None) == (
        zst.suffix,
        zst.content_type,
        zst.content_encoding,
    )
    with pytest.raises(ConfigError):
        encoding_for("brotli")


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
    assert isinstance(info.value, CorruptBatchError)
    assert isinstance(info.value, ValueError)  # what objlog.reader.decode_batch raised


def test_decode_corrupt_magic_under_a_plain_key_is_plain_data() -> None:
    """Bytes that merely start with the gzip magic under a .jsonl key are returned as they are."""
    data = GZIP_MAGIC + b" not gzip\n"
    assert data == decode_batch(data, "logs/a/b/x.jsonl")


def test_reader_decodes_with_the_codec_module() -> None:
    """objlog.reader.decode_batch is the one decode function of objlog._codec."""
    assert _codec.decode_batch is reader.decode_batch


@given(st.binary(max_size=3000), st.integers(1, 4), st.integers(1, 512))
def test_members_on_threads_round_trip_and_match(raw: bytes, threads: int, member: int) -> None:
    """A batch cut into gzip members decodes to its records, byte-identical for any thread count."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_codec, "GZIP_MEMBER_BYTES", member)
        body = encode_batch(raw, "gzip", 1, threads=threads)
        alone = encode_batch(raw, "gzip", 1, threads=1)
    assert alone == body  # deterministic: a re-encoded batch is the same object
    assert raw == decode_batch(bytes(body), "x.jsonl.gz")
    assert raw == gzip.decompress(body)  # what any gzip reader sees
    # One member per GZIP_MEMBER_BYTES of records (an empty batch is one empty member).
    assert max(1, -(-len(raw) // member)) == _members(bytes(body))


def _members(body: bytes) -> int:
    n = 0
    while body:
        d = zlib.decompressobj(wbits=31)
        d.decompress(body)
        body = d.unused_data
        n += 1
    return n


def test_member_compressed_by_a_helper_thread_that_failed_is_redone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A member a helper thread could not compress is compressed (or fails) on the caller's."""
    real = _codec._gzip_compress
    calls = {"helper": 0}

    def flaky(data: bytes, *args: object, **kwargs: object) -> bytes:
        if threading.current_thread().name != "objlog-gzip":
            time.sleep(0.01)  # leave members to the helper
        elif not calls["helper"]:
            calls["helper"] += 1
            raise MemoryError("simulated")
        return real(data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_codec, "GZIP_MEMBER_BYTES", 1000)
    monkeypatch.setattr(_codec, "_gzip_compress", flaky)
    raw = bytes(range(256)) * 40
    body = encode_batch(raw, "gzip", 1, threads=2)
    assert 1 == calls["helper"]
    assert raw == gzip.decompress(body)


def test_codec_objects_carry_name_suffix_and_headers() -> None:
    """Every codec's suffix is the records suffix plus its extension; names key CODECS."""
    assert {"gzip": Gzip, "none": Identity, "zstd": Zstd} == dict(CODECS)
    for name, kind in CODECS.items():
        codec = codec_for(name)
        assert (name, ".jsonl" + kind.extension) == (codec.name, codec.suffix)
        assert codec.content_encoding is None
    assert Gzip(level=6) == encoding_for("gzip")
    assert Identity() == encoding_for("none")


def test_codec_for_passes_the_level_to_gzip() -> None:
    """codec_for gives gzip its level; identity accepts gzip's levels and ignores them."""
    assert Gzip(level=1) == codec_for("gzip", 1)
    assert Identity() == codec_for("none", 9)


@pytest.mark.parametrize(("compression", "level"), [("gzip", 10), ("none", 42), ("none", -1)])
def test_codec_for_refuses_a_level_outside_the_codecs_range(compression: str, level: int) -> None:
    """A level outside the codec's ``levels`` is a ConfigError naming the range."""
    with pytest.raises(ConfigError, match=r"0\.\.9"):
        codec_for(compression, level)


@pytest.mark.parametrize("level", [-1, 10, True, 1.5, "6"])
def test_gzip_level_out_of_range_is_refused(level: object) -> None:
    """A gzip level that is not an int 0..9 is a ConfigError, from the codec and encode_batch."""
    with pytest.raises(ConfigError):
        Gzip(level=level)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        encode_batch(b"x\n", "gzip", level)  # type: ignore[arg-type]


def test_identity_encode_returns_the_records_without_a_copy() -> None:
    """The plain codec hands back the very object it was given."""
    raw = memoryview(b"a\nb\n")
    assert raw is Identity().encode(raw, threads=4)


@given(st.binary(max_size=4096), st.sampled_from(sorted(CODECS)), st.integers(0, 19))
def test_every_codec_round_trips_through_decode(raw: bytes, name: str, level: int) -> None:
    """decode_batch(codec.encode(x)) == x for every registered codec: decode needs no codec."""
    kind = CODECS[name]
    codec = codec_for(name, kind.levels[level % len(kind.levels)])
    body = bytes(codec.encode(raw))
    assert codec.magic == body[: len(codec.magic)]
    assert raw == decode_batch(body, "logs/a/b/x" + codec.suffix)
