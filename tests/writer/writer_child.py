"""
Child processes for the writer's process tests (run as a script, never collected).

Usage: ``python writer_child.py MODE PROGRESS_FILE [ARGS...]``; the store
comes from ``OBJLOG_STORE`` (and the AWS_* variables). Records are
``{"seq": N, "pid": P, "who": W}`` lines. Progress (the last sequence number
whose ``write()`` returned, or that ``sync()`` covered) is kept in an mmap'd
file, so it survives SIGTERM and SIGKILL without costing a syscall per record.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import signal
import struct
import sys
import time

from objlog.retry import RetryPolicy
from objlog.writer import ObjectStoreWriter, install_signal_handlers

RUN, TASK = "proc-run", "proc-task"


class Progress:
    """A little-endian int64 in a shared file mapping, plus a 'ready' flag."""

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(fd, 16)
        self.map = mmap.mmap(fd, 16)
        os.close(fd)
        self.set(-1)

    def set(self, value: int) -> None:
        struct.pack_into("<q", self.map, 0, value)

    def ready(self) -> None:
        struct.pack_into("<q", self.map, 8, 1)


def record(seq: int, who: str = "main") -> str:
    return json.dumps({"seq": seq, "pid": os.getpid(), "who": who})


def mode_sigterm(progress: Progress) -> None:
    """Log as fast as possible until SIGTERM; the handler syncs and re-raises."""
    writer = ObjectStoreWriter(
        pipelinerun=RUN,
        task=TASK,
        max_size_bytes=256 * 1024,
        max_buffer_bytes=4 * 1024**2,
        block_timeout=300.0,  # backpressure, never drop: every record must arrive
        sync_timeout=120.0,
    )
    install_signal_handlers(timeout=120.0)
    seq = 0
    while True:
        if not writer.write(record(seq)):
            sys.exit(f"record {seq} dropped")
        progress.set(seq)
        if seq == 100:
            progress.ready()
        seq += 1


def mode_outage(progress: Progress, seconds: str, spool_dir: str = "") -> None:
    """Log steadily for `seconds`; report the longest write() and the counters.

    With a spool, memory is kept tiny (256 KiB) so the outage forces spooling
    on the logging thread.
    """
    writer = ObjectStoreWriter(
        pipelinerun=RUN,
        task=TASK,
        max_age=0.5,
        max_size_bytes=64 * 1024,
        max_buffer_bytes=256 * 1024 if spool_dir else 64 * 1024**2,
        spool_dir=spool_dir or None,
        retry=RetryPolicy(max_attempts=10, initial_backoff=0.1, max_backoff=1.0),
    )
    end = time.monotonic() + float(seconds)
    longest = 0.0
    seq = 0
    progress.ready()
    while time.monotonic() < end:
        for _ in range(20):
            start = time.perf_counter()
            accepted = writer.write(record(seq))
            longest = max(longest, time.perf_counter() - start)
            if not accepted:
                sys.exit(f"record {seq} dropped")
            progress.set(seq)
            seq += 1
        time.sleep(0.005)
    writer.close(timeout=120.0)
    stats = writer.stats
    print(
        json.dumps(
            {
                "last": seq - 1,
                "longest_write_s": longest,
                "retries": stats.retries,
                "failures": stats.failures,
                "objects": stats.objects,
                "dropped": stats.dropped_records,
                "spooled": stats.spooled,
            }
        )
    )


def mode_spool_kill(progress: Progress, spool_dir: str) -> None:
    """Log with a spool against a dead store; progress = last seq covered by sync()."""
    writer = ObjectStoreWriter(
        pipelinerun=RUN, task=TASK, spool_dir=spool_dir, max_size_bytes=4096, sync_timeout=120.0
    )
    seq = 0
    while True:
        for _ in range(50):
            writer.write(record(seq))
            seq += 1
        writer.sync()
        progress.set(seq - 1)
        if seq >= 500:
            progress.ready()


def mode_write_kill(progress: Progress, spool_dir: str) -> None:
    """Log with a spool and no sync; progress = last seq whose write() returned."""
    writer = ObjectStoreWriter(
        pipelinerun=RUN, task=TASK, spool_dir=spool_dir, max_size_bytes=64 * 1024, max_age=30.0
    )
    seq = 0
    while True:
        writer.write(record(seq))
        progress.set(seq)
        seq += 1
        if seq == 2000:
            progress.ready()


def mode_recover(progress: Progress, spool_dir: str) -> None:
    """Start a writer on the spool and close it: the leftovers get uploaded."""
    writer = ObjectStoreWriter(pipelinerun=RUN, task=TASK, spool_dir=spool_dir)
    writer.close(timeout=120.0)
    print(json.dumps({"objects": writer.stats.objects}))


def mode_fork(progress: Progress, spool_dir: str = "") -> None:
    """Parent logs, forks mid-stream with a pending batch; both sides log and close."""
    writer = ObjectStoreWriter(
        pipelinerun=RUN, task=TASK, max_size_bytes=2048, spool_dir=spool_dir or None
    )
    for seq in range(300):
        writer.write(record(seq, "before"))
    writer.flush()  # a sealed batch is likely still queued or in flight at fork time
    writer.write(record(300, "before"))  # and one unsealed record in the current batch
    pid = os.fork()
    if pid == 0:
        for seq in range(200):
            writer.write(record(seq, "child"))
        writer.close(timeout=120.0)
        print(json.dumps({"child_writer": writer.writer_id}), flush=True)
        os._exit(0)
    for seq in range(200):
        writer.write(record(seq, "after"))
    _, status = os.waitpid(pid, 0)
    writer.close(timeout=120.0)
    print(json.dumps({"parent_writer": writer.writer_id, "child_status": status}), flush=True)


def mode_fork_store(progress: Progress) -> None:
    """As fork, with a store object the caller opened and passed in (not owned by the writer)."""
    from objlog.stores import open_store

    store = open_store()
    writer = ObjectStoreWriter(store, pipelinerun=RUN, task=TASK, max_size_bytes=2048)
    for seq in range(300):
        writer.write(record(seq, "before"))
    writer.flush()
    pid = os.fork()
    if pid == 0:
        for seq in range(200):
            writer.write(record(seq, "child"))
        writer.close(timeout=120.0)
        reopened = writer._pipeline.store is not store
        info = {"child_writer": writer.writer_id, "child_store_reopened": reopened}
        print(json.dumps(info), flush=True)
        os._exit(0)
    for seq in range(200):
        writer.write(record(seq, "after"))
    _, status = os.waitpid(pid, 0)
    writer.close(timeout=120.0)
    store.close()
    print(json.dumps({"parent_writer": writer.writer_id, "child_status": status}), flush=True)


def mode_console_lock(progress: Progress) -> None:
    """SIGTERM while the main thread holds a console handler's lock and every PUT logs a warning."""
    import logging

    from objlog.stores import open_store

    console = logging.StreamHandler(sys.stderr)
    logging.getLogger().addHandler(console)
    store = open_store()
    real_put = store.put_object

    def put_object(*args: object, **kwargs: object) -> object:
        # What urllib3 logs on a retried request (WARNING reaches root handlers).
        logging.getLogger("urllib3.connectionpool").warning("Retrying after connection broken")
        return real_put(*args, **kwargs)  # type: ignore[arg-type]

    store.put_object = put_object  # type: ignore[method-assign]
    writer = ObjectStoreWriter(store, pipelinerun=RUN, task=TASK, max_age=3600)
    install_signal_handlers(timeout=60.0)
    writer.write(record(0))
    with console.lock or contextlib.nullcontext():  # inside the console handler's emit()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.5)  # a signal's Python handler runs at the next bytecode
    time.sleep(120)  # the re-sent SIGTERM ends the process here
    print("still alive", flush=True)


