"""The encoder thread: sealed batches are encoded and hashed ahead of the uploader (bounded)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from objlog._engine.batch import SealedBatch, give_back
from objlog._engine.queue import ENCODE_AHEAD
from objlog._engine.records import POOL_IDLE, RecordBuffer, _pool, recycle, take
from objlog.stores.memory import MemoryStore
from objlog.typing import BodyDigests, ObjectRef
from objlog.writer import ObjectStoreWriter
from writer_helpers import Gate, stored_lines, wait_until


def _encoders() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("objlog-encoder-")]


def _encoded(writer: ObjectStoreWriter) -> list[bool]:
    # The engine's queue is what this test observes.
    with writer._pipeline.queue.cond:
        return [b.body is not None for b in writer._pipeline.queue._batches]


def _stuck_backlog(
    store: MemoryStore, compression: str, n: int, concurrency: int = 1
) -> tuple[ObjectStoreWriter, Gate, list[bytes]]:
    """`n` 100-byte records in batches of ten, the store stuck until the gate opens."""
    gate = Gate()
    store.fault = gate
    writer = ObjectStoreWriter(
        store,
        pipelinerun="r",
        task=f"backlog-{compression}",
        compression=compression,  # type: ignore[arg-type]
        max_size_bytes=1000,
        max_buffer_bytes=10**6,
        max_concurrency=concurrency,
    )
    lines = [f"{i:04d}-".encode() + b"x" * 94 + b"\n" for i in range(n)]
    for line in lines:
        writer.write(line)
    writer.flush()
    gate.waiting.wait(30)
    wait_until(lambda: sum(_encoded(writer)) == ENCODE_AHEAD + concurrency)
    return writer, gate, lines


def test_backlog_is_encoded_ahead_and_bounded() -> None:
    """With the store stuck, the uploader's batch and ENCODE_AHEAD more are encoded, no more."""
    store = MemoryStore()
    writer, gate, lines = _stuck_backlog(store, "gzip", 60)  # six sealed batches
    assert [True] * (ENCODE_AHEAD + 1) + [False] * (6 - ENCODE_AHEAD - 1) == _encoded(writer)
    gate.open()
    writer.close()
    assert lines == stored_lines(store)


def test_encoding_keeps_ahead_of_every_uploader() -> None:
    """With 2 uploaders stuck, their 2 batches and ENCODE_AHEAD more are encoded, no more."""
    store = MemoryStore()
    writer, gate, lines = _stuck_backlog(store, "gzip", 80, concurrency=2)  # eight batches
    assert 2 == writer._pipeline.uploaders
    assert [True] * (ENCODE_AHEAD + 2) + [False] * (8 - ENCODE_AHEAD - 2) == _encoded(writer)
    gate.open()
    writer.close()
    assert lines == stored_lines(store)


def test_no_backlog_no_encoder_thread() -> None:
    """A writer whose uploader keeps up never starts the encoder thread."""
    before = set(_encoders())
    store = MemoryStore()
    writer = ObjectStoreWriter(store, pipelinerun="r", task="quiet")
    for i in range(5):
        writer.write(f"line {i}")
        writer.sync()
    writer.close()
    assert set() == set(_encoders()) - before
    assert 5 == len(store.keys())


def test_encoded_batches_store_every_record_once_under_load() -> None:
    """Many small batches through uploader and encoder together: each record stored once."""
    store = MemoryStore()
    store.latency = 0.002
    writer = ObjectStoreWriter(
        store, pipelinerun="r", task="busy", max_size_bytes=512, max_buffer_bytes=10**7
    )
    lines = [f"record {i}\n".encode() for i in range(5000)]
    for line in lines:
        writer.write(line)
    writer.close(60)
    assert lines == stored_lines(store)


def test_plain_batches_encoded_ahead_keep_one_copy() -> None:
    """Without compression an encoded-ahead batch holds its bytes once, not as list and copy."""
    store = MemoryStore()
    writer, gate, lines = _stuck_backlog(store, "none", 40)
    with writer._pipeline.queue.cond:
        shared = [b.data is b.body for b in writer._pipeline.queue._batches if b.body is not None]
    assert [True] * (ENCODE_AHEAD + 1) == shared
    gate.open()
    writer.close()
    assert lines == stored_lines(store)


class _RecordingStore(MemoryStore):
    """A memory store that notes the digests each put was given (it checks them itself)."""

    def __init__(self) -> None:
        super().__init__()
        self.given: list[tuple[bytes, BodyDigests | None]] = []

    def put_object(self, key: str, body: bytes, **kwargs: Any) -> ObjectRef:
        self.given.append((bytes(body), kwargs.get("digests")))
        return super().put_object(key, body, **kwargs)


def _backlog(store: MemoryStore, compression: str) -> tuple[ObjectStoreWriter, list[bytes]]:
    writer, gate, lines = _stuck_backlog(store, compression, 60)
    gate.open()
    writer.close(30)
    return writer, lines


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_encoder_hands_its_digests_to_the_store(compression: str) -> None:
    """Batches encoded ahead reach the store with the MD5 and SHA-256 of the very body sent."""
    store = _RecordingStore()
    _, lines = _backlog(store, compression)
    assert lines == stored_lines(store)
    with_digests = [(body, d) for body, d in store.given if d is not None]
    # The first batch was taken by the uploader before any backlog: it has none.
    assert len(with_digests) >= ENCODE_AHEAD
    assert [BodyDigests.of(body) for body, _ in with_digests] == [d for _, d in with_digests]


def test_batch_buffer_is_reused_only_after_its_last_reader() -> None:
    """A batch's buffer returns to the pool once no batch needs it and no thread reads it."""
    buf = take(4096)
    buf.view[:101] = b"a" * 100 + b"\n"
    buf.seal(101)
    batch = SealedBatch(
        "k", buf, records=1, raw_bytes=101, index=0, compression="gzip", compresslevel=1
    )
    data = batch.borrow()  # a thread starts reading the records
    batch.set_data(None)  # the batch no longer needs them
    assert all(b is not buf for b in _pool.get(4096, []))  # still being read
    assert isinstance(data, RecordBuffer)
    assert b"a" * 100 + b"\n" == bytes(data.records())
    give_back(data)
    assert any(b is buf for b in _pool.get(4096, []))  # now free for the next batch


def test_idle_buffers_kept_are_bounded() -> None:
    """The process keeps at most POOL_IDLE idle buffers per size; the rest are unmapped."""
    size = 12_288
    for buf in [take(size) for _ in range(POOL_IDLE + 3)]:
        recycle(buf)
    assert POOL_IDLE == len(_pool[size])
