"""
The step runner behind ``objlog run``: a child process whose output becomes log records.

The child's stdout and stderr are pipes read by two threads, as raw bytes
(with ``pty=True`` both are one pseudo-terminal read by one thread, see
`_start_child`). Every chunk read is first copied (tee'd) unchanged to our
own stdout or stderr, then cut into lines; each line becomes one JSON record::

    {"timestamp": "2026-11-21T11:40:30.123456Z", "stream": "stdout",
     "sequence": 7, "line": "epoch 3 loss 0.12"}

written to an `objlog.writer.ObjectStoreWriter`. Conventions:

* ``sequence`` counts every line of both streams in the order received
  (one lock orders the counter and the writer call). The records of one
  read (up to 1 MiB; the pipes are grown to 1 MiB on Linux) reach the
  writer in one call, so they share a batch.
* ``timestamp`` is when objlog read the chunk holding the line (RFC 3339,
  UTC, microseconds); lines read together share it.
* A line longer than `max_line_bytes` (default 256 KiB) is split at a
  UTF-8 character boundary; every piece but the last has ``"partial": true``.
* A last line without a trailing newline has ``"newline": false``.
* Bytes that are not UTF-8: ``line`` holds the text with those bytes as
  ``\\xNN`` escapes (valid Unicode for every JSON tool) and ``raw_b64``
  holds the exact bytes in base64, so ``objlog cat`` restores them.

Signals: SIGTERM, SIGHUP and SIGINT are forwarded to the child and the
runner keeps waiting for it (SIGINT is not forwarded when our stdin is a
terminal: the terminal already sent it to the child, which shares our
process group). On Linux the child dies with ``objlog run``, even when
SIGKILL ends it (``PR_SET_PDEATHSIG``, see `_start_child`). Afterwards
results are stored, the log synced within one deadline, and the child's
exit status returned (128 + N when signal N killed it). The whole output
is stamped on objlog's side: a record the child sends through its own
objlog handler carries the child's time and may sort a fraction of a
millisecond before a line it printed just before.

The step's outcome is a status object (`objlog._status`): ``running`` when
it starts, ``succeeded`` or ``failed`` with counts once it ended and its log
was synced, so a reader that sees it finished and lists once more has every
line that was stored.
"""

from __future__ import annotations

import array
import base64
import contextlib
import dataclasses
import datetime as _dt
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TypeAlias, TypedDict

from objlog import _layout, _status
from objlog._codec import RUN_LINE_BYTES
from objlog._layout import Layout
from objlog.errors import ConfigError, ObjlogError, StoreError, SyncTimeout
from objlog.results import ResultWriter
from objlog.retry import RetryPolicy
from objlog.typing import ObjectStore
from objlog.writer import ObjectStoreWriter, WriterStats

try:
    import fcntl
except ImportError:  # not on Windows
    _SET_PIPE_SIZE: int | None = None
else:
    _SET_PIPE_SIZE = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only

if TYPE_CHECKING:
    _Handler: TypeAlias = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "DEFAULT_RUN_MAX_AGE",
    "LineSink",
    "RunOptions",
    "RunReport",
    "WriterOptions",
    "default_spool_dir",
    "generate_run_id",
    "run_step",
    "split_lines",
]

#: Longest line stored as one record; longer lines are split (`objlog._codec.RUN_LINE_BYTES`).
DEFAULT_MAX_LINE_BYTES = RUN_LINE_BYTES
_READ_BYTES = 1024 * 1024
# Linux lets a pipe hold more than its 64 KiB default: fewer wake-ups per MiB.
_PIPE_BYTES = 1024 * 1024
# json's own C string encoder (what json.dumps uses for a str, without the call overhead).
_encode_str = json.encoder.encode_basestring
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: ``max_age`` of ``objlog run``'s log batches, seconds, unless ``--max-age`` or
#: ``OBJLOG_MAX_AGE`` says otherwise: lower than the writer's 5 s so ``cat -f``
#: shows a quiet step's lines within about 3 s (2 s here plus its 1 s poll). A
#: step printing one line a second costs at most 3600 / 2 = 1,800 objects an
#: hour (measured: 28 objects in a 60 s step, 1,680 an hour; 54 at 1 s); a busy step
#: fills batches by size instead.
DEFAULT_RUN_MAX_AGE = 2.0


class _Writer(Protocol):
    def write(self, data: str) -> int: ...


