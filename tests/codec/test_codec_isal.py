"""gzip through ISA-L (python-isal) when installed: plain gzip on the wire, zlib as fallback."""

from __future__ import annotations

import gzip
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog import _codec
from objlog._codec import ISAL_LEVELS, Gzip, decode_batch, decode_stream, encode_batch

igzip = pytest.importorskip("isal.igzip")


@given(st.binary(max_size=4096), st.sampled_from(sorted(ISAL_LEVELS)))
def test_isal_levels_give_isal_bytes_that_stdlib_gzip_decodes(raw: bytes, level: int) -> None:
    """Levels 1-3 are ISA-L's output (mtime 0), and stdlib gzip and objlog decode them."""
    body = encode_batch(raw, "gzip", level)
    assert igzip.compress(raw, ISAL_LEVELS[level], mtime=0) == body
    assert raw == gzip.decompress(body)
    assert raw == decode_batch(bytes(body), "x.jsonl.gz")
    assert raw == b"".join(decode_stream([bytes(body)], "x.jsonl.gz"))


@given(st.binary(max_size=4096), st.sampled_from([0, 4, 6, 9]))
def test_levels_isal_does_not_match_stay_with_zlib(raw: bytes, level: int) -> None:
    """Level 0 (stored) and 4-9 (better ratio than ISA-L) are zlib's bytes exactly."""
    assert gzip.compress(raw, compresslevel=level, mtime=0) == encode_batch(raw, "gzip", level)


def test_without_isal_zlib_compresses_every_level(monkeypatch: pytest.MonkeyPatch) -> None:
    """isal hidden: the same levels give stdlib zlib's bytes, which differ from ISA-L's."""
    raw = b"".join(b'{"n":%d,"msg":"hello"}\n' % n for n in range(5000))
    with_isal = encode_batch(raw, "gzip", 1)
    monkeypatch.setitem(sys.modules, "isal", None)
    monkeypatch.setitem(sys.modules, "isal.igzip", None)
    monkeypatch.setattr(_codec, "_isal_found", [])  # looked up again: not installed
    for level in range(10):
        assert gzip.compress(raw, compresslevel=level, mtime=0) == encode_batch(raw, "gzip", level)
    assert with_isal != encode_batch(raw, "gzip", 1)
    assert raw == gzip.decompress(with_isal)
    assert [None] == _codec._isal_found


def test_isal_is_looked_up_once_when_the_codec_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a gzip codec at an ISA-L level imports isal there, not later in an encoder."""
    monkeypatch.setattr(_codec, "_isal_found", [])
    Gzip(level=6)
    assert [] == _codec._isal_found  # zlib's level: nothing to look up
    Gzip(level=1)
    assert [igzip] == _codec._isal_found


def test_mapping_covers_only_the_levels_isal_matches() -> None:
    """Only zlib levels 1-3 map, each to an ISA-L level 0-3."""
    assert {1, 2, 3} == set(ISAL_LEVELS)
    assert all(0 <= isal <= 3 for isal in ISAL_LEVELS.values())
