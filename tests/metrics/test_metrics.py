"""objlog.metrics: a Prometheus scrape of every live writer matches its `stats`."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest, make_asgi_app
from prometheus_client.parser import text_string_to_metric_families

from objlog import metrics
from objlog.errors import SyncTimeout
from objlog.retry import RetryPolicy
from objlog.stores import open_store
from objlog.stores.memory import MemoryStore
from objlog.writer import ObjectStoreWriter, WriterStats
from writer_helpers import FakeClock, Gate

if TYPE_CHECKING:
    from s3harness import S3Target  # tests/s3harness.py, for annotations only

MakeWriter = Callable[..., ObjectStoreWriter]
NO_WAIT = RetryPolicy(max_attempts=3, initial_backoff=0.0, max_backoff=0.0)
SPECS = (*metrics.COUNTERS, *metrics.GAUGES)


def _scrape(registry: CollectorRegistry) -> dict[str, dict[tuple[str, ...], float]]:
    """Parse the text exposition: sample name -> {(pipelinerun, task, writer_id) or (): value}."""
    text = generate_latest(registry).decode("utf-8")
    samples: dict[str, dict[tuple[str, ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sample.labels[name] for name in metrics.LABELS if name in sample.labels)
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def _of(writer: ObjectStoreWriter) -> tuple[str, str, str]:
    return (writer.pipelinerun, writer.task, writer.writer_id)


def _exported(registry: CollectorRegistry, writer: ObjectStoreWriter) -> dict[str, float]:
    """Every per-writer metric of `writer` in one scrape, by WriterStats field."""
    scraped = _scrape(registry)
    return {spec.field: scraped[spec.name][_of(writer)] for spec in SPECS}


def _expected(stats: WriterStats) -> dict[str, float]:
    return {spec.field: float(getattr(stats, spec.field)) for spec in SPECS}


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh registry holding the objlog collector only."""
    fresh = CollectorRegistry()
    metrics.register(fresh)
    return fresh


def test_scrape_matches_stats_of_a_writer_on_s3(
    s3_target: S3Target, s3_bucket: str, registry: CollectorRegistry
) -> None:
    """A writer on a real S3 server: every exported value equals its `stats` after a sync."""
    store = open_store(
        f"s3://{s3_bucket}",
        endpoint_url=s3_target.endpoint,
        access_key=s3_target.access_key,
        secret_key=s3_target.secret_key,
        region=s3_target.region,
    )
    writer = ObjectStoreWriter(store, pipelinerun="run-1", task="train", max_size_bytes=1000)
    try:
        writer.writelines(f'{{"i": {i:04}}}' for i in range(300))  # 12 bytes a record
        writer.sync()
        stats = writer.stats
        assert (300, 3600, 300) == (stats.records, stats.bytes_in, stats.stored_records)
        assert stats.objects >= 4 and stats.bytes_stored > 0
        assert _expected(stats) == _exported(registry, writer)
    finally:
        writer.close()
        store.close()


def test_gauges_and_drops_follow_a_stuck_store(
    store: MemoryStore, make_writer: MakeWriter, registry: CollectorRegistry
) -> None:
    """While the store hangs, queue depth, unsaved records and drops are exported as in stats."""
    gate = Gate()
    store.fault = gate
    writer = make_writer(max_size_bytes=100, max_buffer_bytes=2000, when_full="drop")
    try:
        for _ in range(100):
            writer.write("x" * 9)
        writer.flush()
        stats = writer.stats
        assert stats.queue_depth > 0 and stats.unsaved_records > 0 and stats.dropped_records > 0
        assert _expected(stats) == _exported(registry, writer)
    finally:
        gate.open()
    writer.sync()
    after = _exported(registry, writer)
    assert (0.0, 0.0) == (after["queue_depth"], after["unsaved_records"])
    assert _expected(writer.stats) == after


def test_retries_and_failures_are_exported(
    store: MemoryStore, make_writer: MakeWriter, registry: CollectorRegistry
) -> None:
    """Transient failures count as retries, and a round that gave up as a failure."""
    clock = FakeClock()
    store.fail_next(4)
    writer = make_writer(retry=RetryPolicy(max_attempts=3), sleep=lambda s: None, clock=clock)
    writer.write("kept")
    with pytest.raises(SyncTimeout):
        writer.sync(timeout=0.5)  # three attempts failed: the batch waits for its cooldown
    clock.advance(60)
    writer.sync(timeout=30)
    stats = writer.stats
    assert (1, 1) == (stats.failures, stats.objects) and stats.retries >= 2
    assert _expected(stats) == _exported(registry, writer)


