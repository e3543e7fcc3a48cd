"""
Shared machinery: sizes per mode, figures and targets, statistics, the S3 target, test data.

The S3 server itself is started by ``tests.s3harness`` (the tests' starter: one copy).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.s3harness import boto3_client

REPO_ROOT = Path(__file__).resolve().parent.parent
KiB = 1024
MiB = 1024**2
GiB = 1024**3


# -- sizes -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Sizes:
    """
    How much work each group does; one instance per mode (full, quick, smoke).

    Attributes:
        mode: ``"full"``, ``"quick"`` or ``"smoke"``.
        callsite_records: Small records emitted per call-site run (all threads together).
        callsite_large_records: 4 KiB records emitted per call-site run.
        repeats: Call-site and isolation runs per configuration, interleaved; the best
            run is reported (background load only ever slows a run down).
        isolation_records: Records emitted while the store is slow or down.
        drain_bytes: Bytes logged per drain run (group 3).
        scaling_drain_bytes: Bytes logged per record size in the drain scaling runs.
        result_bytes: Size of the file stored as a .tgz result (group 4).
        shutdown_bytes: Bytes buffered at SIGTERM, small and large (group 5).
        latency_bytes: Bytes logged per run of group ``latency`` (store 50 ms away).
    """

    mode: str
    callsite_records: int
    callsite_large_records: int
    repeats: int
    isolation_records: int
    drain_bytes: int
    scaling_drain_bytes: int
    result_bytes: int
    shutdown_bytes: tuple[int, int]
    latency_bytes: int


SIZES = {
    "full": Sizes(
        mode="full",
        callsite_records=100_000,
        callsite_large_records=25_000,
        repeats=3,
        isolation_records=20_000,
        drain_bytes=128 * MiB,
        scaling_drain_bytes=32 * MiB,
        result_bytes=1 * GiB,
        shutdown_bytes=(8 * MiB, 64 * MiB),
        latency_bytes=64 * MiB,
    ),
    "quick": Sizes(
        mode="quick",
        callsite_records=20_000,
        callsite_large_records=4_000,
        repeats=1,
        isolation_records=10_000,
        drain_bytes=16 * MiB,
        scaling_drain_bytes=4 * MiB,
        result_bytes=32 * MiB,
        shutdown_bytes=(2 * MiB, 8 * MiB),
        latency_bytes=16 * MiB,
    ),
    "smoke": Sizes(
        mode="smoke",
        callsite_records=400,
        callsite_large_records=100,
        repeats=1,
        isolation_records=400,
        drain_bytes=256 * KiB,
        scaling_drain_bytes=128 * KiB,
        result_bytes=1 * MiB,
        shutdown_bytes=(64 * KiB, 256 * KiB),
        latency_bytes=128 * KiB,
    ),
}

#: Thread counts of the call-site scaling figure (group 6).
SCALING_THREADS = (1, 2, 4, 8)
#: Record sizes of the drain scaling figure (group 6), bytes per JSON line.
SCALING_RECORD_BYTES = (100, 1 * KiB, 4 * KiB, 16 * KiB, 64 * KiB)


# -- figures -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """
    A target from issue 6.

    Attributes:
        kind: ``"ratio_min"`` (objlog/baseline >= value), ``"max"`` (objlog <= value,
            absolute) or ``"delta_max"`` (objlog - baseline <= value, absolute).
        value: The bound.
        text: How the table prints it.
    """

    kind: str
    value: float
    text: str

    def met(self, objlog: float | None, baseline: float | None, ratio: float | None) -> bool | None:
        """Return whether the target is met, or None when a number is missing."""
        if self.kind == "ratio_min":
            return None if ratio is None else ratio >= self.value
        if self.kind == "max":
            return None if objlog is None else objlog <= self.value
        if objlog is None or baseline is None:
            return None
        return objlog - baseline <= self.value


@dataclass(slots=True, kw_only=True)
class Figure:
    """
    One measured figure: objlog's number, the baseline's, their ratio and the target.

    Attributes:
        id: Stable dotted name, e.g. ``"callsite.stdlib.small.t1.filehandler"``.
        group: One of ``callsite``, ``isolation``, ``drain``, ``results``, ``shutdown``,
            ``scaling``, ``latency``.
        title: What is measured, for the table.
        unit: Unit of `objlog` and `baseline`.
        objlog: objlog's number (None when the part is missing or the run failed).
        baseline: The baseline's number, measured in the same run.
        baseline_name: What the baseline is.
        ratio: ``objlog / baseline`` (None when either is missing).
        higher_is_better: Direction of `objlog`, `baseline` and `ratio`.
        target: The issue's target, or None for informational figures.
        met: Whether the target is met (None when unknown or no target).
        details: Absolute numbers of every subject (records/s, p50/p99 µs, bytes, ...).
        error: Why a number is missing, if one is.
    """

    id: str
    group: str
    title: str
    unit: str
    objlog: float | None = None
    baseline: float | None = None
    baseline_name: str = ""
    ratio: float | None = None
    higher_is_better: bool = True
    target: Target | None = None
    met: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def settle(self) -> Figure:
        """Compute `ratio` and `met` from the numbers; return self."""
        if self.objlog is not None and self.baseline:
            self.ratio = self.objlog / self.baseline
        if self.target is not None:
            self.met = self.target.met(self.objlog, self.baseline, self.ratio)
        return self

    def as_json(self) -> dict[str, Any]:
        """Return the figure as a JSON-ready dict."""
        return asdict(self)


# -- statistics --------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Return the `q` quantile (0..1) of an ascending sequence, nearest rank; NaN if empty."""
    if not sorted_values:
        return float("nan")
    rank = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return float(sorted_values[rank])


