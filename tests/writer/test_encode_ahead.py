"""The encoder thread: sealed batches are encoded ahead of the uploader, a bounded number."""

from __future__ import annotations

import threading

from writer_helpers import Gate, stored_lines, wait_until

from objlog.stores.memory import MemoryStore
from objlog.writer import ENCODE_AHEAD, ObjectStoreWriter


def _encoders() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("objlog-encoder-")]


def _encoded(writer: ObjectStoreWriter) -> list[bool]:
    # The engine's queue is what this test observes.
    with writer._lock:
        return [b.body is not None for b in writer._queue]


def test_backlog_is_encoded_ahead_and_bounded() -> None:
    """With the store stuck, the uploader's batch and ENCODE_AHEAD more are encoded, no more."""
    store = MemoryStore()
    gate = Gate()
    store.fault = gate
    writer = ObjectStoreWriter(
        store, pipelinerun="r", task="t", max_size_bytes=1000, max_buffer_bytes=10**6
    )
    lines = [f"{i:04d}-".encode() + b"x" * 94 + b"\n" for i in range(60)]  # 100 bytes each
    for line in lines:
        writer.write(line)
    writer.flush()  # six sealed batches of ten records
    gate.waiting.wait(30)
    wait_until(lambda: sum(_encoded(writer)) == ENCODE_AHEAD + 1)
    assert [True] * (ENCODE_AHEAD + 1) + [False] * (6 - ENCODE_AHEAD - 1) == _encoded(writer)
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
    gate = Gate()
    store.fault = gate
    writer = ObjectStoreWriter(
        store,
        pipelinerun="r",
        task="plain",
        compression="none",
        max_size_bytes=1000,
        max_buffer_bytes=10**6,
    )
    lines = [f"{i:04d}-".encode() + b"y" * 94 + b"\n" for i in range(40)]
    for line in lines:
        writer.write(line)
    writer.flush()
    gate.waiting.wait(30)
    wait_until(lambda: sum(_encoded(writer)) == ENCODE_AHEAD + 1)
    with writer._lock:
        shared = [b.data is b.body for b in writer._queue if b.body is not None]
    assert [True] * (ENCODE_AHEAD + 1) == shared
    gate.open()
    writer.close()
    assert lines == stored_lines(store)
