"""
``python -m benchmarks [--quick | --smoke] [--json PATH] [--endpoint URL] [--groups ...]``

Runs the six groups of issue 6, issue 14's ``latency`` and issue 15's ``query`` against one S3
server (moto started here on a free loopback port, or ``--endpoint`` / ``AWS_ENDPOINT_URL``
with the ``AWS_*`` keys), prints
a table (figure, objlog, baseline, ratio, target, met?) and the absolute numbers, and
writes every figure to a JSON file.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.s3harness import MotoServer

from benchmarks import callsite, drain, latency, process, query
from benchmarks._common import (
    REPO_ROOT,
    SIZES,
    Figure,
    S3Target,
    Sizes,
    empty_prefix,
    fmt_num,
)

Group = Callable[[S3Target, Sizes, Callable[[str], None]], list[Figure]]

#: Group name -> figure producers, in run order.
GROUPS: dict[str, list[Group]] = {
    "callsite": [callsite.callsite_figures],
    "isolation": [callsite.isolation_figures],
    "drain": [drain.drain_figures],
    "results": [process.results_figures],
    "shutdown": [process.shutdown_figures],
    "scaling": [callsite.scaling_callsite_figures, drain.scaling_drain_figures],
    "query": [query.query_figures],
    "latency": [latency.latency_figures],
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="objlog benchmarks: call-site cost, isolation, drain, results, shutdown, "
        "scaling, latency, query; each figure against a baseline measured in the same run.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    mode.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, seconds; checks that every figure is produced",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="figures file (default: benchmarks/out/bench-<mode>.json)",
    )
    parser.add_argument(
        "--endpoint",
        default=None,
        help="S3 endpoint URL (default: AWS_ENDPOINT_URL, else moto started here)",
    )
    parser.add_argument(
        "--groups", default=",".join(GROUPS), help=f"comma-separated subset of {','.join(GROUPS)}"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return parser.parse_args(argv)


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return ""
    return out.stdout.strip()


def _objlog_version() -> str:
    try:
        import objlog
    except ImportError:
        return ""
    return str(getattr(objlog, "__version__", ""))


def render_table(figures: list[Figure]) -> str:
    """Return the summary table: figure, objlog, baseline, ratio, target, met?."""
    header = ("figure", "objlog", "baseline", "ratio", "target", "met?")
    rows = [header]
    for f in figures:
        ratio = "-" if f.ratio is None else f"{f.ratio:.2f}x"
        met = "-" if f.target is None else {True: "met", False: "MISSED", None: "n/a"}[f.met]
        rows.append(
            (
                f.id,
                fmt_num(f.objlog, f.unit) if f.error is None or f.objlog is not None else "n/a",
                fmt_num(f.baseline, f.unit),
                ratio,
                f.target.text if f.target else "",
                met,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for n, r in enumerate(rows):
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _brief(d: dict[str, Any]) -> str:
    keys = (
        "records_s",
        "p50_us",
        "p99_us",
        "p999_us",
        "max_us",
        "dropped",
        "close_s",
        "seconds",
        "records",
        "logged_mib_s",
        "stored_mib_s",
        "ceiling_logged_mib_s",
        "baseline_logged_mib_s",
        "shaped_logged_mib_s",
        "proxy_requests",
        "gzip_put_logged_mib_s",
        "objects",
        "http_write_requests",
        "compression_ratio",
        "write_seconds",
        "maxrss_kib",
        "idle_maxrss_kib",
        "tar_seconds",
        "upload_seconds",
        "buffered_bytes",
        "raw_upload_seconds",
        "lost_bytes",
        "exit_code",
        "how",
    )
    parts = []
    for k in keys:
        if k in d and d[k] is not None:
            v = d[k]
            parts.append(f"{k}={v:,.1f}" if isinstance(v, float) else f"{k}={v}")
    return " ".join(parts)


def render_details(figures: list[Figure]) -> str:
    """Return the absolute numbers behind every figure, one subject per line."""
    lines = []
    for f in figures:
        subjects = {k: v for k, v in f.details.items() if isinstance(v, dict)}
        if not subjects and f.error is None:
            continue
        lines.append(f"{f.id}: {f.title}")
        for name, d in subjects.items():
            label = f.baseline_name if name == "baseline" else name
            lines.append(f"    {label}: {_brief(d)}")
        if "p50_ratio" in f.details:
            lines.append(
                f"    ratio of p50 per-call costs (baseline / objlog): "
                f"{f.details['p50_ratio']:.2f}x"
            )
        if "best_possible_ratio" in f.details:
            lines.append(
                f"    best possible ratio (floor / baseline): "
                f"{f.details['best_possible_ratio']:.2f}x"
            )
        if f.error:
            lines.append(f"    unavailable: {f.error}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> tuple[dict[str, Any], list[Figure]]:
    """Run the selected groups; return the JSON document and the figures."""
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    sizes = SIZES[mode]
    selected = [g.strip() for g in args.groups.split(",") if g.strip()]
    unknown = set(selected) - set(GROUPS)
    if unknown:
        raise SystemExit(f"unknown groups: {', '.join(sorted(unknown))}")

    def log(msg: str) -> None:
        if not args.quiet:
            print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    endpoint = args.endpoint or os.environ.get("AWS_ENDPOINT_URL", "")
    server: MotoServer | None = None
    tmp = tempfile.TemporaryDirectory(prefix="objlog-bench-")
    if endpoint:
        target = S3Target(
            name="endpoint",
            endpoint=endpoint,
            access_key=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
            region=os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1")),
        )
    else:
        log("starting moto in server mode")
        server = MotoServer(Path(tmp.name))
        target = S3Target(
            name="moto",
            endpoint=server.endpoint,
            access_key="testing",
            secret_key="testing",  # noqa: S106 - moto accepts any
        )
    target.bucket = f"objlog-bench-{uuid.uuid4().hex[:12]}"
    started = time.perf_counter()
    figures: list[Figure] = []
    try:
        client = target.client()
        client.create_bucket(Bucket=target.bucket)
        for name in selected:
            for producer in GROUPS[name]:
                try:
                    figures.extend(producer(target, sizes, log))
                except Exception as exc:  # noqa: BLE001 - one broken group must not hide the rest
                    log(f"group {name} failed: {exc!r}")
                    traceback.print_exc(file=sys.stderr)
                    figures.append(
                        Figure(
                            id=f"{name}.error",
                            group=name,
                            title=f"group {name} failed",
                            unit="",
                            error=f"{type(exc).__name__}: {exc}",
                        )
                    )
        try:
            empty_prefix(client, target.bucket, "")
            client.delete_bucket(Bucket=target.bucket)
        except Exception as exc:  # noqa: BLE001 - clean-up must not hide the figures
            log(f"could not remove bucket {target.bucket}: {exc!r}")
    finally:
        if server is not None:
            server.stop()
        tmp.cleanup()
    doc = {
        "meta": {
            "mode": mode,
            "sizes": {k: getattr(sizes, k) for k in sizes.__slots__},
            "server": target.name,
            "endpoint": target.endpoint,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "objlog_version": _objlog_version(),
            "git_commit": _git_commit(),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "seconds": time.perf_counter() - started,
        },
        "figures": {f.id: f.as_json() for f in figures},
    }
    return doc, figures


def main(argv: list[str] | None = None) -> int:
    """Entry point: run, print the table and the absolute numbers, write the JSON file."""
    args = _parse(argv)
    doc, figures = run(args)
    meta = doc["meta"]
    print(
        f"objlog benchmarks ({meta['mode']}) on {meta['server']}, python {meta['python']}, "
        f"{meta['cpus']} CPUs, commit {meta['git_commit']}, {meta['seconds']:.0f} s"
    )
    print()
    print(render_table(figures))
    print()
    print("Absolute numbers")
    print(render_details(figures))
    path = args.json or REPO_ROOT / "benchmarks" / "out" / f"bench-{meta['mode']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nfigures written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