def latency_summary(samples_ns: list[int]) -> dict[str, float]:
    """Return p50, p99, p99.9 and max of per-call latencies, in microseconds."""
    samples_ns.sort()
    return {
        "p50_us": percentile(samples_ns, 0.50) / 1000,
        "p99_us": percentile(samples_ns, 0.99) / 1000,
        "p999_us": percentile(samples_ns, 0.999) / 1000,
        "max_us": (samples_ns[-1] / 1000) if samples_ns else float("nan"),
    }


# -- the S3 server -----------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class S3Target:
    """
    The S3 server of this run and its credentials (never printed).

    Attributes:
        name: ``"moto"`` (started here) or ``"endpoint"`` (given).
        endpoint: Endpoint URL.
        access_key: Access key id.
        secret_key: Secret access key (kept out of reprs and output).
        region: Region name.
        bucket: The bucket this run created.
    """

    name: str
    endpoint: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    region: str = "us-east-1"
    bucket: str = ""

    def env(self) -> dict[str, str]:
        """Return the ``AWS_*`` variables pointing an SDK or a child process here."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self) -> Any:
        """Return a plain boto3 client (path style, checksums only when required)."""
        return bench_client(self.endpoint, self.access_key, self.secret_key, self.region)


def bench_client(endpoint: str, access_key: str, secret_key: str, region: str) -> Any:
    """Return the tests' plain boto3 client with 16 connections and standard retries."""
    return boto3_client(
        endpoint,
        access_key,
        secret_key,
        region,
        max_pool_connections=16,
        retries={"max_attempts": 3, "mode": "standard"},
    )


def empty_prefix(client: Any, bucket: str, prefix: str) -> None:
    """Delete every object under `prefix` (keeps the server's memory flat between runs)."""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        for i in range(0, len(keys), 1000):
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys[i : i + 1000]})


