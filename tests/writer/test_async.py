"""asyncio: aflush, aclose and `async with` never block the event loop, and lose nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import pytest

from objlog._codec import decode_batch
from objlog.errors import SyncTimeout, WriterClosedError
from objlog.stores import open_store
from objlog.stores.memory import MemoryStore
from objlog.writer import ObjectStoreWriter
from writer_helpers import Gate, stored_lines

if TYPE_CHECKING:
    from s3harness import S3Target  # tests/s3harness.py, for annotations only

MakeWriter = Callable[..., ObjectStoreWriter]

#: Seconds each store request takes in the lag tests: the wait to measure across.
SLOW = 1.0
#: The ticker's sleep; the loop's lag is the longest gap between two ticks.
TICK = 0.01
#: Longest gap allowed while a coroutine awaits a slow store (20 ticks; CI is 2 busy cores).
MAX_LAG = 0.2


async def _max_gap_while(work: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """Run `work` beside a 10 ms ticker; return (seconds `work` took, longest gap between ticks)."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(TICK)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(5 * TICK)  # the ticker is running before the work starts
    start = time.monotonic()
    try:
        await work()
    finally:
        elapsed = time.monotonic() - start
        done.set()
        await task
    return elapsed, max(gaps)


def test_aflush_keeps_the_loop_running_while_the_store_is_slow(
    store: MemoryStore, make_writer: MakeWriter
) -> None:
    """Awaiting aflush() on a store taking 1 s a PUT leaves the loop ticking every ~10 ms."""
    writer = make_writer(max_age=60.0)
    writer.writelines(f"record {i}" for i in range(100))
    store.latency = SLOW

    elapsed, lag = asyncio.run(_max_gap_while(writer.aflush))

    assert elapsed >= SLOW * 0.9  # it did wait for the store, as sync() does
    assert lag < MAX_LAG, f"the event loop stalled for {lag:.3f} s"
    assert [f"record {i}\n".encode() for i in range(100)] == stored_lines(store)


def test_blocking_sync_in_the_loop_stalls_it(store: MemoryStore, make_writer: MakeWriter) -> None:
    """The same measurement sees the stall when sync() is called on the loop: the check can fail."""
    writer = make_writer(max_age=60.0)
    writer.write("one record")
    store.latency = SLOW

    async def blocking() -> None:
        writer.sync()

    _, lag = asyncio.run(_max_gap_while(blocking))

    assert lag >= SLOW * 0.9


def test_async_with_closes_and_stores_on_s3(s3_target: S3Target, s3_bucket: str) -> None:
    """`async with` on a real S3 server: every record is stored when the block ends."""
    store = open_store(
        f"s3://{s3_bucket}/team",
        endpoint_url=s3_target.endpoint,
        access_key=s3_target.access_key,
        secret_key=s3_target.secret_key,
        region=s3_target.region,
    )

    async def main() -> ObjectStoreWriter:
        async with ObjectStoreWriter(store, pipelinerun="run-1", task="train") as writer:
            for i in range(50):
                writer.write(f'{{"i": {i}}}')
            await writer.aflush()
            assert 50 == writer.stats.stored_records
            writer.write('{"i": 50}')
        return writer

    try:
        writer = asyncio.run(main())
    finally:
        store.close()
    assert writer.closed
    client = s3_target.boto3_client()
    listed = client.list_objects_v2(Bucket=s3_bucket, Prefix="team/logs/run-1/train/")
    keys = sorted(o["Key"] for o in listed["Contents"])
    lines = b"".join(
        decode_batch(client.get_object(Bucket=s3_bucket, Key=key)["Body"].read(), key)
        for key in keys
    )
    assert [f'{{"i": {i}}}\n'.encode() for i in range(51)] == lines.splitlines(keepends=True)


def test_aexit_closes_and_lets_the_error_through(
    store: MemoryStore, make_writer: MakeWriter
) -> None:
    """An exception inside `async with` still closes the writer (records stored) and propagates."""
    writer = make_writer(max_age=60.0)

    async def main() -> None:
        async with writer:
            writer.write("kept")
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        asyncio.run(main())
    assert writer.closed
    assert [b"kept\n"] == stored_lines(store)
    with pytest.raises(WriterClosedError):
        writer.write("late")


def test_cancelled_aclose_still_closes_and_stores(
    store: MemoryStore, make_writer: MakeWriter
) -> None:
    """Cancelling aclose() returns at once; the close finishes in its thread and loses nothing."""
    writer = make_writer(max_age=60.0)
    writer.writelines(f"r{i}" for i in range(10))
    store.latency = SLOW
    outcome: list[str] = []

    async def main() -> None:
        task = asyncio.create_task(writer.aclose())
        await asyncio.sleep(0.1)
        assert writer.closed  # the close began in its thread: writes are refused already
        task.cancel()
        start = time.monotonic()
        try:
            await task
        except asyncio.CancelledError:
            outcome.append("cancelled")
        assert time.monotonic() - start < MAX_LAG  # the cancel did not wait for the store
        assert [] == stored_lines(store)  # the PUT is still under way

    asyncio.run(main())  # waits for the default executor's threads, so the close is over

    assert ["cancelled"] == outcome
    assert [f"r{i}\n".encode() for i in range(10)] == stored_lines(store)


def test_aflush_raises_sync_timeout(store: MemoryStore, make_writer: MakeWriter) -> None:
    """aflush() keeps sync()'s deadline and error when the store hangs."""
    gate = Gate()
    store.fault = gate
    writer = make_writer(max_age=60.0)
    writer.write("stuck")
    try:
        with pytest.raises(SyncTimeout) as info:
            asyncio.run(writer.aflush(timeout=0.2))
        assert 1 == info.value.pending_batches
    finally:
        gate.open()
    asyncio.run(writer.aclose())
    assert [b"stuck\n"] == stored_lines(store)


def test_aclose_is_idempotent(store: MemoryStore, make_writer: MakeWriter) -> None:
    """A second aclose(), like close(), does nothing."""
    writer = make_writer()
    writer.write("once")

    async def main() -> None:
        await writer.aclose()
        await writer.aclose()

    asyncio.run(main())
    assert [b"once\n"] == stored_lines(store)