class WriterOptions(TypedDict, total=False):
    """
    The `objlog.writer.ObjectStoreWriter` settings ``objlog run`` may pass on.

    Keys and meanings are the writer's keyword arguments of the same names
    (sizes in bytes, durations in seconds); mypy checks them against its signature.
    """

    max_size_bytes: int
    max_age: float
    max_buffer_bytes: int
    when_full: str
    block_timeout: float
    compression: str
    compresslevel: int
    retry: RetryPolicy
    sync_timeout: float
    on_error: Callable[[BaseException], None]
    layout: str | Layout


def generate_run_id(now: _dt.datetime | None = None) -> str:
    """
    Return a fresh pipelinerun name such as ``run-20261121-114030-ab12cd``.

    Args:
        now: The time to embed (default: now, UTC).

    Returns:
        A name that is a valid key segment and sorts by start time.

    Thread safety: safe to call from any thread.
    """
    when = now or _dt.datetime.now(_dt.timezone.utc)
    return f"run-{when:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def default_spool_dir(store_url: str) -> Path:
    """
    Return the default spool directory for a store.

    ``$OBJLOG_SPOOL_DIR`` if set, else ``spool`` under objlog's data home
    (`objlog.config.default_home`: ``$OBJLOG_HOME``, ``$XDG_DATA_HOME/objlog``
    or ``~/.local/share/objlog``); one subdirectory per store URL, so batches
    left by a killed step are recovered into the store they were meant for.

    Args:
        store_url: The store's URL (no secret in it).

    Returns:
        The directory (not created).

    Thread safety: reads the environment only.
    """
    from objlog._settings import env_spool_root, store_spool_dir
    from objlog.config import default_home

    return store_spool_dir(env_spool_root() or default_home() / "spool", store_url)


def _utf8_cut(data: bytes | bytearray, limit: int) -> int:
    """Return a cut position <= limit that does not split a UTF-8 sequence (if avoidable)."""
    if limit >= len(data):
        return len(data)
    cut = limit
    # Back off over at most 3 continuation bytes (0b10xxxxxx).
    while cut > limit - 3 and cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut if cut > 0 else limit


