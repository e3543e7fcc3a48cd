"""
Prometheus metrics for every live writer's `WriterStats`: `WriterCollector` and `register`.

Needs ``prometheus_client`` (the ``metrics`` extra); importing this module
without it raises `MissingBackendError`, and ``import objlog`` never imports
it. Register once, then expose the registry as usual::

    import objlog.metrics
    from prometheus_client import start_http_server

    objlog.metrics.register()      # on prometheus_client.REGISTRY
    start_http_server(9464)        # http://127.0.0.1:9464/metrics

Each scrape takes one `ObjectStoreWriter.stats` snapshot per live writer and
yields one sample per writer and metric, labelled ``pipelinerun``, ``task``
and ``writer_id``. Names follow the Prometheus naming guide
(https://prometheus.io/docs/practices/naming/): an ``objlog_`` namespace,
the unit in the name (``_bytes``, ``_records``, ``_batches``) and ``_total``
on counters. Counters (`COUNTERS`) only grow while a writer lives; gauges
(`GAUGES`) go up and down. `WriterStats.last_error` and the spans are not
exported (free text and lists are not metrics).

A writer appears from its construction until its `ObjectStoreWriter.close`
returns (or it is garbage-collected): the live-writer registry of
`objlog._shutdown` is the source. A closed writer's series simply end, with
no last values kept: its ``writer_id`` label is random per writer and
process, so a kept series would never be updated again, and Prometheus'
``rate()``/``increase()`` treat an ended series as a finished counter. Sum
over ``writer_id`` to follow a task across writers and restarts. A forked
child (gunicorn, multiprocessing) starts its writers' counters at zero under
a new writer id and exposes only its own writers; this collector does not
support ``prometheus_client``'s multiprocess mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from objlog import _shutdown
from objlog._package import install_hint
from objlog.errors import MissingBackendError
from objlog.writer import ObjectStoreWriter, WriterStats

try:
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
except ImportError as exc:  # the extra is optional; say how to get it
    raise MissingBackendError(
        f"objlog.metrics needs prometheus_client: {install_hint('metrics')}"
    ) from exc

__all__ = [
    "COUNTERS",
    "GAUGES",
    "LABELS",
    "OPEN_WRITERS",
    "MetricSpec",
    "WriterCollector",
    "register",
]

#: Label names of every per-writer sample, in order.
LABELS: tuple[str, ...] = ("pipelinerun", "task", "writer_id")


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSpec:
    """
    One exported metric: its Prometheus name, the `WriterStats` field it reads, its help.

    Attributes:
        name: The full metric name (counters end in ``_total``).
        field: The `WriterStats` attribute (an int) it exposes.
        help: The ``# HELP`` text.
        kind: ``"counter"`` or ``"gauge"``.
    """

    name: str
    field: str
    help: str
    kind: Literal["counter", "gauge"]


def _counter(name: str, field: str, text: str) -> MetricSpec:
    return MetricSpec(name=name, field=field, help=text, kind="counter")


def _gauge(name: str, field: str, text: str) -> MetricSpec:
    return MetricSpec(name=name, field=field, help=text, kind="gauge")


#: The counters, one per cumulative `WriterStats` field.
COUNTERS: tuple[MetricSpec, ...] = (
    _counter("objlog_records_total", "records", "Records accepted by write()."),
    _counter(
        "objlog_record_bytes_total",
        "bytes_in",
        "Bytes of accepted records, uncompressed, newlines included.",
    ),
    _counter("objlog_objects_stored_total", "objects", "Objects (batches) stored."),
    _counter("objlog_stored_bytes_total", "bytes_stored", "Bytes of stored objects, as stored."),
    _counter(
        "objlog_stored_records_total",
        "stored_records",
        "Records of this writer's own sealed batches now stored.",
    ),
    _counter(
        "objlog_retries_total", "retries", "Upload attempts retried after a transient failure."
    ),
    _counter(
        "objlog_failures_total",
        "failures",
        "Uploads that failed after their retries (the batch was kept).",
    ),
    _counter(
        "objlog_dropped_records_total", "dropped_records", "Records dropped: memory was full."
    ),
    _counter("objlog_dropped_bytes_total", "dropped_bytes", "Bytes of dropped records."),
    _counter("objlog_spooled_batches_total", "spooled", "Batches written to the spool."),
    _counter(
        "objlog_dead_lettered_batches_total",
        "dead_lettered",
        "Batches the store refused for good, set aside and never retried.",
    ),
    _counter(
        "objlog_dead_lettered_records_total",
        "dead_lettered_records",
        "Records of dead-lettered batches.",
    ),
)

#: The gauges: what is in flight now.
GAUGES: tuple[MetricSpec, ...] = (
    _gauge("objlog_queue_depth", "queue_depth", "Sealed batches not yet stored."),
    _gauge(
        "objlog_spooled_records",
        "spooled_records",
        "Records of sealed batches in the spool and not stored (yet).",
    ),
    _gauge(
        "objlog_unsaved_records",
        "unsaved_records",
        "Records of sealed batches neither stored nor spooled (in memory).",
    ),
)

#: The unlabelled gauge of how many writers are live (0 when none: the series never ends).
OPEN_WRITERS = "objlog_open_writers"
_OPEN_WRITERS_HELP = "Writers of this process constructed and not yet closed."
_SPECS = (*COUNTERS, *GAUGES)


class WriterCollector:
    """
    A ``prometheus_client`` collector of every live writer's stats.

    `collect` yields the `COUNTERS` and `GAUGES` families, one sample per
    live `ObjectStoreWriter` labelled with `LABELS` (two live writers with
    the same labels, possible only with a fixed ``writer_id`` on two stores,
    are added up into one sample), and ``objlog_open_writers``, the number
    of live writers (unlabelled). `describe` yields the same families
    without samples, so a registry knows the names before any writer exists.

    Thread safety: `collect` may run on any thread (a scrape runs on the HTTP
    server's) while writers are used and closed: each writer's sample comes
    from one `ObjectStoreWriter.stats` snapshot, consistent within itself
    (taken under that writer's counters lock, never waiting on the network);
    writers are read one after another.
    """

    def describe(self) -> Iterator[Metric]:
        """Yield every family this collector exports, without samples."""
        yield from self._families({}, None)

    def collect(self) -> Iterator[Metric]:
        """
        Yield the metric families with one sample per live writer.

        Returns:
            An iterator of ``prometheus_client`` metric families, as a
            registry's scrape expects. Never raises for a writer: one whose
            stats cannot be read (it is being torn down) is left out.
        """
        samples: dict[tuple[str, ...], list[int]] = {}
        fields = [spec.field for spec in _SPECS]
        writers = 0
        for writer in _shutdown.live_writers():
            if not isinstance(writer, ObjectStoreWriter):
                continue
            try:
                labels = (writer.pipelinerun, writer.task, writer.writer_id)
                stats: WriterStats = writer.stats
            except Exception:  # noqa: BLE001, S112 - a scrape must not fail for one writer
                continue
            writers += 1
            values = [int(getattr(stats, name)) for name in fields]
            known = samples.get(labels)
            samples[labels] = (
                values if known is None else [a + b for a, b in zip(known, values, strict=True)]
            )
        yield from self._families(samples, writers)

    @staticmethod
    def _families(
        samples: dict[tuple[str, ...], list[int]], writers: int | None
    ) -> Iterator[Metric]:
        """Yield the families with `samples` (values in `_SPECS` order) and the writer count."""
        for index, spec in enumerate(_SPECS):
            family: CounterMetricFamily | GaugeMetricFamily
            if spec.kind == "counter":
                family = CounterMetricFamily(spec.name, spec.help, labels=LABELS)
            else:
                family = GaugeMetricFamily(spec.name, spec.help, labels=LABELS)
            for labels, values in samples.items():
                family.add_metric(list(labels), values[index])
            yield family
        yield GaugeMetricFamily(OPEN_WRITERS, _OPEN_WRITERS_HELP, value=writers)


def register(registry: CollectorRegistry | None = None) -> WriterCollector:
    """
    Register a new `WriterCollector` on `registry` and return it.

    Args:
        registry: The ``prometheus_client`` registry (default
            ``prometheus_client.REGISTRY``, the one ``start_http_server``,
            ``make_asgi_app`` and ``generate_latest`` serve by default).

    Returns:
        The collector, now on `registry`; ``registry.unregister(collector)``
        removes it.

    Raises:
        ValueError: (``prometheus_client``'s ``DuplicateTimeseries``)
            `registry` already has a collector exporting these names, e.g.
            from an earlier `register` call: like a ``prometheus_client``
            metric, register once per process and registry.

    Thread safety: safe from any thread (the registry has its own lock).
    """
    collector = WriterCollector()
    (REGISTRY if registry is None else registry).register(collector)
    return collector
