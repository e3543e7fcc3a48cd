"""
Smoke test of ``python -m benchmarks``: the harness runs end to end with tiny sizes
and writes every figure. Timings are never asserted here (benchmarks are not tests).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

_CALLSITE = [
    f"callsite.{door}.{record}.t{threads}.{baseline}"
    for record in ("small", "large")
    for threads in (1, 4)
    for door, baseline in (
        ("stdlib", "filehandler"),
        ("stdlib", "queue"),
        ("stdlib", "spool"),
        ("stdlib", "floor"),
        ("structlog", "writelogger"),
        ("structlog", "floor"),
    )
]
_DRAIN = [
    f"drain.{c}{suffix}"
    for c in ("gzip", "zstd", "none")
    for suffix in ("", ".objects_per_gib", ".requests_per_gib", ".compression_ratio")
]
#: Every figure issues 6, 12 and 14 ask for, by its id in the JSON file.
EXPECTED_FIGURES = sorted(
    [
        *_CALLSITE,
        "isolation.slow",
        "isolation.down",
        *_DRAIN,
        "drain.gzip.vs_gzip_put",
        "drain.zstd.vs_raw_put",
        "results.throughput",
        "results.peak_rss",
        "results.incompressible",
        "results.get",
        "results.retry",
        "shutdown.small",
        "shutdown.large",
        "shutdown.large.none",
        *(f"scaling.callsite.t{t}" for t in (1, 2, 4, 8)),
        *(f"scaling.drain.{s}" for s in ("100B", "1KiB", "4KiB", "16KiB", "64KiB")),
        "query.count_level",
        "query.count_level.vs_cat",
        *(f"latency.c{n}" for n in (1, 2, 4, 8)),
    ]
)
FIGURE_FIELDS = {
    "id",
    "group",
    "title",
    "unit",
    "objlog",
    "baseline",
    "baseline_name",
    "ratio",
    "higher_is_better",
    "target",
    "met",
    "details",
    "error",
}


@pytest.fixture(scope="module")
def smoke_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run the benchmarks once in smoke mode against a moto server they start themselves."""
    out = tmp_path_factory.mktemp("bench") / "figures.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OBJLOG_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--quiet", "--json", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    doc = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    return proc, doc


@pytest.mark.slow
@pytest.mark.process
def test_smoke_run_exits_zero(smoke_run: tuple[subprocess.CompletedProcess[str], Any]) -> None:
    """The benchmark command succeeds in smoke mode and prints the table."""
    proc, _ = smoke_run
    assert 0 == proc.returncode, proc.stderr[-2000:]
    assert "figure" in proc.stdout
    assert "Absolute numbers" in proc.stdout


@pytest.mark.slow
@pytest.mark.process
def test_smoke_json_has_every_figure(smoke_run: tuple[Any, dict[str, Any]]) -> None:
    """The JSON file holds exactly the figures of issues 6 and 17, each with every field."""
    _, doc = smoke_run
    assert "smoke" == doc["meta"]["mode"]
    assert EXPECTED_FIGURES == sorted(doc["figures"])
    for fid, fig in doc["figures"].items():
        assert FIGURE_FIELDS == set(fig), fid
        assert fid == fig["id"]


@pytest.mark.slow
@pytest.mark.process
def test_smoke_figures_have_numbers(smoke_run: tuple[Any, dict[str, Any]]) -> None:
    """Every figure carries objlog's number, or says why it could not be measured."""
    _, doc = smoke_run
    missing = {
        fid: fig["error"]
        for fid, fig in doc["figures"].items()
        if fig["objlog"] is None and not fig["error"]
    }
    assert {} == missing


@pytest.mark.slow
@pytest.mark.process
def test_smoke_baselines_measured(smoke_run: tuple[Any, dict[str, Any]]) -> None:
    """Every figure that has a baseline of its own measured it in the same run."""
    _, doc = smoke_run
    independent = [
        fid
        for fid in doc["figures"]
        if fid.startswith(("callsite.", "scaling.callsite.", "results.", "shutdown.", "latency."))
    ]
    unmeasured = [fid for fid in independent if doc["figures"][fid]["baseline"] is None]
    assert [] == unmeasured
