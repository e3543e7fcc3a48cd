"""
Groups 3 and 6b: how much of the store's bandwidth objlog turns into durable data.

objlog's writer takes JSON lines from one thread as fast as it accepts them; the clock
runs from the first ``write`` until ``sync()`` returns (everything stored). The
ceiling is one boto3 client putting the very objects objlog produced (read back from
the server) back to back with ``put_object``: same bytes, same number of requests,
no batching or compression work. ratio = ceiling time / objlog time.
"""

from __future__ import annotations

import functools
import gzip
import time
from collections.abc import Callable
from typing import Any

from benchmarks._common import (
    SCALING_RECORD_BYTES,
    Figure,
    GiB,
    KiB,
    MiB,
    S3Target,
    Sizes,
    Target,
    cycle_lines,
    empty_prefix,
    line_pool,
    list_objects,
    new_name,
)
from benchmarks._stores import (
    CountingStore,
    RequestCounter,
    find_boto3_client,
    open_s3_store,
    writer_stats,
)
from objlog import ObjectStoreWriter
from objlog._codec import decode_batch

#: The drain runs block the producer rather than drop: every byte must be stored.
DRAIN_WRITER: dict[str, object] = {
    "max_buffer_bytes": 64 * MiB,
    "when_full": "block",
    "block_timeout": 600.0,
}


def drain_run(
    target: S3Target, record_bytes: int, total_bytes: int, compression: str
) -> dict[str, Any]:
    """
    Log `total_bytes` of `record_bytes` lines through objlog into S3, then the ceiling.

    Returns:
        Absolute numbers: seconds, records/s, MiB/s logged and stored, objects and
        write requests (per run and per GiB logged), compression ratio, and the
        ceiling's seconds and MiB/s.
    """
    pool = line_pool(record_bytes)
    prefix = new_name("drain")
    inner = open_s3_store(target, prefix)
    store = CountingStore(inner)
    client = find_boto3_client(inner)
    requests = RequestCounter(client) if client is not None else None
    writer = ObjectStoreWriter(
        store, pipelinerun="bench", task="drain", compression=compression, **DRAIN_WRITER
    )
    records = 0
    logged = 0
    write = writer.write
    try:
        t0 = time.perf_counter()
        for line in cycle_lines(pool, total_bytes):
            write(line)
            records += 1
            logged += len(line)
        t_written = time.perf_counter()
        writer.sync(600.0)
        seconds = time.perf_counter() - t0
        stats = writer_stats(writer)
    finally:
        writer.close(60.0)
        if requests is not None:
            requests.close()
    raw = target.client()
    objects = list_objects(raw, target.bucket, prefix)
    stored = sum(int(o["Size"]) for o in objects)

    level = writer.compresslevel if compression == "gzip" else None
    ceiling, ceiling_gzip, ceiling_raw = _ceilings(
        raw, target.bucket, objects, level, uncompressed=compression != "none"
    )
    empty_prefix(raw, target.bucket, prefix)
    store.close()

    gib = logged / GiB
    out: dict[str, Any] = {
        "record_bytes": record_bytes,
        "compression": compression,
        "records": records,
        "logged_bytes": logged,
        "stored_bytes": stored,
        "seconds": seconds,
        "write_seconds": t_written - t0,
        "records_s": records / seconds,
        "logged_mib_s": logged / MiB / seconds,
        "stored_mib_s": stored / MiB / seconds,
        "objects": len(objects),
        "objects_per_gib": len(objects) / gib,
        "seam_put_calls": store.put_calls,
        "put_calls_per_gib": store.put_calls / gib,
        "compression_ratio": logged / stored if stored else float("nan"),
        "ceiling_seconds": ceiling,
        "ceiling_logged_mib_s": logged / MiB / ceiling if ceiling > 0 else float("nan"),
        "ceiling_stored_mib_s": stored / MiB / ceiling if ceiling > 0 else float("nan"),
        "stats": {k: v for k, v in stats.items() if isinstance(v, (int, float, str)) or v is None},
    }
    if ceiling_raw is not None:
        out["raw_put_seconds"] = ceiling_raw
        out["raw_put_logged_mib_s"] = logged / MiB / ceiling_raw
    if ceiling_gzip is not None:
        out["gzip_put_seconds"] = ceiling_gzip
        out["gzip_put_logged_mib_s"] = logged / MiB / ceiling_gzip
    if requests is not None:
        out["http_write_requests"] = requests.writes
        out["http_write_requests_per_gib"] = requests.writes / gib
        out["http_requests_by_method"] = dict(requests.by_method)
    return out


#: Issue 14's targets, ratio to the put_object ceiling of the same stored objects
#: (zstd's own target, vs the uncompressed bytes, is `drain.zstd.vs_raw_put`).
DRAIN_TARGETS: dict[str, Target | None] = {
    "gzip": Target(kind="ratio_min", value=0.6, text=">= 0.6x"),
    "zstd": None,
    "none": Target(kind="ratio_min", value=0.9, text=">= 0.9x"),
}


def _drain_codecs() -> tuple[str, ...]:
    """gzip, zstd (when ``zstandard`` is installed: the ``zstd`` extra) and none."""
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return ("gzip", "none")
    return ("gzip", "zstd", "none")


