"""The zstd codec of objlog._codec: encode, decode by magic, streaming decode, levels, backend."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from objlog import _codec
from objlog._codec import (
    ZSTD_MAGIC,
    CorruptBatchError,
    Zstd,
    codec_for,
    decode_batch,
    decode_stream,
    encode_batch,
)
from objlog.errors import ConfigError, MissingBackendError

zstandard = pytest.importorskip("zstandard")

MIB = 1024**2
_lines = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30)


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """Cut `data` at the given offsets (any order, repeats and out-of-range ones ignored)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def _skippable(payload: bytes) -> bytes:
    """A zstd skippable frame (RFC 8878 section 3.1.2) holding `payload`."""
    return b"\x50\x2a\x4d\x18" + len(payload).to_bytes(4, "little") + payload


@settings(max_examples=150, deadline=None)
@given(
    lines=_lines,
    frames=st.integers(1, 3),
    checksum=st.booleans(),
    skip=st.binary(max_size=20) | st.none(),
    cuts=st.lists(st.integers(0, 4000), max_size=8),
    chunk_bytes=st.integers(1, 64),
)
def test_decode_stream_equals_decode_batch(
    lines: list[bytes],
    frames: int,
    checksum: bool,
    skip: bytes | None,
    cuts: list[int],
    chunk_bytes: int,
) -> None:
    """Any chunking of several zstd frames (checksums, skippable frames) decodes to the records."""
    raw = b"".join(line + b"\n" for line in lines)
    step = -(-len(raw) // frames) or 1
    compressor = zstandard.ZstdCompressor(level=3, write_checksum=checksum)
    parts = [compressor.compress(raw[i : i + step]) for i in range(0, len(raw) or 1, step)]
    if skip is not None:
        parts.insert(1, _skippable(skip))
    body = b"".join(parts)
    out = list(decode_stream(_chunked(body, cuts), "x.jsonl.zst", chunk_bytes=chunk_bytes))
    assert raw == b"".join(out) == decode_batch(body, "x.jsonl.zst")
    assert all(0 < len(piece) <= chunk_bytes for piece in out)


@given(st.binary(max_size=4096), st.integers(1, 19))
def test_encode_is_one_frame_with_its_content_size(raw: bytes, level: int) -> None:
    """A batch is one zstd frame stating its records' size, and decodes with zstandard alone."""
    body = encode_batch(raw, "zstd", level)
    assert ZSTD_MAGIC == body[:4]
    assert len(raw) == zstandard.get_frame_parameters(body).content_size
    assert raw == zstandard.ZstdDecompressor().decompress(body)
    assert body == encode_batch(raw, "zstd", level)  # deterministic: a re-upload is identical


def test_large_batch_on_threads_is_one_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above ZSTD_THREADED_BYTES zstd's workers compress it; still one frame, same records."""
    monkeypatch.setattr(_codec, "ZSTD_THREADED_BYTES", 1000)
    raw = b"".join(b'{"n":%d,"msg":"hello"}\n' % n for n in range(300_000))
    body = encode_batch(raw, "zstd", 1, threads=2)
    assert len(raw) == zstandard.get_frame_parameters(body).content_size
    assert raw == decode_batch(body, "x.jsonl.zst")
    assert raw == b"".join(decode_stream([body], "x.jsonl.zst"))


@pytest.mark.skipif(shutil.which("zstd") is None, reason="no zstd binary")
def test_the_zstd_tool_reads_a_batch_and_objlog_reads_the_tools() -> None:
    """`zstd -d` decodes objlog's bytes; objlog decodes the tool's (several frames too)."""
    raw = b"".join(b'{"n":%d}\n' % n for n in range(50_000))
    body = encode_batch(raw, "zstd", 1)
    run = subprocess.run(["zstd", "-dc"], input=body, capture_output=True, check=True)
    assert raw == run.stdout
    tool = subprocess.run(["zstd", "-19", "-c"], input=raw, capture_output=True, check=True)
    assert raw + raw == decode_batch(tool.stdout + tool.stdout, "x.jsonl.zst")


def test_bomb_streams_in_bounded_memory() -> None:
    """100 MiB of zeros from a few KiB of zstd: pieces of at most chunk_bytes, small peak."""
    compressor = zstandard.ZstdCompressor(level=19)
    body = compressor.compress(b"\0" * (100 * MIB))
    assert len(body) < 64 * 1024
    tracemalloc.start()
    try:
        total = 0
        for piece in decode_stream([body], "bomb.jsonl.zst", chunk_bytes=64 * 1024):
            assert len(piece) <= 64 * 1024
            total += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 100 * MIB == total
    assert peak < 2 * MIB


def test_truncated_frame_raises_after_the_good_part() -> None:
    """A frame cut short yields what decodes, then CorruptBatchError (a ValueError)."""
    raw = b"".join(b"line %d\n" % n for n in range(200_000))
    body = encode_batch(raw, "zstd", 1)[:-100]
    got = bytearray()
    with pytest.raises(CorruptBatchError) as info:
        for piece in decode_stream([body], "logs/a/b/x.jsonl.zst"):
            got += piece
    assert isinstance(info.value, ValueError)
    assert ("CorruptBatch", "logs/a/b/x.jsonl.zst") == (info.value.reason, info.value.key)
    assert 0 < len(got) < len(raw)
    assert raw.startswith(bytes(got))
    with pytest.raises(CorruptBatchError):
        decode_batch(body, "logs/a/b/x.jsonl.zst")


@pytest.mark.parametrize("checksum", [False, True])
def test_a_frame_cut_anywhere_is_corrupt(checksum: bool) -> None:
    """Input that ends inside a frame header, block or checksum is never taken as its end."""
    raw = b"".join(b"line %d\n" % n for n in range(100))
    body = zstandard.ZstdCompressor(level=3, write_checksum=checksum).compress(raw)
    assert raw == decode_batch(body, "x.jsonl.zst")
    for cut in range(len(ZSTD_MAGIC), len(body)):
        with pytest.raises(CorruptBatchError):
            decode_batch(body[:cut], "x.jsonl.zst")


def test_magic_and_garbage() -> None:
    """Under .zst: CorruptBatchError; under a plain key: the bytes as they are."""
    data = ZSTD_MAGIC + b"\xff not zstd\nsecond line\n"
    with pytest.raises(CorruptBatchError):
        decode_batch(data, "x.jsonl.zst")
    with pytest.raises(CorruptBatchError):
        list(decode_stream([data], "x.jsonl.zst"))
    assert data == decode_batch(data, "x.jsonl")
    assert data == b"".join(decode_stream([data[:2], data[2:6], data[6:]], "x.jsonl"))


@pytest.mark.parametrize("level", [0, 20, -1, 22])
def test_level_outside_1_to_19_is_refused(level: int) -> None:
    """codec_for names zstd's range; the codec refuses non-int levels too."""
    with pytest.raises(ConfigError, match=r"compresslevel for zstd must be 1\.\.19"):
        codec_for("zstd", level)
    with pytest.raises(ConfigError, match=r"1\.\.19"):
        Zstd(level=level)


@pytest.mark.parametrize("level", [True, 1.5, "3"])
def test_non_int_level_is_refused(level: object) -> None:
    """A bool, float or str level is a ConfigError from the codec and from encode_batch."""
    with pytest.raises(ConfigError):
        Zstd(level=level)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        encode_batch(b"x\n", "zstd", level)  # type: ignore[arg-type]


def test_default_level_is_1() -> None:
    """codec_for without a level gives zstd level 1 (smaller and faster than 3 on log lines)."""
    assert Zstd(level=1) == codec_for("zstd")


def test_missing_zstandard_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without zstandard: MissingBackendError naming the extra, when configured and when read."""
    body = encode_batch(b"a\n", "zstd")
    monkeypatch.setitem(sys.modules, "zstandard", None)
    for attempt in (
        lambda: codec_for("zstd", 3),
        lambda: encode_batch(b"a\n", "zstd"),
        lambda: decode_batch(body, "x.jsonl.zst"),
        lambda: list(decode_stream([body], "x.jsonl.zst")),
    ):
        with pytest.raises(MissingBackendError, match=r"pip install 'objlog-s3\[zstd\]'"):
            attempt()
    assert isinstance(MissingBackendError(), ImportError)