def split_lines(
    pending: bytes, chunk: bytes, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> tuple[list[tuple[bytes, bool]], bytes]:
    """
    Cut buffered bytes plus a new chunk into lines.

    Args:
        pending: Bytes left over from the previous call (an unfinished line).
        chunk: Newly read bytes.
        max_line_bytes: Longest piece returned (default 256 KiB); longer
            lines come out as several pieces.

    Returns:
        ``(pieces, rest)``: each piece is ``(bytes without the newline,
        complete)`` where ``complete`` is False for a piece the next one
        continues; `rest` is the unfinished tail to pass back next time
        (at most `max_line_bytes`).

    Thread safety: pure function.
    """
    data = pending + chunk if pending else chunk
    parts = data.split(b"\n")
    rest = parts.pop()
    pieces: list[tuple[bytes, bool]] = []
    for line in parts:
        while len(line) > max_line_bytes:
            cut = _utf8_cut(line, max_line_bytes)
            pieces.append((line[:cut], False))
            line = line[cut:]
        pieces.append((line, True))
    while len(rest) > max_line_bytes:
        cut = _utf8_cut(rest, max_line_bytes)
        pieces.append((rest[:cut], False))
        rest = rest[cut:]
    return pieces, rest


def _rfc3339_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LineSink:
    """
    Turn lines of both streams into numbered JSON records for a writer.

    Args:
        writer: Anything with ``write(str)``; one call per record.
        archive: Optional binary file receiving every line as raw bytes
            (``step-main.log``), in the order of ``sequence``.

    The sink keeps a ledger of what each accepted ``write`` call held (one
    int per call: the records before it), so the writer's record spans
    (`objlog.writer.WriterStats.spooled_spans`) map back to log lines
    (`line_count`). Records of a call the writer refused (raised, or
    returned 0: dropped) count in `errors` and `dropped`, not in the ledger.

    Thread safety: `emit` may be called from several threads; one lock
    orders sequence numbers, writer calls, the ledger and the archive.
    """

    def __init__(self, writer: _Writer, archive: BinaryIO | None = None) -> None:
        self._writer = writer
        self._archive = archive
        self._lock = threading.Lock()
        self.sequence = 0
        self.lines = 0
        self.errors = 0
        self.dropped = 0
        self.dropped_writes = 0
        #: Bytes of output recorded (the step's bytes, newlines included).
        self.output_bytes = 0
        self.last_error: BaseException | None = None
        # _ledger[i]: records accepted before the writer's record _base + i.
        self._ledger = array.array("q", [0])
        self._base = 0

    @property
    def accepted(self) -> int:
        """Records the writer accepted (its records may hold several each)."""
        with self._lock:
            return self._ledger[-1]

    @property
    def writes(self) -> int:
        """Writer records accepted (one per accepted ``write`` call)."""
        with self._lock:
            return self._base + len(self._ledger) - 1

    def line_count(self, spans: Sequence[tuple[int, int]]) -> int:
        """
        Return the log records held by writer records ``[first, first + n)`` of each span.

        Spans below what `forget_before` dropped count as empty; spans past
        the last accepted call end there.
        """
        with self._lock:
            ledger, base, last = self._ledger, self._base, len(self._ledger) - 1
            total = 0
            for first, n in spans:
                lo = min(max(first - base, 0), last)
                hi = min(max(first + n - base, 0), last)
                total += ledger[hi] - ledger[lo]
            return total

    def forget_before(self, index: int) -> None:
        """Drop the ledger below writer record `index` (stored for good: never asked again)."""
        with self._lock:
            cut = min(index - self._base, len(self._ledger) - 1)
            if cut > 0:
                del self._ledger[:cut]
                self._base += cut

    def emit(
        self,
        stream: str,
        pieces: Sequence[tuple[bytes, bool]],
        timestamp: str,
        *,
        final: bool = False,
    ) -> None:
        """
        Write one record per piece; `final` marks the last piece as lacking its newline.

        The records of one call reach the writer in ONE ``write`` call
        (newline-separated, so they land in the same batch, in order): the
        writer's per-call cost, not JSON, bounds ``objlog run``'s throughput.
        """
        head = f'{{"timestamp":"{timestamp}","stream":"{stream}","sequence":'
        last = len(pieces) - 1
        records: list[str] = []
        archived: list[bytes] = []
        with self._lock:
            seq = self.sequence
            for index, (raw, complete) in enumerate(pieces):
                try:
                    text = raw.decode("utf-8")
                    extra = ""
                except UnicodeDecodeError:
                    text = raw.decode("utf-8", errors="backslashreplace")
                    extra = ',"raw_b64":"' + base64.b64encode(raw).decode("ascii") + '"'
                newline = complete
                if not complete:
                    extra += ',"partial":true'
                elif final and index == last:
                    extra += ',"newline":false'
                    newline = False
                records.append(f'{head}{seq},"line":{_encode_str(text)}{extra}}}')
                seq += 1
                if complete:
                    self.lines += 1
                self.output_bytes += len(raw) + (1 if newline else 0)
                if self._archive is not None:
                    archived.append(raw + b"\n" if newline else raw)
            self.sequence = seq
            try:
                taken = self._writer.write("\n".join(records))
            except (ObjlogError, OSError, ValueError) as exc:
                # The step keeps running; the failure is counted and reported at the end.
                self.errors += len(records)
                self.last_error = exc
            else:
                if taken:
                    self._ledger.append(self._ledger[-1] + len(records))
                else:  # memory full, no spool: the writer dropped them
                    self.dropped += len(records)
                    self.dropped_writes += 1
            if self._archive is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._archive.write(b"".join(archived))

    def close_archive(self) -> tuple[int, int]:
        """
        Stop archiving and close the archive; later `emit` calls still reach the writer.

        Returns:
            ``(lines, records)`` emitted so far: complete lines, and records
            (pieces of split lines count one each).
        """
        with self._lock:  # a pump may still emit (drain timeout): stop it archiving
            if self._archive is not None:
                self._archive.close()
            self._archive = None
            return self.lines, self.sequence


class _Pump(threading.Thread):
    """Read one pipe of the child, tee it, and feed its lines to the sink."""

    def __init__(
        self,
        fd: int,
        stream: str,
        tee: BinaryIO | None,
        sink: LineSink,
        max_line_bytes: int,
    ) -> None:
        super().__init__(name=f"objlog-run-{stream}", daemon=True)
        self._fd = fd
        self._stream = stream
        self._tee = tee
        self._sink = sink
        self._max = max_line_bytes

    def run(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self._fd, _READ_BYTES)
            except OSError:
                break
            if not chunk:
                break
            if self._tee is not None:
                try:
                    self._tee.write(chunk)
                    self._tee.flush()
                except (OSError, ValueError):
                    self._tee = None  # our own stdout went away (e.g. `| head`): keep logging
            pieces, pending = split_lines(pending, chunk, self._max)
            if pieces:
                self._sink.emit(self._stream, pieces, _rfc3339_now())
        if pending:
            self._sink.emit(self._stream, [(pending, True)], _rfc3339_now(), final=True)
        with contextlib.suppress(OSError):
            os.close(self._fd)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """
    What ``objlog run`` does.

    Args:
        command: The child's argv (at least one element).
        pipelinerun: Run name (a key segment).
        task: Task name (a key segment).
        results: ``(name, path)`` pairs stored with the result writer after
            the child ends (default none).
        archive_log: Also store the whole output as result ``main-log``
            (``artifacts/<pr>/<task>/main-log.tgz``, member ``step-main.log``,
            the KFP-Tekton convention). Default False.
        spool_dir: The writer's spool directory, or None for no spool.
        sync_timeout: Seconds allowed, after the child ended, for storing
            results and syncing the log (default 30.0); what is not stored
            by then stays in the spool for the next run.
        drain_timeout: Seconds to wait for the pipes to close after the
            child ended (a grandchild may hold them open; default 5.0).
        max_line_bytes: Longest record line (default 256 KiB).
        writer_options: Extra keyword arguments for the writer.
        pty: Run the step on a pseudo-terminal (POSIX only; default False):
            its stdout and stderr are one terminal, recorded as ``stdout``
            (see `_start_child`). Without it the step gets
            ``PYTHONUNBUFFERED=1`` unless our environment sets that variable.
        status: Store the step's status object (`objlog._status`; default True).

    Raises:
        ConfigError: An empty command or a value out of range.

    Thread safety: immutable.
    """

    command: Sequence[str]
    pipelinerun: str
    task: str
    results: Sequence[tuple[str, str]] = ()
    archive_log: bool = False
    spool_dir: Path | None = None
    sync_timeout: float = 30.0
    drain_timeout: float = 5.0
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    writer_options: WriterOptions = field(default_factory=lambda: WriterOptions())
    pty: bool = False
    status: bool = True

    def __post_init__(self) -> None:
        if not self.command:
            raise ConfigError("objlog run needs a command after '--'")
        if self.sync_timeout <= 0 or self.drain_timeout < 0:
            raise ConfigError("sync_timeout must be > 0 and drain_timeout >= 0 seconds")
        if self.max_line_bytes < 16:
            raise ConfigError(f"max_line_bytes must be >= 16, got {self.max_line_bytes}")
        if self.pty and os.name != "posix":
            raise ConfigError("--pty needs a POSIX system (pseudo-terminals)")


@dataclass(slots=True, kw_only=True)
class RunReport:
    """
    What happened during ``objlog run``.

    Log lines below are log records: a line split at `max_line_bytes`
    counts once per piece. Every record read is in exactly one of
    `lines_stored`, `lines_spooled` and `lines_lost`.

    Attributes:
        exit_status: The status ``objlog run`` exits with.
        child_status: The child's return code (negative: killed by that signal).
        lines: Complete lines recorded.
        records: Records written (pieces of split lines count one each).
        lines_stored: Records stored in the store by the end.
        lines_spooled: Records only in the spool (`spool_dir`) at the end:
            not stored yet, uploaded by the next writer on that spool.
        lines_lost: Records neither stored nor spooled: refused or dropped
            by the writer (memory full, no spool), or still in memory when
            time ran out (`RunOptions.sync_timeout`).
        spool_dir: The spool directory, or None without a spool.
        exact: False when the writer dropped records of calls that had been
            accepted (``when_full="drop"``, no spool): the split between
            stored and lost is then an estimate; `lines_lost` is not 0.
        results: Result name to stored key.
        failures: One-line descriptions of what could not be stored.
        synced: True when every record was stored (not only spooled) in time.
        objects: Log objects this run's writer stored.
        dropped: Writer calls whose records were dropped (memory full, no spool).
        signals: Signals forwarded to the child.
        output_bytes: Bytes the child printed (both streams, newlines included).
        stored_bytes: Bytes of log objects stored (compressed).
        status: The end status stored (or meant to be) for the task, or None
            before the end or with ``RunOptions.status`` off.
        status_stored: True when that status object was stored.
    """

    exit_status: int = 0
    child_status: int = 0
    lines: int = 0
    records: int = 0
    lines_stored: int = 0
    lines_spooled: int = 0
    lines_lost: int = 0
    spool_dir: Path | None = None
    exact: bool = True
    results: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    synced: bool = False
    objects: int = 0
    dropped: int = 0
    signals: list[int] = field(default_factory=list)
    output_bytes: int = 0
    stored_bytes: int = 0
    status: _status.TaskStatus | None = None
    status_stored: bool = False


#: ``objlog run``'s status when the step succeeded but objlog failed it: a
#: declared result not stored, or log lines lost (the CLI's store-failure code).
EXIT_STORE_FAILED = 1


def _exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def run_step(
    store: ObjectStore,
    options: RunOptions,
    *,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
    say: Callable[[str], None] | None = None,
) -> RunReport:
    """
    Run the child, record its output, store its results, and report.

    Args:
        store: The store the writer and the result writer are built on.
        options: What to run and store.
        stdout: Where the child's stdout is tee'd (default our stdout).
        stderr: Where the child's stderr is tee'd (default our stderr).
        say: Receives objlog's own one-line messages (default: none).

    Returns:
        A `RunReport`; ``exit_status`` is the child's status (128 + N for
        signal N), or `EXIT_STORE_FAILED` (1) when the child succeeded but a
        declared result could not be stored or log lines were lost
        (spooled lines are not lost).

    With `RunOptions.status`, the task's status object is stored once the
    child started (``running``, on a background thread) and again at the
    very end (``succeeded`` when ``exit_status`` is 0, else ``failed``),
    each within `objlog._status.STATUS_TIMEOUT` (5 s); a failure to store
    it goes to `say` and changes nothing else.

    Raises:
        ConfigError: Bad options or names (before the child starts).
        OSError: The command cannot be started (not found, not executable).

    Thread safety: call from the main thread (it installs signal handlers
    for the duration of the run and restores the previous ones).
    """
    report = RunReport()
    status_key = _layout.status_key(store.prefix, options.pipelinerun, options.task)
    writer = ObjectStoreWriter(
        store,
        pipelinerun=options.pipelinerun,
        task=options.task,
        # None means no spool here, whatever OBJLOG_SPOOL_DIR says (see default_spool_dir).
        spool_dir=options.spool_dir if options.spool_dir is not None else False,
        **options.writer_options,
    )
    workdir = tempfile.TemporaryDirectory(prefix="objlog-run-")
    archive_path = Path(workdir.name) / "step-main.log"
    archive = archive_path.open("wb") if options.archive_log else None
    sink = LineSink(writer, archive)
    forwarder = _SignalForwarder(report.signals)
    forwarder.install()
    statuses = _status.StatusWriter(store, status_key, say) if options.status else None
    start = _status.TaskStatus(
        pipelinerun=options.pipelinerun,
        task=options.task,
        status=_status.RUNNING,
        host=socket.gethostname(),
        command=tuple(_status.redact_argv(options.command)),
        objlog_version=_objlog_version(),
    )
    try:
        start = _replace(start, started=_dt.datetime.now(_dt.timezone.utc))
        began = time.monotonic()
        try:
            proc, sources = _start_child(options)
        except BaseException:
            _close_quietly(writer, 5.0)
            raise
        forwarder.attach(proc)
        if statuses is not None:
            statuses.start(start)
        tees = (
            stdout if stdout is not None else sys.stdout.buffer,
            stderr if stderr is not None else sys.stderr.buffer,
        )
        try:
            returncode = _record_output(proc, sources, sink, tees, options, say, writer)
            # Signals stay forwarded (to nobody) until the end: a second SIGTERM must
            # not cut the upload of what the step left behind.
            _finish(writer, sink, archive_path, store, options, report, returncode)
        except BaseException:
            if statuses is not None:  # best effort: not left "running" for good
                statuses.finish(_replace(start, status=_status.FAILED, finished=_now()))
            raise
        report.status = _end_status(start, report, returncode, time.monotonic() - began)
        if statuses is not None:
            report.status_stored = statuses.finish(report.status)
    finally:
        forwarder.restore()
        workdir.cleanup()
    return report


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _replace(base: _status.TaskStatus, /, **changes: Any) -> _status.TaskStatus:
    return dataclasses.replace(base, **changes)


def _objlog_version() -> str:
    from objlog import __version__

    return str(__version__)


def _end_status(
    start: _status.TaskStatus, report: RunReport, returncode: int, duration: float
) -> _status.TaskStatus:
    """The status stored at the end: the outcome ``objlog run`` reports, with its counts."""
    assert start.started is not None
    return _replace(
        start,
        status=_status.SUCCEEDED if report.exit_status == 0 else _status.FAILED,
        # Wall-clock end from the monotonic duration: a clock step cannot make it negative.
        finished=start.started + _dt.timedelta(seconds=duration),
        exit_code=report.exit_status,
        step_exit_code=_exit_status(returncode),
        signal=_status.signal_name(-returncode) if returncode < 0 else None,
        lines_stored=report.lines_stored,
        lines_spooled=report.lines_spooled,
        lines_lost=report.lines_lost,
        output_bytes=report.output_bytes,
        stored_bytes=report.stored_bytes,
        results=tuple(report.results),
    )


#: Seconds between two looks at the child, in which forwarded signals are handled.
_WAIT_SLICE = 0.2


class _SignalForwarder:
    """
    Forward SIGTERM, SIGHUP and SIGINT to the child while ``objlog run`` waits for it.

    Signals that arrive before the child exists are sent once it does. SIGINT
    is not forwarded when our stdin is a terminal (the terminal sent it to the
    child already: it shares our process group).
    """

    def __init__(self, received: list[int]) -> None:
        self._received = received
        self._proc: subprocess.Popen[bytes] | None = None
        self._pending: list[int] = []
        self._skip_sigint = _stdin_is_tty()
        self._previous: dict[int, _Handler] = {}

    def install(self) -> None:
        """Take over the forwarded signals (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is threading.main_thread():
            for signum in _FORWARDED:
                self._previous[signum] = signal.signal(signum, self._forward)

    def restore(self) -> None:
        """Put back the handlers `install` replaced."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def attach(self, proc: subprocess.Popen[bytes]) -> None:
        """Forward to `proc` from now on, starting with the signals that came early."""
        self._proc = proc
        for early in self._pending:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(early)

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        self._received.append(signum)
        if signum == signal.SIGINT and self._skip_sigint:
            return
        if self._proc is None:
            self._pending.append(signum)
            return
        with contextlib.suppress(ProcessLookupError):
            self._proc.send_signal(signum)


#: Runs in the child before the step (Linux): ask the kernel for SIGKILL when
#: our parent dies, then become the step (same pid). argv: parent pid, path, argv...
_PDEATHSIG_SHIM = """\
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(1, 9, 0, 0, 0) != 0:  # PR_SET_PDEATHSIG, SIGKILL
    sys.stderr.write("objlog run: prctl(PR_SET_PDEATHSIG) failed; the step may outlive objlog\\n")
if os.getppid() != int(sys.argv[1]):  # objlog run died before prctl took effect
    os._exit(137)
try:
    os.execv(sys.argv[2], sys.argv[3:])
except OSError as exc:
    sys.stderr.write(f"objlog run: cannot execute {sys.argv[2]}: {exc.strerror}\\n")
    os._exit(126 if exc.errno in (13, 8) else 127)
"""


def _resolve(command: str, env: dict[str, str]) -> str:
    """
    Return the path `command` runs from, as ``execvp`` would find it.

    Raises:
        FileNotFoundError: Not found.
        PermissionError: Found but not executable.
    """
    if os.sep in command:
        if not Path(command).exists():
            raise FileNotFoundError(2, "No such file or directory", command)
        if not os.access(command, os.X_OK) or Path(command).is_dir():
            raise PermissionError(13, "Permission denied", command)
        return command
    found = shutil.which(command, path=env.get("PATH", os.defpath))
    if found is None:
        raise FileNotFoundError(2, "No such file or directory", command)
    return found


def _start_child(options: RunOptions) -> tuple[subprocess.Popen[bytes], list[tuple[int, str]]]:
    """
    Start the command with its stdout and stderr on pipes, in our run and task.

    Returns the child and the descriptors to read, each with its stream name:
    two pipes (``stdout``, ``stderr``), or with `RunOptions.pty` the master
    side of one pseudo-terminal (``pty.openpty``), on which the child's
    stdout and stderr both are, so the step sees a terminal and
    line-buffers as it would on one (C stdio, Python, most tools), and
    progress bars draw as on a terminal. The two streams merge there and are
    recorded as ``stdout``. The child's stdin stays ours (it gets no
    controlling terminal, so no prompt waits on the pty). The terminal keeps
    ``\n`` as is (``ONLCR`` off: no ``\r\n`` in the records) and has our
    terminal's size, else 80x24.

    Without a pty, ``PYTHONUNBUFFERED=1`` is set for the child unless our
    environment has that variable: a Python step then writes each print at
    once instead of in 8 KiB blocks when piped, so lines get their own time.

    The step never outlives ``objlog run``, even killed by SIGKILL: on Linux
    the child asks for ``PR_SET_PDEATHSIG(SIGKILL)`` (prctl(2)) in a small
    Python shim that then ``execv``s the command, keeping its pid. Not
    ``preexec_fn``: it runs Python between fork and exec, unsafe once the
    process has threads (the writer's, or the application's when `run_step`
    is used as a library); the shim runs in a fresh single-threaded
    interpreter instead. ``setpriv --pdeathsig`` would do the same without
    Python, but util-linux is not everywhere. The death signal fires when
    the forking *thread* ends: that is the thread in `run_step`, which
    returns only after the child ended. The shim checks ``getppid()`` after
    prctl for a parent that died before it took effect. A grandchild the
    step starts is not covered (the step's own business, as in a shell).

    Elsewhere (macOS, Windows) there is no such call: SIGTERM, SIGHUP and
    SIGINT are forwarded to the step, but after SIGKILL it keeps running.

    Raises:
        FileNotFoundError: The command is not found.
        PermissionError: It is not executable.
        OSError: It cannot be started.
    """
    env = dict(os.environ)
    # A child that logs through objlog itself lands in the same task (merged by time).
    env["OBJLOG_PIPELINERUN"] = options.pipelinerun
    env["OBJLOG_TASK"] = options.task
    if not options.pty and "PYTHONUNBUFFERED" not in env:
        env["PYTHONUNBUFFERED"] = "1"
    argv = list(options.command)
    if sys.platform.startswith("linux"):
        path = _resolve(argv[0], env)
        # -I -S: no site, no PYTHON* variables, no user paths (the env still reaches the step).
        shim = [sys.executable, "-I", "-S", "-c", _PDEATHSIG_SHIM, str(os.getpid()), path]
        argv = shim + argv
    if options.pty:
        master, slave = _open_pty()
        try:
            proc = subprocess.Popen(argv, stdout=slave, stderr=slave, env=env)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)  # the child holds it now: EIO on the master when it ends
        return proc, [(master, "stdout")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    sources: list[tuple[int, str]] = []
    for pipe, stream in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
        assert pipe is not None
        _grow_pipe(pipe.fileno())
        sources.append((os.dup(pipe.fileno()), stream))
        pipe.close()
    return proc, sources


def _open_pty() -> tuple[int, int]:
    """Open a pseudo-terminal for the step: ``(master, slave)``, ONLCR off, a window size."""
    import pty
    import termios

    master, slave = pty.openpty()
    try:
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.ONLCR  # oflag: "\n" stays "\n" (a terminal would send "\r\n")
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        columns, lines = shutil.get_terminal_size((80, 24))
        with contextlib.suppress(OSError):
            winsize = struct.pack("HHHH", lines, columns, 0, 0)
            fcntl.ioctl(slave, termios.TIOCSWINSZ, winsize)
    except BaseException:
        os.close(master)
        os.close(slave)
        raise
    return master, slave


def _wait_for(proc: subprocess.Popen[bytes], tick: Callable[[], None] | None = None) -> int:
    """
    Wait for the child in short slices, so forwarded signals are handled at once.

    `tick` runs between slices (housekeeping that must not raise).

    A process-directed signal may be delivered to any thread; one taken by a
    pump or an uploader thread does not interrupt the main thread's blocking
    ``waitpid``, and Python runs its handler (which forwards the signal to the
    child) only once the main thread runs bytecode again: with a plain
    ``proc.wait()`` that is never, and the step never sees its SIGTERM.
    """
    while True:
        try:
            return proc.wait(timeout=_WAIT_SLICE)
        except subprocess.TimeoutExpired:
            if tick is not None:
                tick()


def _record_output(
    proc: subprocess.Popen[bytes],
    sources: Sequence[tuple[int, str]],
    sink: LineSink,
    tees: tuple[BinaryIO, BinaryIO],
    options: RunOptions,
    say: Callable[[str], None] | None,
    writer: ObjectStoreWriter | None = None,
) -> int:
    """
    Pump the child's descriptors (`sources`, from `_start_child`) into `sink` until it exits
    and they drain; the pumps close them.

    Meanwhile the sink's ledger is trimmed below what `writer` stored, so a
    long step costs at most 8 bytes per read not yet stored.

    Returns:
        The child's return code (negative: killed by that signal).
    """
    pumps = [
        _Pump(fd, stream, tees[0] if stream == "stdout" else tees[1], sink, options.max_line_bytes)
        for fd, stream in sources
    ]
    for pump in pumps:
        pump.start()
    tick = None if writer is None else lambda: _forget_stored(sink, writer)
    returncode = _wait_for(proc, tick)
    drain_end = time.monotonic() + options.drain_timeout
    for pump in pumps:
        pump.join(max(0.0, drain_end - time.monotonic()))
    if say is not None and any(p.is_alive() for p in pumps):
        say(
            "warning: the child's pipes are still open (a background process?); "
            "output after this point is not recorded"
        )
    return returncode


def _finish(
    writer: ObjectStoreWriter,
    sink: LineSink,
    archive_path: Path,
    store: ObjectStore,
    options: RunOptions,
    report: RunReport,
    returncode: int,
) -> None:
    """Store results and sync the log within `options.sync_timeout`; fill `report`."""
    report.child_status = returncode
    report.exit_status = _exit_status(returncode)
    deadline = time.monotonic() + options.sync_timeout
    report.lines, report.records = sink.close_archive()
    if sink.errors:
        report.failures.append(f"{sink.errors} log records not accepted: {sink.last_error}")
    # Seal the last batch now so it uploads while the results do.
    with contextlib.suppress(ObjlogError):
        writer.flush()
    named = list(options.results)
    if options.archive_log:
        named.append(("main-log", str(archive_path)))
    result_failed = _store_results(store, options, named, deadline, report)
    report.synced = _close_quietly(
        writer,
        max(0.5, deadline - time.monotonic()),
        report.failures,
        spooled=options.spool_dir is not None,
    )
    stats = writer.stats
    report.dropped = stats.dropped_records
    report.objects = stats.objects
    report.stored_bytes = stats.bytes_stored
    report.output_bytes = sink.output_bytes
    _account(sink, stats, report)
    report.spool_dir = options.spool_dir
    if report.dropped:
        report.failures.append(
            f"{report.dropped} write(s) of log records dropped: memory full and no spool"
        )
    if (result_failed or report.lines_lost) and report.exit_status == 0:
        report.exit_status = EXIT_STORE_FAILED


def _account(sink: LineSink, stats: WriterStats, report: RunReport) -> None:
    """
    Split the records read into stored, spooled and lost (after the writer closed).

    The writer counts in its own records (one per `LineSink.emit` call) and
    names the spans of those still spooled or in memory; the sink's ledger
    says how many log records each held. Whatever is in no span was stored.
    """
    spooled = sink.line_count(stats.spooled_spans)
    # Sealed but neither stored nor spooled, or never sealed (close failed early).
    sealed = stats.stored_records + stats.spooled_records + stats.unsaved_records
    unsaved = sink.line_count((*stats.unsaved_spans, (sealed, sink.writes)))
    report.lines_spooled = spooled
    report.lines_stored = max(0, sink.accepted - spooled - unsaved)
    # All records read, including any a pump emitted after `close_archive`.
    report.lines_lost = max(0, sink.sequence - report.lines_stored - report.lines_spooled)
    # Dropped after `write` returned (the inbox, when_full="drop"): records
    # shifted, the spans may be off by what was dropped.
    report.exact = stats.dropped_records == sink.dropped_writes


def _forget_stored(sink: LineSink, writer: ObjectStoreWriter) -> None:
    """Drop the sink's ledger below the writer's oldest record not known stored."""
    stats = writer.stats
    firsts = [first for first, _ in (*stats.spooled_spans, *stats.unsaved_spans)]
    sealed = stats.stored_records + stats.spooled_records + stats.unsaved_records
    sink.forget_before(min([sealed, *firsts]))


def _store_results(
    store: ObjectStore,
    options: RunOptions,
    named: Sequence[tuple[str, str]],
    deadline: float,
    report: RunReport,
) -> bool:
    """
    Store each ``(name, path)`` result before `deadline` (a `time.monotonic` value).

    Returns:
        True when any result could not be stored (the failures are in `report`).
    """
    failed = False
    for name, path in named:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            report.failures.append(f"result {name}: not stored, no time left (--sync-timeout)")
            failed = True
            continue
        if not Path(path).exists():
            report.failures.append(f"result {name}: {path} does not exist")
            failed = True
            continue
        results = ResultWriter(store, retry=RetryPolicy(total_timeout=remaining))
        try:
            ref = results.write(options.pipelinerun, options.task, name, Path(path))
        except (StoreError, OSError, ValueError) as exc:
            report.failures.append(f"result {name}: {exc}")
            failed = True
        else:
            report.results[name] = ref.key
    return failed


def _close_quietly(
    writer: ObjectStoreWriter,
    timeout: float,
    failures: list[str] | None = None,
    *,
    spooled: bool = False,
) -> bool:
    """Close `writer` within `timeout` seconds; True when every record was stored."""
    try:
        writer.close(timeout=timeout)
    except SyncTimeout as exc:
        if failures is not None:
            if spooled and exc.pending_batches == 0:
                rest = "the rest is in the spool; the next run on this spool uploads it"
            else:
                rest = f"{exc.pending_batches} batch(es) neither stored nor spooled are lost"
            failures.append(f"log not fully stored within {timeout:.1f} s; {rest}")
        return False
    except ObjlogError as exc:
        if failures is not None:
            failures.append(f"log not fully stored: {exc}")
        return False
    return True


def _grow_pipe(fd: int) -> None:
    if _SET_PIPE_SIZE is not None:
        with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size: keep the default
            fcntl.fcntl(fd, _SET_PIPE_SIZE, _PIPE_BYTES)


def _stdin_is_tty() -> bool:
    try:
        return os.isatty(0)
    except OSError:
        return False
