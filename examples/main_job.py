"""
The main job: a real pipeline step run through ``objlog run``, then read back.

1. ``objlog run`` runs ``examples/pipeline_step.py`` (scikit-learn on its
   bundled digits data) as task ``train-digits`` of a fresh pipelinerun,
   streaming its stdout and stderr into the store, then stores
   ``metrics.json`` and ``model.pkl`` as results and the whole output as
   ``main-log.tgz``.
2. ``objlog cat`` prints the step's logs back from the store.
3. ``objlog result get`` fetches both results; the metrics must hold an
   accuracy, and the fetched model must be byte-identical and still predict.
4. ``objlog ls`` lists the task's objects, and a summary says where
   everything went.

The store is the embedded default local store, or ``OBJLOG_STORE`` (for
example ``s3://my-bucket/objlog`` with ``AWS_ENDPOINT_URL`` and keys in the
environment). Usage: ``python examples/main_job.py [--store URL]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TASK = "train-digits"


def objlog(*args: str, capture: bool = False) -> subprocess.CompletedProcess[bytes]:
    """Run the objlog CLI of this interpreter; stop the job if it fails."""
    cmd = [sys.executable, "-m", "objlog", *args]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE if capture else None, check=False)
    if proc.returncode != 0:
        sys.exit(
            f"main_job: `objlog {' '.join(args[:2])} ...` failed with status {proc.returncode}"
        )
    return proc


def banner(text: str) -> None:
    """Print a section title."""
    print(f"\n=== {text} ===", flush=True)


def main() -> int:
    """Run the step, read everything back, verify it, and print a summary."""
    parser = argparse.ArgumentParser(description="objlog's main job (README command one)")
    parser.add_argument("--store", help="store URL (default: $OBJLOG_STORE, else the local store)")
    args = parser.parse_args()
    store_args = ["--store", args.store] if args.store else []

    from objlog.stores import open_store

    store = open_store(args.store)
    store_url = store.url
    store.close()
    pipelinerun = f"demo-{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="objlog-demo-") as tmp:
        out = Path(tmp) / "outputs"
        banner(f"1. objlog run: {TASK} of {pipelinerun} -> {store_url}")
        objlog(
            "run",
            *store_args,
            "--pipelinerun",
            pipelinerun,
            "--task",
            TASK,
            "--result",
            f"metrics={out / 'metrics.json'}",
            "--result",
            f"model={out / 'model.pkl'}",
            "--archive-log",
            "--",
            sys.executable,
            "-u",
            str(HERE / "pipeline_step.py"),
            "--out",
            str(out),
        )
        step_seconds = time.perf_counter() - started

        banner(
            f"2. objlog cat {pipelinerun} {TASK}   (read back from the store, -t: with timestamps)"
        )
        shown = objlog("cat", "--timestamps", *store_args, pipelinerun, TASK, capture=True).stdout
        sys.stdout.buffer.write(shown)
        sys.stdout.flush()
        records = objlog("cat", *store_args, "--json", pipelinerun, TASK, capture=True).stdout
        n_records = len(records.splitlines())
        warnings = objlog(
            "cat", *store_args, "--level", "warning", pipelinerun, TASK, capture=True
        ).stdout

        banner(f"3. objlog result get {pipelinerun} {TASK} metrics / model")
        metrics_raw = objlog(
            "result", "get", *store_args, pipelinerun, TASK, "metrics", capture=True
        )
        metrics = json.loads(metrics_raw.stdout)
        if not isinstance(metrics.get("accuracy"), float):
            sys.exit("main_job: the fetched metrics hold no accuracy")
        print(f"metrics.json: accuracy={metrics['accuracy']:.4f} best={metrics['best_params']}")
        fetched = Path(tmp) / "model-fetched.pkl"
        objlog("result", "get", *store_args, pipelinerun, TASK, "model", "-o", str(fetched))
        if fetched.read_bytes() != (out / "model.pkl").read_bytes():
            sys.exit("main_job: the fetched model differs from the one the step wrote")
        from sklearn.datasets import load_digits

        with fetched.open("rb") as f:
            model = pickle.load(f)  # noqa: S301 - our own result, just verified byte-exact
        digits = load_digits()
        hits = int((model.predict(digits.data[:100] / 16.0) == digits.target[:100]).sum())
        print(f"model.pkl: {fetched.stat().st_size} bytes, byte-identical, {hits}/100 digits right")

        banner(f"4. objlog ls {pipelinerun} {TASK}")
        listing = objlog("ls", *store_args, pipelinerun, TASK, capture=True).stdout.decode()
        print(listing, end="")

    lines = listing.splitlines()
    logs = [line.split()[-1] for line in lines if "/logs/" in f"/{line.split()[-1]}"]
    arts = [line.split()[-1] for line in lines if "/artifacts/" in f"/{line.split()[-1]}"]
    total = time.perf_counter() - started
    banner("summary")
    print(f"store:        {store_url}")
    if store_url.startswith("s3") and os.environ.get("AWS_ENDPOINT_URL"):
        print(f"endpoint:     {os.environ['AWS_ENDPOINT_URL']}")
    print(f"pipelinerun:  {pipelinerun}   task: {TASK}")
    print(
        f"step:         exit 0 in {step_seconds:.1f} s; {n_records} log records "
        f"({len(warnings.splitlines())} at warning or above) in {len(logs)} log objects"
    )
    for key in logs[:3]:
        print(f"  log object: {key}")
    if len(logs) > 3:
        print(f"  ... and {len(logs) - 3} more")
    for key in arts:
        print(f"  result:     {key}")
    print(f"accuracy:     {metrics['accuracy']:.4f} (verified from the stored metrics.json)")
    print(f"total:        {total:.1f} s")
    print(
        "read it again: objlog cat "
        + (
            f"{os.environ['OBJLOG_STORE']} "
            if args.store is None and "OBJLOG_STORE" in os.environ
            else ""
        )
        + (f"{args.store} " if args.store else "")
        + f"{pipelinerun} {TASK}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