def _mp_work(writer: ObjectStoreWriter, n: int) -> None:
    for seq in range(100):
        writer.write(record(seq, f"mp{n}"))  # no close: multiprocessing exits with os._exit


def mode_multiprocessing(progress: Progress) -> None:
    """multiprocessing "fork" children log through the parent's writer and just return."""
    import multiprocessing

    writer = ObjectStoreWriter(pipelinerun=RUN, task=TASK)
    writer.write(record(0, "parent"))
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_mp_work, args=(writer, n)) for n in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    writer.close(timeout=120.0)
    print(json.dumps({"exitcodes": [p.exitcode for p in procs]}))


def mode_chain(progress: Progress, previous: str) -> None:
    """Install a previous disposition, then objlog's handlers, then signal ourselves."""
    writer = ObjectStoreWriter(pipelinerun=RUN, task=TASK)
    sig = signal.SIGHUP if previous == "ignore" else signal.SIGTERM
    if previous == "python":

        def before(signum: int, frame: object) -> None:
            print("previous handler ran", flush=True)
            os._exit(3)

        signal.signal(sig, before)
    elif previous == "ignore":
        signal.signal(sig, signal.SIG_IGN)
    elif previous == "sigint":
        sig = signal.SIGINT
    install_signal_handlers([writer], timeout=60.0)
    writer.write(record(0))
    try:
        os.kill(os.getpid(), sig)
        time.sleep(0.5)  # a signal's Python handler runs at the next bytecode
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
        os._exit(5)
    print("still alive", flush=True)
    writer.close(timeout=60.0)


def main() -> None:
    mode, progress_path, *args = sys.argv[1:]
    progress = Progress(progress_path)
    {
        "sigterm": mode_sigterm,
        "outage": mode_outage,
        "spool_kill": mode_spool_kill,
        "write_kill": mode_write_kill,
        "recover": mode_recover,
        "fork": mode_fork,
        "fork_store": mode_fork_store,
        "console_lock": mode_console_lock,
        "chain": mode_chain,
        "multiprocessing": mode_multiprocessing,
    }[mode](progress, *args)


if __name__ == "__main__":
    main()