def test_spooled_batches_are_exported(
    store: MemoryStore, make_writer: MakeWriter, registry: CollectorRegistry, tmp_path: Path
) -> None:
    """With the store down, sync() spools: spooled batches and records are exported."""
    writer = make_writer(spool_dir=tmp_path / "spool", retry=NO_WAIT, max_age=60.0)
    store.down_for(3600)
    writer.writelines(["a", "b"])
    writer.sync()  # spools on this thread: the store is down
    stats = writer.stats
    assert stats.spooled >= 1 and stats.spooled_records == 2
    assert _expected(stats) == _exported(registry, writer)


def test_closed_writer_leaves_the_scrape(
    make_writer: MakeWriter, registry: CollectorRegistry
) -> None:
    """A writer is exported until its close() returns, then its series end."""
    first, second = make_writer(), make_writer()
    first.write("r")
    gc.collect()  # no writer of an earlier test may leave the live set between the scrapes
    before = _scrape(registry)
    first.close()
    after = _scrape(registry)
    assert _of(first) in before["objlog_records_total"]
    assert _of(first) not in after["objlog_records_total"]
    assert _of(second) in after["objlog_records_total"]
    assert 1.0 == before["objlog_open_writers"][()] - after["objlog_open_writers"][()]


def test_writers_with_the_same_labels_are_added_up(registry: CollectorRegistry) -> None:
    """Two live writers with one fixed writer_id on two stores give one summed sample."""
    writers = [
        ObjectStoreWriter(MemoryStore(), pipelinerun="run-1", task="t", writer_id="fixed")
        for _ in range(2)
    ]
    try:
        writers[0].write("a")
        writers[1].writelines(["b", "c"])
        for w in writers:
            w.sync()
        scraped = _scrape(registry)
        assert 3.0 == scraped["objlog_records_total"][("run-1", "t", "fixed")]
        assert 2.0 == scraped["objlog_objects_stored_total"][("run-1", "t", "fixed")]
    finally:
        for w in writers:
            w.close()


def test_every_counter_of_writer_stats_is_exported_under_a_standard_name() -> None:
    """Each int field of WriterStats is one metric; counters end in _total, gauges do not."""
    ints = {f.name for f in dataclasses.fields(WriterStats) if f.type in ("int", int)}
    assert ints == {spec.field for spec in SPECS}
    names = [spec.name for spec in SPECS]
    assert len(names) == len(set(names))
    assert all(n.startswith("objlog_") for n in names)
    assert all(s.name.endswith("_total") and s.kind == "counter" for s in metrics.COUNTERS)
    assert not any(s.name.endswith("_total") or s.kind != "gauge" for s in metrics.GAUGES)
    assert all(
        "bytes" in s.name for s in SPECS if s.field in ("bytes_in", "bytes_stored", "dropped_bytes")
    )


def test_describe_names_every_family_before_any_writer() -> None:
    """describe() yields every family, without samples; registering twice is refused."""
    collector = metrics.WriterCollector()
    described = list(collector.describe())
    families = {f.name for f in described}
    # prometheus_client keeps a counter family's name without its _total suffix.
    assert {s.name.removesuffix("_total") for s in SPECS} | {metrics.OPEN_WRITERS} == families
    assert [] == [s for f in described for s in f.samples]
    fresh = CollectorRegistry()
    metrics.register(fresh)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        metrics.register(fresh)


def test_asgi_app_serves_the_writers(make_writer: MakeWriter, registry: CollectorRegistry) -> None:
    """make_asgi_app(registry), as mounted at /metrics in the README, serves a writer's samples."""
    writer = make_writer()
    writer.write("r")
    writer.sync()
    app = make_asgi_app(registry)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": []}
    asyncio.run(app(scope, receive, send))

    assert 200 == sent[0]["status"]
    body = sent[1]["body"].decode()
    expected = (
        'objlog_records_total{pipelinerun="run-1",task="task-a",'
        f'writer_id="{writer.writer_id}"}} 1.0'
    )
    assert expected in body.splitlines()


def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_without_prometheus_client_the_import_names_the_extra() -> None:
    """Without prometheus_client, importing objlog.metrics is a MissingBackendError naming pip."""
    out = _run(
        "import sys; sys.modules['prometheus_client'] = None\n"
        "import objlog\n"
        "try:\n"
        "    import objlog.metrics\n"
        "except objlog.MissingBackendError as exc:\n"
        "    print(isinstance(exc, ImportError), exc)\n"
    )
    assert "True objlog.metrics needs prometheus_client: pip install 'objlog-s3[metrics]'" == out


def test_importing_objlog_does_not_load_prometheus_client() -> None:
    """`import objlog` and its adapters leave prometheus_client unloaded."""
    out = _run(
        "import sys, objlog, objlog.writer, objlog.stdlib, objlog.results;"
        "print('prometheus_client' in sys.modules)"
    )
    assert "False" == out