def _ceilings(
    raw: Any,
    bucket: str,
    objects: list[dict[str, Any]],
    gzip_level: int | None,
    *,
    uncompressed: bool = False,
) -> tuple[float, float | None, float | None]:
    """
    Time one plain client putting `objects` (read back) again, back to back.

    Returns:
        ``(seconds, gzip seconds, raw seconds)``: the second, informational ceiling
        (each batch decompressed, then compressed at `gzip_level` and put) only
        for gzip runs; the third (each batch decompressed, then put as it is:
        storing the logged bytes raw, issue 14's zstd baseline) when
        `uncompressed`.
    """
    bodies = [raw.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in objects]
    ceiling_prefix = new_name("ceiling")
    t1 = time.perf_counter()
    for i, body in enumerate(bodies):
        raw.put_object(Bucket=bucket, Key=f"{ceiling_prefix}/{i:08d}", Body=body)
    ceiling = time.perf_counter() - t1
    ceiling_gzip = None
    if gzip_level is not None:
        raws = [gzip.decompress(b) for b in bodies]
        t2 = time.perf_counter()
        for i, data in enumerate(raws):
            raw.put_object(
                Bucket=bucket,
                Key=f"{ceiling_prefix}/z{i:08d}",
                Body=gzip.compress(data, compresslevel=gzip_level, mtime=0),
            )
        ceiling_gzip = time.perf_counter() - t2
    ceiling_raw = None
    if uncompressed:
        plain = [decode_batch(b, o["Key"]) for b, o in zip(bodies, objects, strict=True)]
        t3 = time.perf_counter()
        for i, data in enumerate(plain):
            raw.put_object(Bucket=bucket, Key=f"{ceiling_prefix}/r{i:08d}", Body=data)
        ceiling_raw = time.perf_counter() - t3
    empty_prefix(raw, bucket, ceiling_prefix)
    return ceiling, ceiling_gzip, ceiling_raw


def _drain_figure(
    fid: str, title: str, run: Callable[[], dict[str, Any]], target: Target | None
) -> Figure:
    fig = Figure(
        id=fid,
        group=fid.split(".")[0],
        title=title,
        unit="MiB/s",
        baseline_name="boto3 put_object of the same objects, back to back",
        target=target,
    )
    d = run()
    fig.objlog = d["logged_mib_s"]
    fig.baseline = d["ceiling_logged_mib_s"]
    fig.details["objlog"] = d
    return fig.settle()


def drain_figures(target: S3Target, sizes: Sizes, log: Callable[[str], None]) -> list[Figure]:
    """Group 3: drain MiB/s (logged bytes) vs the raw put_object ceiling; gzip, zstd, none."""
    figures: list[Figure] = []
    for compression in _drain_codecs():
        log(f"drain, {compression}")
        figures.append(
            _drain_figure(
                f"drain.{compression}",
                f"drain MiB/s logged, 1 KiB records, compression={compression}",
                functools.partial(drain_run, target, KiB, sizes.drain_bytes, compression),
                DRAIN_TARGETS[compression],
            )
        )
        main = figures[-1]
        if compression == "zstd":
            # Issue 14: compression must make logging faster than storing the logged bytes raw.
            d = main.details.get("objlog", {})
            fig = Figure(
                id="drain.zstd.vs_raw_put",
                group="drain",
                title="drain MiB/s logged, zstd, vs put_object of the uncompressed bytes",
                unit="MiB/s",
                objlog=main.objlog,
                baseline=d.get("raw_put_logged_mib_s"),
                baseline_name="boto3 put_object of the same batches uncompressed, back to back",
                target=Target(kind="ratio_min", value=1.0, text=">= 1.0x"),
                error=main.error,
            )
            figures.append(fig.settle())
        if compression == "gzip":
            # Engine overhead apart from compression cost: vs "gzip each batch, then put".
            d = main.details.get("objlog", {})
            fig = Figure(
                id="drain.gzip.vs_gzip_put",
                group="drain",
                title="drain MiB/s logged, gzip, vs gzip.compress + put_object",
                unit="MiB/s",
                objlog=main.objlog,
                baseline=d.get("gzip_put_logged_mib_s"),
                baseline_name="gzip.compress (same level) + put_object, back to back",
                error=main.error,
            )
            figures.append(fig.settle())
        figures.extend(_derived(main))
    return figures


def _derived(main: Figure) -> list[Figure]:
    """Objects and write requests per GiB logged, and the compression ratio, of a drain run."""
    d = main.details.get("objlog", {})
    base = main.id
    rows = [
        ("objects_per_gib", "objects per GiB logged", "obj/GiB", d.get("objects_per_gib")),
        (
            "requests_per_gib",
            "PUT/POST requests per GiB logged",
            "req/GiB",
            d.get("http_write_requests_per_gib", d.get("put_calls_per_gib")),
        ),
        (
            "compression_ratio",
            "compression ratio (logged / stored bytes)",
            "x",
            d.get("compression_ratio"),
        ),
    ]
    out = []
    for suffix, title, unit, value in rows:
        fig = Figure(
            id=f"{base}.{suffix}",
            group="drain",
            title=f"{main.id}: {title}",
            unit=unit,
            objlog=value,
            error=main.error,
        )
        out.append(fig.settle())
    return out


def _size_name(n: int) -> str:
    return f"{n // KiB}KiB" if n >= KiB else f"{n}B"


def scaling_drain_figures(
    target: S3Target, sizes: Sizes, log: Callable[[str], None]
) -> list[Figure]:
    """Group 6b: drain throughput with records of 100 B .. 64 KiB (gzip)."""
    figures: list[Figure] = []
    for record_bytes in SCALING_RECORD_BYTES:
        name = _size_name(record_bytes)
        log(f"scaling drain, {name} records")
        figures.append(
            _drain_figure(
                f"scaling.drain.{name}",
                f"drain MiB/s logged, {name} records, gzip",
                functools.partial(
                    drain_run, target, record_bytes, sizes.scaling_drain_bytes, "gzip"
                ),
                None,
            )
        )
    return figures