def list_objects(client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Return every object under `prefix` as boto3's listing dicts, in key order."""
    out: list[dict[str, Any]] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        out.extend(page.get("Contents", []))
    return out


def new_name(tag: str) -> str:
    """Return a fresh, sortable-enough unique name segment."""
    return f"{tag}-{uuid.uuid4().hex[:10]}"


# -- test data ---------------------------------------------------------------------------

_VOCABULARY = (
    "request handled user order item cache miss hit retry upload batch shard worker "
    "pipeline task step started finished failed timeout connection pool queue depth "
    "latency bytes records checkpoint epoch loss accuracy model train eval metric "
    "kubernetes pod node container image pull scheduled running succeeded"
)
_WORDS = tuple(_VOCABULARY.split())


def text_payload(
    rng: random.Random,
    n_bytes: int,
    *,
    words: float = 0.6,
    numbers: float = 0.25,
    number_range: int = 100_000,
) -> str:
    """
    Return about `n_bytes` of text: words, numbers and hex ids in the given shares.

    The default mix is semi-compressible (gzip -6 about 3x, used for the result file);
    `log_line` uses a more repetitive mix (about 4x), closer to real structured logs.
    """
    parts: list[str] = []
    size = 0
    while size < n_bytes:
        r = rng.random()
        if r < words:
            word = rng.choice(_WORDS)
        elif r < words + numbers:
            word = str(rng.randrange(number_range))
        else:
            word = f"{rng.getrandbits(32):08x}"
        parts.append(word)
        size += len(word) + 1
    return " ".join(parts)[:n_bytes]


def log_line(rng: random.Random, seq: int, n_bytes: int) -> bytes:
    """Return one JSON line of exactly `n_bytes` bytes (newline included), log-shaped."""
    head = {
        "timestamp": f"2026-11-21T12:00:{seq % 60:02d}.{seq % 1_000_000:06d}Z",
        "level": rng.choice(("info", "info", "info", "warning", "debug")),
        "logger": "app.worker",
        "message": f"{rng.choice(_WORDS)} {rng.choice(_WORDS)}",
        "request_id": f"{rng.getrandbits(64):016x}",
        "seq": seq,
        "payload": "",
    }
    base = len(json.dumps(head, separators=(",", ":"))) + 1
    head["payload"] = text_payload(
        rng, max(0, n_bytes - base), words=0.8, numbers=0.15, number_range=1000
    )
    line = json.dumps(head, separators=(",", ":")).encode()
    line = line[: n_bytes - 1] if len(line) >= n_bytes else line + b" " * (n_bytes - 1 - len(line))
    return line + b"\n"


def line_pool(record_bytes: int, *, seed: int = 6, pool_bytes: int = 2 * MiB) -> list[bytes]:
    """
    Return distinct JSON lines of `record_bytes` each, at least `pool_bytes` in total.

    The pool is larger than gzip's 32 KiB window, so cycling through it compresses like
    real logs do, not like one repeated line.
    """
    rng = random.Random(seed)
    count = max(16, -(-pool_bytes // record_bytes))
    return [log_line(rng, i, record_bytes) for i in range(count)]


def cycle_lines(pool: list[bytes], total_bytes: int) -> Iterator[bytes]:
    """Yield lines from `pool`, cyclically, until `total_bytes` have been yielded."""
    sent = 0
    i = 0
    n = len(pool)
    while sent < total_bytes:
        line = pool[i % n]
        i += 1
        sent += len(line)
        yield line


def write_semi_compressible(path: Path, n_bytes: int, *, seed: int = 4) -> None:
    """Write `n_bytes` of log-like text to `path` in 1 MiB chunks (gzip ratio about 3x)."""
    rng = random.Random(seed)
    # 16 distinct chunks, each larger than gzip's window: repetition is invisible to gzip.
    chunks = [text_payload(rng, MiB).encode() for _ in range(16)]
    with path.open("wb") as f:
        left = n_bytes
        i = 0
        while left > 0:
            chunk = chunks[i % len(chunks)]
            f.write(chunk[:left])
            left -= min(left, len(chunk))
            i += 1


def fmt_num(value: float | None, unit: str) -> str:
    """Format a number with its unit for the table."""
    if value is None:
        return "-"
    if value != value:  # NaN
        return "nan"
    if unit in {"records/s", "B"}:
        return f"{value:,.0f} {unit}"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    if abs(value) >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"
