"""objlog.reader on hostile objects: long lines, decompression bombs, large and corrupt batches."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import tracemalloc
import zlib
from typing import Any

import pytest

from objlog import _layout, reader
from objlog.errors import ConfigError, CorruptBatchError
from objlog.stores.memory import MemoryStore
from objlog.typing import ObjectStore

MIB = 1024**2
T0 = dt.datetime(2026, 11, 21, 11, 40, 0, tzinfo=dt.timezone.utc)


def _key(store: ObjectStore, seq: int, suffix: str = ".jsonl.gz") -> str:
    stamp = (T0 + dt.timedelta(seconds=seq)).strftime("%Y%m%dT%H%M%S.%fZ")
    return _layout.logs_prefix(store.prefix, "pr", "t") + f"{stamp}-w1-{seq:08d}{suffix}"


def _jsonl(*messages: str) -> bytes:
    return b"".join(json.dumps({"message": m}).encode() + b"\n" for m in messages)


def _gzip_long_line(line_bytes: int) -> bytes:
    """Gzip of a record, one line of `line_bytes` 'x' bytes, a record: built in bounded memory."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [z.compress(_jsonl("first"))]
    block = b"x" * MIB
    for _ in range(line_bytes // MIB):
        parts.append(z.compress(block))
    parts += [z.compress(b"\n" + _jsonl("last")), z.flush()]
    return b"".join(parts)


def test_long_line_reads_in_bounded_memory(s3_store: ObjectStore) -> None:
    """A 64 MiB line in a tiny gzip on S3: cut and marked, neighbours intact, little memory."""
    line_bytes = 64 * MIB
    body = _gzip_long_line(line_bytes)
    assert len(body) < MIB
    s3_store.put_object(_key(s3_store, 0), body)
    tracemalloc.start()
    try:
        got = list(reader.read_records(s3_store, "pr", "t", max_line_bytes=256 * 1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ["first", "x" * 256 * 1024 + "\u2026", "last"] == [r["message"] for r in got]
    assert line_bytes == got[1][reader.TRUNCATED_FIELD]
    assert {"message", reader.TRUNCATED_FIELD} == set(got[1])
    # Cut line + one decompressed chunk + the object + the client: a few MiB, not 64.
    assert peak < 8 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_decompression_bomb_streams() -> None:
    """200 KiB of gzip expanding to 200 MiB of newlines and 'a's is read without holding it."""
    store = MemoryStore()
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = (b"a" * 1023 + b"\n") * 1024  # 1 MiB of 1 KiB lines
    body = b"".join(z.compress(block) for _ in range(200)) + z.flush()
    store.put_object(_key(store, 0), body)
    tracemalloc.start()
    try:
        count = sum(1 for _ in reader.read_records(store, "pr", "t"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 200 * 1024 == count
    assert peak < 8 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_default_limit_keeps_every_run_record_whole() -> None:
    """The default limit fits an objlog run record of a 256 KiB line of control characters."""
    from objlog._run import DEFAULT_MAX_LINE_BYTES as RUN_LINE_BYTES

    store = MemoryStore()
    line = "\x1b" * RUN_LINE_BYTES  # each escapes to 6 bytes of JSON
    record = {"timestamp": "2026-11-21T11:40:00Z", "stream": "stdout", "sequence": 0, "line": line}
    body = json.dumps(record).encode() + b"\n"
    assert len(body) > 6 * RUN_LINE_BYTES
    store.put_object(_key(store, 0), gzip.compress(body))
    assert [record] == list(reader.read_records(store, "pr", "t"))


def test_truncated_text_ends_on_a_character() -> None:
    """A cut inside a multi-byte character drops that character's start; nothing after it leaks."""
    store = MemoryStore()
    store.put_object(_key(store, 0, ".jsonl"), ("é" * 10 + "\nnext\n").encode())
    got = list(reader.read_records(store, "pr", "t", max_line_bytes=5))
    assert [{"message": "éé\u2026", reader.TRUNCATED_FIELD: 20}, {"message": "next"}] == got


def test_large_object_is_fetched_in_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """An object over the fetch size is read with ranged GETs, and reads back whole."""
    monkeypatch.setattr(reader, "_FETCH_BYTES", 1000)
    store = MemoryStore()
    messages = [f"record {n} {hashlib.sha256(bytes(n)).hexdigest()}" for n in range(100)]
    body = gzip.compress(_jsonl(*messages))
    assert len(body) > 3 * 1000
    store.put_object(_key(store, 0), body)
    assert messages == [r["message"] for r in reader.read_records(store, "pr", "t")]
    assert store.requests["get"] == -(-len(body) // 1000)


def test_corrupt_tail_yields_the_records_before_it() -> None:
    """A gzip batch cut short: its readable records come out, then on_bad_object, then the next."""
    store = MemoryStore()
    whole = gzip.compress(_jsonl(*(f"m{n}" for n in range(20000))))
    store.put_object(_key(store, 0), whole[: len(whole) // 2])
    store.put_object(_key(store, 1), gzip.compress(_jsonl("next batch")))
    bad: list[tuple[str, Exception]] = []
    got = [
        r["message"]
        for r in reader.read_records(
            store, "pr", "t", on_bad_object=lambda k, e: bad.append((k, e))
        )
    ]
    assert "next batch" == got[-1]
    assert [f"m{n}" for n in range(len(got) - 1)] == got[:-1]
    assert 0 < len(got) - 1 < 20000
    assert [_key(store, 0)] == [k for k, _ in bad]
    assert isinstance(bad[0][1], CorruptBatchError)


@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_bad_max_line_bytes_is_config_error(value: Any) -> None:
    """max_line_bytes must be an int >= 1; anything else is a ConfigError naming it."""
    store = MemoryStore()
    store.put_object(_key(store, 0), gzip.compress(_jsonl("a")))
    with pytest.raises(ConfigError, match="max_line_bytes"):
        list(reader.read_records(store, "pr", "t", max_line_bytes=value))
