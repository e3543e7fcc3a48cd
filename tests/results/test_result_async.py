"""ResultWriter under asyncio: awrite, aclose and `async with` never block the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import pytest
from result_helpers import first_payload

from objlog.errors import ConfigError
from objlog.results import ResultWriter
from objlog.stores.memory import MemoryStore
from objlog.typing import ObjectRef, ObjectStore

if TYPE_CHECKING:
    from s3harness import S3Target  # tests/s3harness.py, for annotations only

#: Seconds each store request takes in the lag test.
SLOW = 1.0
#: Longest gap allowed between 10 ms ticks while a coroutine awaits a slow store.
MAX_LAG = 0.2


async def _max_gap_while(work: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Run `work` beside a 10 ms ticker; return (seconds `work` took, longest gap between ticks)."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    start = time.monotonic()
    try:
        await work()
    finally:
        elapsed = time.monotonic() - start
        done.set()
        await task
    return elapsed, max(gaps)


def test_awrite_stores_what_write_would(store: ObjectStore) -> None:
    """`async with` + awrite() store what write() does; a store passed in stays open."""

    async def main() -> ObjectRef:
        async with ResultWriter(store) as results:
            return await results.awrite("pr-1", "train", "accuracy", "0.97")

    ref = asyncio.run(main())
    assert "artifacts/pr-1/train/accuracy.tgz" == ref.key
    results = ResultWriter(store)
    assert b"0.97" == results.read("pr-1", "train", "accuracy")
    assert ref == results.write("pr-1", "train", "accuracy", "0.97")  # deterministic archive
    if isinstance(store, MemoryStore):
        assert not store.closed


def test_awrite_keeps_the_loop_running_while_the_store_is_slow() -> None:
    """Awaiting awrite() on a store taking 1 s a request leaves the loop ticking."""
    store = MemoryStore()
    store.latency = SLOW
    results = ResultWriter(store)

    async def work() -> None:
        await results.awrite("pr-1", "train", "model", b"\x00" * 100_000)

    elapsed, lag = asyncio.run(_max_gap_while(work))

    assert elapsed >= SLOW * 0.9
    assert lag < MAX_LAG, f"the event loop stalled for {lag:.3f} s"
    store.latency = 0.0
    assert b"\x00" * 100_000 == results.read("pr-1", "train", "model")


def test_blocking_write_in_the_loop_stalls_it() -> None:
    """The same measurement sees the stall of write() called on the loop: the check can fail."""
    store = MemoryStore()
    store.latency = SLOW
    results = ResultWriter(store)

    async def work() -> None:
        results.write("pr-1", "train", "model", b"x")

    _, lag = asyncio.run(_max_gap_while(work))

    assert lag >= SLOW * 0.9


def test_awrite_raises_what_write_raises(store: ObjectStore) -> None:
    """A bad name is the same ConfigError from awrite() as from write(), and nothing is stored."""

    async def main() -> None:
        async with ResultWriter(store) as results:
            await results.awrite("pr-1", "train", "../escape", b"x")

    with pytest.raises(ConfigError):
        asyncio.run(main())
    assert [] == list(store.list_objects(""))


def test_async_with_on_s3_owns_and_closes_its_store(
    s3_target: S3Target, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ResultWriter opened from a URL on a real S3 server stores under `async with`."""
    for name, value in s3_target.env().items():
        monkeypatch.setenv(name, value)

    async def main() -> None:
        async with ResultWriter(f"s3://{s3_bucket}/team") as results:
            await results.awrite("pr-1", "train", "metrics", '{"accuracy": 0.97}')

    asyncio.run(main())
    client = s3_target.boto3_client()
    body = client.get_object(Bucket=s3_bucket, Key="team/artifacts/pr-1/train/metrics.tgz")
    assert ("metrics", b'{"accuracy": 0.97}') == first_payload(body["Body"].read())


def test_aclose_closes_a_store_opened_from_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store a URL opened is closed by `async with`'s aclose(); a second aclose() is a no-op."""
    opened = MemoryStore()
    monkeypatch.setattr("objlog.stores.open_store", lambda url: opened)

    async def main() -> None:
        async with ResultWriter("s3://bucket/team") as results:
            assert not opened.closed
        assert opened.closed
        opened.closed = False
        await results.aclose()
        assert not opened.closed  # closed once only, as close()

    asyncio.run(main())
