"""
The ``objlog`` command line: run a step, list and read its logs, move results.

Subcommands::

    objlog check  [URL]
    objlog run    [--store URL] [--pipelinerun PR] [--task T] [--result NAME=PATH]...
                  [--archive-log] [--spool-dir DIR | --no-spool] -- COMMAND [ARGS...]
    objlog ls     [URL] [PR [TASK]]
    objlog cat    [URL] PR [TASK] [--follow] [-n N] [--since T] [--until T] [--level L]
                  [--grep RE] [--json] [--[no-]timestamps] [--[no-]prefix]
                  [--color auto|always|never] [--raw | --escape] [--max-line-bytes N]
    objlog result ls  [URL] PR TASK [--json]
    objlog result get [URL] PR TASK NAME [-o PATH|-]
    objlog result extract [URL] PR TASK NAME DEST [-v]
    objlog result put [URL] PR TASK NAME PATH
    objlog spool  ls|retry|drop [SPOOL_DIR] [KEY...|--all] [--store URL] [--json]
    objlog completion bash|zsh

The store is ``--store URL``, or the first positional argument when there is
one more than the command's names (``cat URL PR TASK``) or when it contains
``/`` (``s3://bucket/prefix``, ``file:///dir``, ``./dir``: run, task and
result names never contain ``/``), else ``OBJLOG_STORE``, else the embedded
default local store (see `objlog.config`).

Exit status: 0 success; 1 a store failure or nothing found; 2 a usage or
configuration error; ``objlog run`` exits with the child's status (128 + N
when signal N killed it). Expected failures print one line,
``objlog: error: ...``, on stderr: no traceback and never a secret.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as _dt
import json
import os
import re
import shutil
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

from objlog.errors import ConfigError, ObjectNotFoundError, ObjlogError, StoreError
from objlog.typing import ObjectStore

if TYPE_CHECKING:
    from objlog._layout import Layout
    from objlog._run import RunReport, WriterOptions
    from objlog.results import ResultWriter

__all__ = ["main"]

PROG = "objlog"
#: Transfers at least this large get a progress bar when stderr is a terminal.
PROGRESS_MIN_BYTES = 4 * 1024**2
EXIT_STORE = 1
EXIT_USAGE = 2

# Record fields shown by the text renderer in their own place, not as key=value.
_SHOWN = frozenset(
    {
        "timestamp",
        "time",
        "level",
        "levelname",
        "logger",
        "name",
        "message",
        "event",
        "msg",
        "exc_info",
        "exception",
        "stack_info",
        "stack",
    }
)
# Identity fields every handler record carries; noise when reading.
_IDENTITY = frozenset(
    {"process", "process_name", "processName", "thread", "thread_name", "threadName", "taskName"}
)


class _UsageError(Exception):
    """A command line that cannot be acted on (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as ONE ``objlog: error:`` line (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see: {self.prog} --help)\n")


def _say(message: str) -> None:
    """Print one objlog message on stderr, control characters shown (keys may be hostile)."""
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"{PROG}: {escape_controls(message)}\n")
        sys.stderr.flush()


def _describe(exc: BaseException) -> str:
    """Return a one-line, secret-free description of an objlog error."""
    if isinstance(exc, StoreError):
        from objlog.stores.check import describe_failure

        with contextlib.suppress(Exception):
            return " ".join(str(describe_failure(exc)).split())
    return " ".join(str(exc).split()) or type(exc).__name__


# -- store and positional arguments ----------------------------------------------


def _looks_like_url(value: str) -> bool:
    return "/" in value or "\\" in value


def _split_store(
    args: argparse.Namespace, positionals: Sequence[str], max_names: int
) -> tuple[str | None, list[str]]:
    """
    Take the store URL from ``--store`` or the first positional argument.

    The first positional is the URL when there is one more positional than
    the command's names (``cat URL PR TASK``), or when it contains ``/``
    (``ls s3://bucket``): run, task and result names never contain ``/``.
    """
    rest = list(positionals)
    url: str | None = getattr(args, "store", None)
    if rest and (len(rest) > max_names or _looks_like_url(rest[0])):
        if url is not None:
            raise _UsageError(f"two stores given: --store {url!r} and {rest[0]!r}")
        url = rest.pop(0)
    return url, rest


def _open_store(url: str | None) -> ObjectStore:
    from objlog.stores import open_store

    return open_store(url)


def _store_layout(url: str | None) -> Layout:
    """The key layout of the store at `url`: its ``?layout=``, else ``OBJLOG_LAYOUT``, else kfp."""
    from objlog.config import store_layout

    return store_layout(url)


@contextlib.contextmanager
def _opened_store(url: str | None) -> Iterator[ObjectStore]:
    """Open the store for one command and close it afterwards, whatever happened."""
    store = _open_store(url)
    try:
        yield store
    finally:
        with contextlib.suppress(Exception):
            store.close()


# -- check ----------------------------------------------------------------------------


def _cmd_check(args: argparse.Namespace) -> int:
    url, rest = _split_store(args, args.args, 0)
    if rest:
        raise _UsageError(f"check takes at most a store URL, not {rest!r}")
    from objlog.stores.check import check_store

    with _opened_store(url) as store:
        verdict = check_store(store)
    text = " ".join(str(verdict).split()) if verdict is not None else ""
    print(text or f"ok: {store.url} works (put, get, list, delete)")
    return 0


# -- run ----------------------------------------------------------------------------


def _parse_result(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {value!r}")
    return name, path


def _run_command(args: argparse.Namespace) -> list[str]:
    """Return the child's argv, checked to name an executable."""
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise _UsageError("run needs a command: objlog run [OPTIONS] -- COMMAND [ARGS...]")
    if shutil.which(command[0]) is None:
        raise _UsageError(f"command not found or not executable: {command[0]}")
    return command


def _run_names(args: argparse.Namespace) -> tuple[str, str, bool]:
    """
    Return ``(pipelinerun, task, generated)`` from the flags, the environment or defaults.

    Raises:
        ConfigError: A run, task or result name is not a valid key segment.
    """
    from objlog import _layout
    from objlog._run import generate_run_id

    pipelinerun = args.pipelinerun or os.environ.get("OBJLOG_PIPELINERUN") or ""
    task = args.task or os.environ.get("OBJLOG_TASK") or ""
    generated = not pipelinerun
    if generated:
        pipelinerun = generate_run_id()
    task = task or "main"
    _layout.validate_segment(pipelinerun, "pipelinerun")
    _layout.validate_segment(task, "task")
    for name, _ in args.result:
        _layout.validate_segment(name, "result name")
    return pipelinerun, task, generated


def _run_spool(args: argparse.Namespace, store: ObjectStore) -> Path | None:
    """Return the spool directory ``run`` uses, or None for no spool."""
    from objlog._run import default_spool_dir

    if args.no_spool:
        return None
    if args.spool_dir:
        return Path(args.spool_dir)
    if store.url.startswith("file:"):
        return None  # the store is a local directory already: a spool would copy it twice
    return default_spool_dir(store.url)


def _run_summary(report: RunReport, where: str) -> str:
    """
    Return the one-line summary ``run`` prints after the step.

    It says how many log lines were stored (under `where`), spooled (and in
    which directory) and lost; "stored" counts only what the store
    acknowledged, never what is only in the spool.
    """
    total = report.lines_stored + report.lines_spooled + report.lines_lost
    parts = [f"{report.lines_stored} stored in {report.objects} object(s) under {where}"]
    if report.lines_spooled or (report.spool_dir is not None and not report.synced):
        parts.append(
            f"{report.lines_spooled} spooled in {report.spool_dir} "
            "(the next objlog run on this spool uploads them)"
        )
    if report.lines_lost:
        parts.append(f"{report.lines_lost} LOST")
    estimate = "" if report.exact else " (estimated: the writer dropped records)"
    return (
        f"{total} lines: {', '.join(parts)}{estimate} ; "
        f"results: {', '.join(report.results) or 'none'} ; "
        f"exit status {report.exit_status}"
    )


def _run_writer_options(args: argparse.Namespace) -> WriterOptions:
    """
    Return the writer options ``run`` sets: ``--compresslevel`` and ``--max-age``.

    Each is left out unless given, so its ``OBJLOG_*`` variable applies (see
    `objlog._settings`); ``max_age`` then falls back to ``run``'s own default
    (`objlog._run.DEFAULT_RUN_MAX_AGE`), not the writer's 5 s.
    """
    from objlog._run import DEFAULT_RUN_MAX_AGE, WriterOptions
    from objlog._settings import variable

    options = WriterOptions(layout=_store_layout(args.store))
    if args.compresslevel is not None:
        options["compresslevel"] = args.compresslevel
    if args.max_age is not None:
        if not 0 < args.max_age < float("inf"):
            raise _UsageError("--max-age must be > 0 seconds")
        options["max_age"] = args.max_age
    elif not os.environ.get(variable("max_age"), "").strip():
        options["max_age"] = DEFAULT_RUN_MAX_AGE
    return options


def _cmd_run(args: argparse.Namespace) -> int:
    from objlog._run import RunOptions, run_step

    command = _run_command(args)
    pipelinerun, task, generated = _run_names(args)
    with _opened_store(args.store) as store:
        spool = _run_spool(args, store)
        if generated or not args.quiet:
            _say(f"pipelinerun {pipelinerun} task {task} -> {store.url}")
        options = RunOptions(
            command=command,
            pipelinerun=pipelinerun,
            task=task,
            results=tuple(args.result),
            archive_log=args.archive_log,
            spool_dir=spool,
            sync_timeout=args.sync_timeout,
            writer_options=_run_writer_options(args),
            pty=args.pty,
        )
        try:
            report = run_step(store, options, say=_say)
        except FileNotFoundError:
            raise _UsageError(f"command not found: {command[0]}") from None
        except PermissionError:
            raise _UsageError(f"command not executable: {command[0]}") from None
    for failure in report.failures:
        _say(f"error: {failure}")
    if not args.quiet:
        keys = _store_layout(args.store).bind(store.prefix, pipelinerun, task)
        _say(_run_summary(report, keys.describe()))
    return report.exit_status


# -- ls -------------------------------------------------------------------------------


def _rfc3339(when: _dt.datetime | None) -> str | None:
    """RFC 3339 UTC to the second (``2026-11-21T11:40:30Z``), None as None."""
    if when is None:
        return None
    return when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration_text(seconds: float | None) -> str:
    """A short duration: ``0.4s``, ``42s``, ``3m12s``, ``5h07m``, ``2d03h``; ``-`` for None."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{max(seconds, 0.0):.1f}s"
    whole = int(seconds)
    for big, small, unit, sub in ((86400, 3600, "d", "h"), (3600, 60, "h", "m"), (60, 1, "m", "s")):
        if whole >= big:
            return f"{whole // big}{unit}{(whole % big) // small:02d}{sub}"
    return f"{whole}s"


def _elapsed(status: Any, now: _dt.datetime) -> str:
    """The DURATION column: the step's, or for a running one its age so far, marked ``+``."""
    if status.status == "running" and status.started is not None:
        return _duration_text((now - status.started).total_seconds()) + "+"
    return _duration_text(status.duration)


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    """Print rows as left-aligned columns two spaces apart (the last column unpadded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        sys.stdout.write(escape_controls("  ".join([*cells, row[-1]])) + "\n")


def _print_json_lines(items: Sequence[dict[str, Any]]) -> None:
    for item in items:
        sys.stdout.write(_json_line(item).decode("utf-8", errors="backslashreplace"))


def _list_task(
    store: ObjectStore,
    pipelinerun: str,
    task: str,
    *,
    verbose: bool,
    as_json: bool,
    limit: int,
    layout: Layout,
) -> None:
    """Print a task's log, result and status objects: size, time, key."""
    from objlog import _layout, reader

    found = reader.list_task_objects(store, pipelinerun, task, layout=layout)
    objects = [*found.logs, *found.artifacts]
    status_key = _layout.status_key(store.prefix, pipelinerun, task)
    objects += list(store.list_objects(status_key))
    if not objects:
        raise _NotFound(f"no task {task!r} in run {pipelinerun!r} in {store.url}")
    total = sum(o.size for o in objects)
    objects = objects[:limit] if limit else objects
    if as_json:
        _print_json_lines(
            [
                {"key": o.key, "size": o.size, "last_modified": _rfc3339(o.last_modified)}
                for o in objects
            ]
        )
    else:
        width = max(len(str(o.size)) for o in objects)
        for info in objects:
            when = _rfc3339(info.last_modified)
            sys.stdout.write(escape_controls(f"{info.size:>{width}}  {when}  {info.key}") + "\n")
    if verbose:
        _say(f"{len(found.logs)} log objects, {len(found.artifacts)} results, {total} bytes")


def _task_rows(store: ObjectStore, pipelinerun: str, layout: Layout) -> list[tuple[Any, int]]:
    """
    Return ``(status, size in bytes)`` of every task of a run, oldest start first.

    A task without a status object reads as unknown, started at its first batch.
    """
    import dataclasses

    from objlog import reader

    tasks = reader.list_tasks(store, pipelinerun, layout=layout)
    statuses = {s.task: s for s in reader.list_statuses(store, pipelinerun)}
    rows: list[tuple[Any, int]] = []
    for task in tasks:
        status = statuses.get(task)
        if status is None:
            status = dataclasses.replace(
                reader.read_status(store, pipelinerun, task),
                started=reader.first_log_time(store, pipelinerun, task, layout=layout),
            )
        found = reader.list_task_objects(store, pipelinerun, task, layout=layout)
        rows.append((status, sum(o.size for o in (*found.logs, *found.artifacts))))
    far = _dt.datetime.max.replace(tzinfo=_dt.timezone.utc)
    rows.sort(key=lambda row: (row[0].started or far, row[0].task))
    return rows


def _list_tasks(
    store: ObjectStore, pipelinerun: str, *, as_json: bool, limit: int, layout: Layout
) -> None:
    """Print the tasks of a run: status, start, duration, exit code, size."""
    rows = _task_rows(store, pipelinerun, layout)
    if not rows:
        raise _NotFound(f"no run {pipelinerun!r} in {store.url}")
    rows = rows[:limit] if limit else rows
    if as_json:
        _print_json_lines([{**status.as_json(), "size_bytes": size} for status, size in rows])
        return
    now = _dt.datetime.now(_dt.timezone.utc)
    table = [["TASK", "STATUS", "STARTED", "DURATION", "EXIT", "SIZE"]]
    for status, size in rows:
        exit_code = status.exit_code
        if status.signal:
            exit_code = f"{exit_code} ({status.signal})"
        table.append(
            [
                status.task,
                status.status,
                _rfc3339(status.started) or "-",
                _elapsed(status, now),
                "-" if exit_code is None else str(exit_code),
                str(size),
            ]
        )
    _print_table(table)


_RUN_ORDER = ("failed", "running", "unknown", "succeeded")


def _run_rows(store: ObjectStore, layout: Layout) -> list[dict[str, Any]]:
    """
    Return one summary per run, newest start first.

    A run's status is its worst task status among those with a status object
    (failed, then running, then succeeded), ``unknown`` without any; it
    started with its first task (or, without statuses, its first log batch).
    """
    from objlog import reader

    by_run: dict[str, list[Any]] = {}
    for status in reader.list_statuses(store):
        by_run.setdefault(status.pipelinerun, []).append(status)
    rows = []
    for run in reader.list_runs(store, layout=layout):
        statuses = by_run.get(run, [])
        started = min((s.started for s in statuses if s.started), default=None)
        if not statuses:
            started = reader.first_log_time(store, run, layout=layout)
        worst = min((s.status for s in statuses), key=_RUN_ORDER.index, default="unknown")
        ends = [s.finished for s in statuses]
        finished = max(ends) if ends and None not in ends else None
        rows.append(
            {
                "pipelinerun": run,
                "status": worst,
                "started": started,
                "finished": finished,
                "tasks": len(statuses),
            }
        )
    old = _dt.datetime.min.replace(tzinfo=_dt.timezone.utc)
    rows.sort(key=lambda row: (row["started"] or old, row["pipelinerun"]), reverse=True)
    return rows


def _list_runs(store: ObjectStore, *, as_json: bool, limit: int, layout: Layout) -> None:
    """Print the runs, newest first: status, start, duration, name."""
    rows = _run_rows(store, layout)
    rows = rows[:limit] if limit else rows
    if as_json:
        _print_json_lines(
            [
                {**row, "started": _rfc3339(row["started"]), "finished": _rfc3339(row["finished"])}
                for row in rows
            ]
        )
        return
    if not rows:
        return
    table = [["RUN", "STATUS", "STARTED", "TASKS"]]
    for row in rows:
        table.append(
            [row["pipelinerun"], row["status"], _rfc3339(row["started"]) or "-", str(row["tasks"])]
        )
    _print_table(table)


def _cmd_ls(args: argparse.Namespace) -> int:
    url, rest = _split_store(args, args.args, 2)
    if len(rest) > 2:
        raise _UsageError("usage: objlog ls [URL] [PR [TASK]]")
    if args.limit is not None and args.limit < 1:
        raise _UsageError("--limit must be >= 1")
    limit = args.limit or 0
    layout = _store_layout(url)
    with _opened_store(url) as store:
        if not rest:
            _list_runs(store, as_json=args.json, limit=limit, layout=layout)
        elif len(rest) == 1:
            _list_tasks(store, rest[0], as_json=args.json, limit=limit, layout=layout)
        else:
            _list_task(
                store,
                rest[0],
                rest[1],
                verbose=args.verbose,
                as_json=args.json,
                limit=limit,
                layout=layout,
            )
    return 0


class _NotFound(Exception):
    """Nothing matched what the user asked for (exit status 1)."""


# -- cat ------------------------------------------------------------------------------

# Duration units of --since/--until, as systemd.time(7) and kubectl spell them (lower case
# only: "M" is a month to systemd). Longest alternatives first, so "min" is not "m" + "in".
_UNITS = {
    "seconds": 1,
    "second": 1,
    "secs": 1,
    "sec": 1,
    "s": 1,
    "minutes": 60,
    "minute": 60,
    "mins": 60,
    "min": 60,
    "m": 60,
    "hours": 3600,
    "hour": 3600,
    "hrs": 3600,
    "hr": 3600,
    "h": 3600,
    "days": 86400,
    "day": 86400,
    "d": 86400,
    "weeks": 604800,
    "week": 604800,
    "w": 604800,
}
_DURATION_PART = r"(\d+(?:\.\d+)?)\s*(" + "|".join(_UNITS) + r")"
_DURATION = re.compile(rf"\s*(?:{_DURATION_PART}\s*)+")


def _parse_duration(text: str) -> float | None:
    """
    Return a duration such as ``90s``, ``10m``, ``10min``, ``1h30m``, ``2d`` in seconds.

    Parts are a number (decimals allowed) and a unit (s, sec, m, min, h, hr,
    d, day, w, week and their plurals), summed, with optional spaces between
    parts (``1h 30m``), as systemd.time(7) writes them. None when `text` is
    not such a duration.
    """
    if not _DURATION.fullmatch(text):
        return None
    return sum(float(n) * _UNITS[unit] for n, unit in re.findall(_DURATION_PART, text))


def _parse_time(value: str, flag: str, now: _dt.datetime | None = None) -> _dt.datetime:
    """
    Parse a ``--since``/``--until`` value: an RFC 3339 time, or a duration back from `now`.

    Raises:
        _UsageError: Neither a time (``2026-11-30T10:00:00Z``, ``...+01:00``;
            naive is UTC) nor a duration (``10m``, ``1h30m``), or too far back.
    """
    now = now or _dt.datetime.now(_dt.timezone.utc)
    seconds = _parse_duration(value)
    if seconds is not None:
        try:
            return now - _dt.timedelta(seconds=seconds)
        except OverflowError:
            raise _UsageError(f"{flag} {value!r}: too far back") from None
    from objlog.reader import parse_timestamp

    ts = parse_timestamp(value)
    if ts is None:
        raise _UsageError(
            f"{flag} {value!r}: expected an RFC 3339 time like 2026-11-21T11:40:00Z"
            " or a duration back from now like 90s, 10m, 10min, 1h30m, 2d"
        )
    try:
        return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise _UsageError(f"{flag} {value!r}: out of range") from None


def _parse_since(value: str, now: _dt.datetime | None = None) -> _dt.datetime:
    """Parse ``--since``: an RFC 3339 time, or a duration back from now (see `_parse_time`)."""
    return _parse_time(value, "--since", now)


def _parse_level(value: str) -> int:
    from objlog.reader import LEVELS

    if value.isdigit():
        return int(value)
    if value.lower() in LEVELS:
        return LEVELS[value.lower()]
    raise _UsageError(f"--level {value!r}: expected one of debug, info, warning, error, critical")


def _line_bytes(record: dict[str, Any]) -> bytes:
    """Return the exact bytes of an ``objlog run`` record's line, newline included."""
    import base64

    raw_b64 = record.get("raw_b64")
    raw: bytes
    if isinstance(raw_b64, str):
        try:
            raw = base64.b64decode(raw_b64, validate=True)
        except ValueError:
            raw = _encode(str(record.get("line", "")))
    else:
        raw = _encode(str(record.get("line", "")))
    if record.get("partial") is True or record.get("newline") is False:
        return raw
    return raw + b"\n"


def _encode(text: str) -> bytes:
    return text.encode("utf-8", errors="backslashreplace")


# What a terminal may act on instead of showing: C0 controls but tab and
# newline (ESC starts every escape sequence: clear screen, title, OSC 52
# clipboard), DEL, the C1 controls (U+009B is CSI on some terminals) and the
# bidirectional formatting characters that reorder text (CVE-2021-42574).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# The same, less the C0 controls json.dumps already escapes (the C0 set only
# ever appears escaped in its output).
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return "^" + chr(code + 0x40)  # ^[ for ESC, ^M for CR: caret notation, as cat -v and less
    if code == 0x7F:
        return "^?"
    return f"<U+{code:04X}>"  # as less shows a character it will not print


def escape_controls(text: str) -> str:
    """
    Return `text` with every character a terminal would act on shown visibly.

    C0 controls other than tab and newline become caret notation (``^[``
    for ESC, ``^G`` for BEL, ``^M`` for CR) and DEL ``^?``, as ``cat -v``
    and ``less`` show them; C1 controls (U+0080-U+009F) and the bidirectional
    formatting characters (U+061C, U+200E, U+200F, U+202A-U+202E,
    U+2066-U+2069) become ``<U+XXXX>``, as ``less`` shows them. So a stored
    record cannot clear the screen, set the title, write the clipboard
    (OSC 52) or reorder what is shown. Any other text is returned unchanged.

    Args:
        text: The text to show.

    Returns:
        The text, with no C0 control but tab and newline, no DEL, C1 or
        bidirectional formatting character.

    Thread safety: pure function.
    """
    return _UNSAFE.sub(_shown, text)


def _json_line(record: dict[str, Any]) -> bytes:
    """Return `record` as one JSON line whose text holds no control or bidi character raw."""
    text = json.dumps(record, ensure_ascii=False)  # escapes C0 controls itself (\u001b)
    # Inside JSON output these occur only within strings, where \uXXXX means the same.
    text = _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return _encode(text) + b"\n"


def _value_text(value: object) -> str:
    if isinstance(value, str):
        return value if value and " " not in value and "=" not in value else json.dumps(value)
    return json.dumps(value, ensure_ascii=False, default=repr)


def render_record(record: dict[str, Any], *, timestamps: bool = True) -> str:
    """
    Render one record as readable text, without a trailing newline.

    ``objlog run`` records (``stream`` + ``line``) render as the line itself;
    other records as ``TIMESTAMP LEVEL logger: message key=value ...``,
    followed by any exception text on the next lines.

    Args:
        record: A decoded record.
        timestamps: Start other records with their ``timestamp`` (default
            True; ``cat --no-timestamps`` leaves it out).

    Returns:
        The text.

    Thread safety: pure function.
    """
    if "stream" in record and "line" in record:
        return str(record["line"])
    head: list[str] = []
    ts = record.get("timestamp", record.get("time"))
    if ts is not None and timestamps:
        head.append(str(ts))
    level = record.get("level", record.get("levelname"))
    if level is not None:
        head.append(f"{str(level).upper():<8}")
    logger = record.get("logger", record.get("name"))
    message = record.get("message", record.get("event", record.get("msg", "")))
    text = f"{logger}: {message}" if logger else str(message)
    head.append(text)
    extras = [
        f"{k}={_value_text(v)}" for k, v in record.items() if k not in _SHOWN and k not in _IDENTITY
    ]
    line = " ".join([*head, *extras])
    for field in ("exc_info", "exception", "stack_info", "stack"):
        value = record.get(field)
        if isinstance(value, str) and value:
            line += "\n" + value.rstrip("\n")
    return line


_ERASE_LINE = re.compile(rb"^\x1b\[[012]?K")


def last_state(data: bytes) -> bytes:
    """
    Return a line of progress updates (``\\r``) as a terminal left it: its last state.

    A program that redraws a line (tqdm, pip, curl) writes ``\\r`` then the
    new state; a terminal shows what came after the last ``\\r``. So this
    returns the last part between carriage returns that is not blank, less an
    erase-line sequence (``ESC [ K``) that opens it, and keeps the trailing
    newline. A line ending in ``\\r\\n`` (CRLF) loses its ``\\r``. A line
    without ``\\r`` comes back unchanged.

    Args:
        data: One line's bytes, with or without its ``\\n``.

    Returns:
        The bytes shown, ``\\n`` kept when `data` had it.

    Thread safety: pure function.
    """
    body, newline = (data[:-1], b"\n") if data.endswith(b"\n") else (data, b"")
    if b"\r" not in body:
        return data
    parts = [_ERASE_LINE.sub(b"", part) for part in body.split(b"\r")]
    shown = next((part for part in reversed(parts) if part.strip()), b"")
    return shown + newline


# SGR colours (ECMA-48): by level, and for task prefixes (none of red/yellow, kept for levels).
_RESET = b"\x1b[0m"
_TASK_COLOURS = (b"\x1b[36m", b"\x1b[32m", b"\x1b[35m", b"\x1b[34m", b"\x1b[96m", b"\x1b[92m")


def _level_colour(level: int | None) -> bytes:
    if level is None or 20 <= level < 30:
        return b""
    if level >= 50:
        return b"\x1b[1;31m"  # critical: bold red
    if level >= 40:
        return b"\x1b[31m"  # error: red
    if level >= 30:
        return b"\x1b[33m"  # warning: yellow
    return b"\x1b[2m"  # debug, trace: dim


@dataclass(frozen=True, slots=True, kw_only=True)
class _CatView:
    """How ``cat`` shows records (from its flags and whether stdout is a terminal)."""

    as_json: bool = False
    timestamps: bool | None = None  # None: run lines without, other records with
    escape: bool = False  # show control characters; also shows a \r line's last state
    prefix: bool = False
    colour: bool = False
    flush_each: bool = False


class _CatSink:
    """Writes records to `out` as `view` says; keeps which task's line is left open."""

    def __init__(self, out: BinaryIO, view: _CatView) -> None:
        self.out = out
        self.view = view
        self.count = 0
        self._open: str | None = None  # task whose last line had no newline yet
        self._task_colours: dict[str, bytes] = {}

    def write(self, task: str, record: dict[str, Any]) -> None:
        view = self.view
        if view.as_json:
            if view.prefix:
                record = {**record, "objlog_task": task}
            data = _json_line(record)
        else:
            data = self._text(record)
            if view.prefix or view.colour:
                data = self._decorate(task, record, data)
        self.out.write(data)
        if view.flush_each:
            self.out.flush()
        self.count += 1

    def _text(self, record: dict[str, Any]) -> bytes:
        view = self.view
        if "stream" in record and "line" in record:
            data = _line_bytes(record)
            if view.escape:
                data = last_state(data)
            if view.timestamps:
                data = _encode(f"{record.get('timestamp', '')} ") + data
        else:
            data = _encode(render_record(record, timestamps=view.timestamps is not False)) + b"\n"
        if view.escape:
            # Bytes that are not UTF-8 come out as \xNN text, never raw.
            data = _encode(escape_controls(data.decode("utf-8", errors="backslashreplace")))
        return data

    def _decorate(self, task: str, record: dict[str, Any], data: bytes) -> bytes:
        """Prefix each line with ``[task] `` and colour it by level, as the view says."""
        colour = b""
        if self.view.colour:
            from objlog.reader import record_level

            colour = _level_colour(record_level(record))
        label = b""
        if self.view.prefix:
            label = _encode(f"[{escape_controls(task)}]")
            if self.view.colour:
                tint = self._task_colours.setdefault(
                    task, _TASK_COLOURS[len(self._task_colours) % len(_TASK_COLOURS)]
                )
                label = tint + label + _RESET
            label += b" "
        first = label
        if self._open == task:
            first = b""  # the rest of this task's open line
        elif self._open is not None and self.view.prefix:
            first = b"\n" + label  # another task's line was left open: end it, never mix the two
        if not colour and data.count(b"\n") == 1 and data.endswith(b"\n"):
            self._open = None
            return first + data  # the common case: one line, no colour
        parts = data.split(b"\n")
        if not parts[-1]:
            parts.pop()  # after the last newline
        shown = [
            (first if n == 0 else label) + (colour + part + _RESET if colour and part else part)
            for n, part in enumerate(parts)
        ]
        self._open = task if data and not data.endswith(b"\n") else None
        return b"\n".join(shown) + (b"\n" if data.endswith(b"\n") else b"")


class _CatTail:
    """
    Hold back all but the last `n` records until `release` (``tail -n N``), then pass through.

    Memory: `n` records (a `collections.deque`). With `n` None every record passes at once.
    """

    def __init__(self, sink: _CatSink, n: int | None) -> None:
        self.sink = sink
        self._queue: collections.deque[tuple[str, dict[str, Any]]] | None = (
            None if n is None else collections.deque(maxlen=n)
        )

    def add(self, task: str, record: dict[str, Any]) -> None:
        if self._queue is None:
            self.sink.write(task, record)
        elif self._queue.maxlen:
            self._queue.append((task, record))

    def release(self) -> None:
        """Write the records held back; every later one passes at once. Idempotent."""
        queue, self._queue = self._queue, None
        for task, record in queue or ():
            self.sink.write(task, record)


def _cat_output(
    records: Iterable[tuple[str, dict[str, Any]]],
    tail: _CatTail,
    *,
    level: int | None,
    grep: re.Pattern[str] | None,
) -> int:
    """Pass the ``(task, record)`` pairs `level` and `grep` select to `tail`; return how many."""
    from objlog.reader import record_level

    count = 0
    for task, record in records:
        if level is not None:
            found = record_level(record)
            if found is None or found < level:
                continue
        if grep is not None and not grep.search(render_record(record)):
            continue
        tail.add(task, record)
        count += 1
    tail.release()
    return count


def _cat_filters(
    args: argparse.Namespace,
) -> tuple[_dt.datetime | None, int | None, re.Pattern[str] | None]:
    """Return ``(since, level, grep)`` from ``cat``'s flags, each None when not given."""
    since = _parse_since(args.since) if args.since else None
    level = _parse_level(args.level) if args.level else None
    try:
        grep = re.compile(args.grep) if args.grep else None
    except re.error as exc:
        raise _UsageError(f"--grep {args.grep!r}: {exc}") from None
    if args.poll_interval <= 0:
        raise _UsageError("--poll-interval must be > 0 seconds")
    return since, level, grep


def _cat_until(args: argparse.Namespace, since: _dt.datetime | None) -> _dt.datetime | None:
    """Return ``--until`` (None when not given), checked against ``--since`` and ``--follow``."""
    if not args.until:
        return None
    if args.follow:
        raise _UsageError("--until cannot be combined with --follow (followed logs have no end)")
    until = _parse_time(args.until, "--until")
    if since is not None and since > until:
        raise _UsageError(f"--since {args.since!r} is after --until {args.until!r}")
    return until


def _cat_view(args: argparse.Namespace, out: BinaryIO, *, whole_run: bool) -> _CatView:
    """Return how to show records: escaping and colour on a terminal, prefix for a whole run."""
    tty = out.isatty()
    if args.color == "auto":
        # https://no-color.org: a NO_COLOR that is set and not empty turns colour off.
        colour = tty and not os.environ.get("NO_COLOR")
    else:
        colour = args.color == "always"
    return _CatView(
        as_json=args.json,
        timestamps=args.timestamps,
        # As journalctl: a terminal is shown control characters, a pipe gets the bytes.
        escape=args.escape if args.escape is not None else tty,
        prefix=args.prefix if args.prefix is not None else whole_run,
        colour=colour and not args.json,
        flush_each=args.follow,
    )


def _cmd_cat(args: argparse.Namespace) -> int:
    from objlog import reader

    url, rest = _split_store(args, args.args, 2)
    if len(rest) not in (1, 2):
        raise _UsageError("usage: objlog cat [URL] PR [TASK] [--follow] [--since T] ...")
    pipelinerun, task = rest[0], (rest[1] if len(rest) == 2 else None)
    since, level, grep = _cat_filters(args)
    until = _cat_until(args, since)
    if args.max_line_bytes < 1:
        raise _UsageError("--max-line-bytes must be >= 1")
    bad: list[str] = []

    def _on_bad(key: str, exc: Exception) -> None:
        bad.append(key)
        _say(f"warning: skipped {key}: {_describe(exc)}")

    stop = threading.Event()
    layout = _store_layout(url)
    with _opened_store(url) as store:
        out = sys.stdout.buffer
        tail = _CatTail(_CatSink(out, _cat_view(args, out, whole_run=task is None)), args.tail)
        records: Iterator[tuple[str, dict[str, Any]]]
        if task is None or not args.follow:
            records = reader.read_run_records(
                store,
                pipelinerun,
                None if task is None else [task],
                since=since,
                until=until,
                follow=args.follow,
                poll_interval=args.poll_interval,
                stop=stop,
                on_bad_object=_on_bad,
                max_line_bytes=args.max_line_bytes,
                on_caught_up=tail.release,
                # -f of a whole run ends once every task's objlog run stored its end status.
                finished=lambda: reader.is_finished(store, pipelinerun, layout=layout),
                layout=layout,
            )
        else:
            records = _with_task(
                task,
                reader.read_records(
                    store,
                    pipelinerun,
                    task,
                    since=since,
                    follow=args.follow,
                    poll_interval=args.poll_interval,
                    stop=stop,
                    on_bad_object=_on_bad,
                    max_line_bytes=args.max_line_bytes,
                    on_caught_up=tail.release,
                    # -f ends by itself, after one more poll, once objlog run stored the end status.
                    until=lambda: reader.is_finished(store, pipelinerun, task),
                    layout=layout,
                ),
            )
        try:
            _cat_output(records, tail, level=level, grep=grep)
            out.flush()
        except ObjectNotFoundError as exc:
            if exc.reason == "NoSuchRun":
                if _has_status(store, pipelinerun, task):
                    return 0  # a step that printed nothing: no lines, not an error
                what = f"run {pipelinerun!r}" + (f" task {task!r}" if task else "")
                raise _NotFound(f"no logs for {what} in {store.url}") from None
            raise
        finally:
            stop.set()
    return 1 if bad else 0


def _has_status(store: ObjectStore, pipelinerun: str, task: str | None) -> bool:
    """Whether objlog run stored a status for the task (or any task of the run)."""
    from objlog import reader

    try:
        statuses = reader.list_statuses(store, pipelinerun)
    except ObjlogError:
        return False
    return any(task is None or s.task == task for s in statuses)


def _with_task(
    task: str, records: Iterator[dict[str, Any]]
) -> Iterator[tuple[str, dict[str, Any]]]:
    for record in records:
        yield task, record


# -- result -----------------------------------------------------------------------------


def _progress(total: int, description: str) -> Any:
    """
    Return a tqdm bar for a transfer of `total` bytes, or None when it should be silent.

    Silent too without tqdm (the ``progress`` extra): a bar is a nicety, not a door.
    """
    if total < PROGRESS_MIN_BYTES or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None

    try:
        columns, lines = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError):
        columns, lines = 0, 0
    return tqdm(
        total=total,
        # A terminal reporting a 0x0 size (a bare pty) would otherwise hide the bar.
        ncols=columns or 80,
        nrows=lines or 24,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=description,
        file=sys.stderr,
        leave=False,
    )


def _copy(source: BinaryIO, target: BinaryIO) -> int:
    copied = 0
    while chunk := source.read(1024 * 1024):
        target.write(chunk)
        copied += len(chunk)
    return copied


def _tree_bytes(path: Path) -> int:
    """Bytes of the regular files at or below `path` (for a progress bar's total)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).lstat().st_size
    return total


def _save(payload: BinaryIO, output: str, name: str) -> tuple[int, Path]:
    """
    Copy `payload` to the file `output` (or `output`/`name` for a directory), atomically.

    Returns:
        ``(bytes copied, the file written)``.
    """
    target = Path(output)
    if target.is_dir():
        target = target / name
    tmp = target.with_name(f".{target.name}.objlog-tmp")
    try:
        with tmp.open("wb") as out:
            copied = _copy(payload, out)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return copied, target


@contextlib.contextmanager
def _one_file(
    results: ResultWriter, pipelinerun: str, task: str, name: str, bar: Any
) -> Iterator[BinaryIO]:
    """
    Open a result's payload for ``result get``; a directory result is a usage error.

    A result whose first member is a directory or link has no single payload
    to print: the error says so and gives the ``result extract`` command.
    """
    from objlog.errors import PermanentStoreError

    try:
        payload = results.open(
            pipelinerun, task, name, progress=bar.update if bar is not None else None
        )
    except PermanentStoreError as exc:
        if exc.reason != "ResultNotAFile":
            raise
        raise _UsageError(
            f"result {name!r} of run {pipelinerun!r} task {task!r} is a directory, "
            f"not one file: extract it with objlog result extract {pipelinerun} {task} "
            f"{name} DEST"
        ) from None
    with payload:
        yield payload


def _cmd_result_get(args: argparse.Namespace) -> int:
    from objlog.results import ResultWriter

    url, rest = _split_store(args, args.args, 3)
    if len(rest) != 3:
        raise _UsageError("usage: objlog result get [URL] PR TASK NAME [-o PATH|-]")
    pipelinerun, task, name = rest
    with _opened_store(url) as store:
        results = ResultWriter(store)
        key = results.key(pipelinerun, task, name)
        try:
            size = store.head_object(key).size
        except ObjectNotFoundError:
            raise _NotFound(
                f"no result {name!r} for run {pipelinerun!r} task {task!r} in {store.url}"
            ) from None
        # The bar counts stored (compressed) bytes downloaded: bytes and rate of the transfer.
        bar = _progress(size, f"get {name}")
        target: Path | None = None
        try:
            with _one_file(results, pipelinerun, task, name, bar) as payload:
                if args.output in (None, "-"):
                    copied = _copy(payload, sys.stdout.buffer)
                    sys.stdout.buffer.flush()
                else:
                    copied, target = _save(payload, args.output, name)
        finally:
            if bar is not None:
                bar.close()
        if target is not None and args.verbose:
            _say(f"{copied} bytes -> {target}")
    return 0


def _cmd_result_put(args: argparse.Namespace) -> int:
    from objlog.results import ResultWriter

    url, rest = _split_store(args, args.args, 4)
    if len(rest) != 4:
        raise _UsageError("usage: objlog result put [URL] PR TASK NAME PATH")
    pipelinerun, task, name, path = rest
    source = Path(path)
    if not source.exists():
        raise _UsageError(f"{path}: no such file or directory")
    with _opened_store(url) as store:
        # The bar counts payload bytes read (the archive is compressed as it is read).
        bar = _progress(_tree_bytes(source), f"put {name}")
        try:
            ref = ResultWriter(store).write(
                pipelinerun, task, name, source, progress=bar.update if bar is not None else None
            )
        finally:
            if bar is not None:
                bar.close()
    location = f"s3://{ref.bucket}/{ref.key}" if ref.bucket else ref.key
    print(f"{location} {ref.size} bytes sha256={ref.sha256}")
    return 0


def _cmd_result_ls(args: argparse.Namespace) -> int:
    from objlog.results import ResultWriter

    url, rest = _split_store(args, args.args, 2)
    if len(rest) != 2:
        raise _UsageError("usage: objlog result ls [URL] PR TASK [--json]")
    pipelinerun, task = rest
    with _opened_store(url) as store:
        found = ResultWriter(store).list_results(pipelinerun, task)
    if not found:
        raise _NotFound(f"no results for run {pipelinerun!r} task {task!r} in {store.url}")
    width = max(len(str(info.size)) for info in found.values())
    for name, info in found.items():
        if args.json:
            line = json.dumps(
                {
                    "name": name,
                    "key": info.key,
                    "size_bytes": info.size,
                    "last_modified": _rfc3339(info.last_modified),
                },
                ensure_ascii=False,
            )
        else:
            line = f"{info.size:>{width}}  {_rfc3339(info.last_modified)}  {name}"
        sys.stdout.write(line + "\n")
    return 0


def _cmd_result_extract(args: argparse.Namespace) -> int:
    from objlog.results import ResultWriter

    url, rest = _split_store(args, args.args, 4)
    if len(rest) != 4:
        raise _UsageError("usage: objlog result extract [URL] PR TASK NAME DEST")
    pipelinerun, task, name, dest = rest
    if Path(dest).exists() and not Path(dest).is_dir():
        raise _UsageError(f"{dest}: exists and is not a directory")
    with _opened_store(url) as store:
        results = ResultWriter(store)
        try:
            size = store.head_object(results.key(pipelinerun, task, name)).size
            bar = _progress(size, f"extract {name}")
            try:
                created = results.extract(
                    pipelinerun,
                    task,
                    name,
                    dest,
                    progress=bar.update if bar is not None else None,
                )
            finally:
                if bar is not None:
                    bar.close()
        except ObjectNotFoundError:
            raise _NotFound(
                f"no result {name!r} for run {pipelinerun!r} task {task!r} in {store.url}"
            ) from None
        except OSError as exc:
            _say(f"error: extracting result {name!r} into {dest}: {exc.strerror or exc}")
            return EXIT_STORE
    if args.verbose:
        for path in created:
            sys.stdout.write(f"{path}\n")
    return 0


# -- spool ----------------------------------------------------------------------------------


def _spool_targets(args: argparse.Namespace) -> tuple[list[Path], list[str]]:
    """
    The spools and the remaining operands of a ``spool`` action.

    The spool is ``--spool-dir DIR``, else a first operand naming an existing
    directory (keys never do: they name objects), else the spool of
    ``--store URL``, else ``$OBJLOG_SPOOL_DIR`` (see `objlog._spoolctl`).
    """
    from objlog import _spoolctl
    from objlog.config import StoreConfig

    rest = list(args.args)
    spool_dir: str | None = args.spool_dir
    if spool_dir is None and rest and Path(rest[0]).is_dir():
        spool_dir = rest.pop(0)
    url = StoreConfig.resolve(args.store).url if args.store and not spool_dir else None
    return _spoolctl.resolve_spools(spool_dir, url), rest


def _age_text(seconds: float) -> str:
    """A short age: ``42s``, ``17m``, ``5h``, ``3d``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _cmd_spool_ls(args: argparse.Namespace) -> int:
    from objlog import _spoolctl

    spools, rest = _spool_targets(args)
    if rest:
        raise _UsageError(f"spool ls takes at most a spool directory, not {rest!r}")
    batches = [b for spool in spools for b in _spoolctl.list_batches(spool)]
    for b in batches:
        if args.json:
            print(json.dumps(b.as_json(), ensure_ascii=False))
        else:
            print(
                f"{b.state:8} {b.key or b.path.name}  {b.size_bytes} B  {b.records} records"
                f"  {_age_text(b.age)}" + (f"  {b.reason}" if b.reason else "")
            )
    if args.verbose or not batches:
        dead = sum(1 for b in batches if b.state == _spoolctl.DEAD)
        where = ", ".join(str(s) for s in spools) or "(no spool)"
        _say(f"{len(batches) - dead} pending, {dead} dead-lettered batch(es) in {where}")
    return 0


def _cmd_spool_retry(args: argparse.Namespace) -> int:
    from objlog import _spoolctl

    spools, keys = _spool_targets(args)
    chosen = _spoolctl.select_dead(spools, keys, all_=args.all)
    if not args.store:
        for directory in _spoolctl.retry(chosen):
            _say(f"re-queued in {directory}: the next writer on this spool uploads it")
        _say(f"{len(chosen)} batch(es) re-queued")
        return 0
    with _opened_store(args.store) as store:
        failed = _spoolctl.upload_all(store, chosen)
    for batch, exc in failed:
        _say(f"error: {batch.key}: {_describe(exc)} (still dead-lettered)")
    _say(f"{len(chosen) - len(failed)} batch(es) stored, {len(failed)} failed")
    return EXIT_STORE if failed else 0


def _cmd_spool_drop(args: argparse.Namespace) -> int:
    from objlog import _spoolctl

    spools, keys = _spool_targets(args)
    dropped = _spoolctl.drop(_spoolctl.select_dead(spools, keys, all_=args.all))
    _say(f"{dropped} dead-lettered batch(es) deleted")
    return 0


def _add_spool(sub: argparse._SubParsersAction[_Parser]) -> None:
    """Add ``objlog spool ls|retry|drop [SPOOL_DIR] ...``."""
    p = sub.add_parser("spool", help="list, re-queue or delete spooled and dead-lettered batches")
    ssub = p.add_subparsers(dest="spool_command", metavar="ACTION", required=True)
    actions = (
        ("ls", _cmd_spool_ls, "list pending and dead-lettered batches", ""),
        (
            "retry",
            _cmd_spool_retry,
            "re-queue dead-lettered batches for the next writer (with --store URL: upload now)",
            " KEY...|--all",
        ),
        ("drop", _cmd_spool_drop, "delete dead-lettered batches", " KEY...|--all"),
    )
    for name, run, summary, operands in actions:
        a = _add_command(ssub, name, run, summary, f"objlog spool {name} [SPOOL_DIR]{operands}")
        for action in a._actions:
            if action.dest == "store":
                action.help = "the spool the writers of this store use" + (
                    "; and upload the batches to it now" if name == "retry" else ""
                )
        a.add_argument(
            "--spool-dir",
            metavar="DIR",
            help="the spool (default: a first operand naming a directory, else the spool of"
            " --store URL, else every store's spool under $OBJLOG_SPOOL_DIR)",
        )
        if name == "ls":
            a.add_argument("--json", action="store_true", help="one JSON object per batch")
            a.add_argument("-v", "--verbose", action="store_true", help="print totals on stderr")
            continue
        a.add_argument("--all", action="store_true", help="every dead-lettered batch")


# -- completion -------------------------------------------------------------------------

#: The shells ``objlog completion`` writes a script for (what shtab generates).
COMPLETION_SHELLS = ("bash", "zsh")
# What the shell offers for an option's value, by metavar: shtab's FILE and
# DIRECTORY (written out here so the parser is built without importing shtab).
_COMPLETE_BY_METAVAR = {
    "PATH": {"bash": "_shtab_compgen_files", "zsh": "_files", "tcsh": "f"},
    "DIR": {"bash": "_shtab_compgen_dirs", "zsh": "_files -/", "tcsh": "d"},
}


def _mark_paths(parser: argparse.ArgumentParser) -> None:
    """Tell shtab which options of `parser` and its subcommands name files or directories."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _mark_paths(sub)
        elif isinstance(action.metavar, str) and action.metavar in _COMPLETE_BY_METAVAR:
            action.complete = _COMPLETE_BY_METAVAR[action.metavar]  # type: ignore[attr-defined]


def completion_script(shell: str) -> str:
    """
    Return the completion script of the ``objlog`` command for `shell`.

    The script is generated from `build_parser` by shtab, so every command
    and option is completed as the parser defines it, and options whose
    metavar is ``PATH`` or ``DIR`` complete file or directory names.

    Args:
        shell: One of `COMPLETION_SHELLS` (``bash``, ``zsh``).

    Returns:
        The script's text.

    Raises:
        MissingBackendError: shtab (the ``completion`` extra) is not installed.
        ConfigError: `shell` is not one of `COMPLETION_SHELLS`.

    Thread safety: builds its own parser; call from any thread.
    """
    if shell not in COMPLETION_SHELLS:
        raise ConfigError(f"no completion for shell {shell!r}: expected one of bash, zsh")
    try:
        import shtab
    except ImportError as exc:
        from objlog._package import install_hint
        from objlog.errors import MissingBackendError

        raise MissingBackendError(
            f"shell completion needs shtab: {install_hint('completion')}"
        ) from exc
    parser = build_parser()
    _mark_paths(parser)
    return str(shtab.complete(parser, shell=shell))


def _cmd_completion(args: argparse.Namespace) -> int:
    sys.stdout.write(completion_script(args.shell))
    sys.stdout.flush()
    return 0


def _add_completion(sub: argparse._SubParsersAction[_Parser]) -> None:
    """Add ``objlog completion bash|zsh``."""
    p = sub.add_parser(
        "completion",
        help="print a bash or zsh completion script (needs the completion extra: shtab)",
        usage="objlog completion {bash,zsh}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.epilog = (
        "install, then start a new shell:\n"
        "  bash: objlog completion bash > ~/.local/share/bash-completion/completions/objlog\n"
        '  zsh:  objlog completion zsh > "${fpath[1]}/_objlog"   (any directory on $fpath)'
    )
    p.add_argument("shell", choices=COMPLETION_SHELLS, help="the shell to complete for")
    p.set_defaults(func=_cmd_completion)


# -- parser --------------------------------------------------------------------------------


def _add_command(
    sub: argparse._SubParsersAction[_Parser],
    name: str,
    run: Callable[[argparse.Namespace], int],
    summary: str,
    usage: str | None = None,
    *,
    operands: bool = True,
) -> _Parser:
    """
    Add the subcommand `name`, run by `run`, with the ``--store`` option.

    With `operands`, its positional arguments (a first one holding "/" is the
    store URL) are collected in ``args.args``; ``run`` takes a command instead.
    """
    p = sub.add_parser(name, help=summary, usage=usage)
    p.add_argument(
        "--store",
        metavar="URL",
        help="store URL: s3://BUCKET[/PREFIX], file:///DIR or a path "
        "(default: $OBJLOG_STORE, else the embedded local store)",
    )
    if operands:
        p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    p.set_defaults(func=run)
    return p


def _add_check(sub: argparse._SubParsersAction[_Parser]) -> None:
    """Add ``objlog check [URL]``."""
    _add_command(sub, "check", _cmd_check, "prove a store works: put, get, list, delete a probe")


def _add_run(sub: argparse._SubParsersAction[_Parser]) -> None:
    """Add ``objlog run [OPTIONS] -- COMMAND [ARGS...]``."""
    from objlog._run import DEFAULT_RUN_MAX_AGE
    from objlog._settings import DEFAULT_COMPRESSLEVEL

    p = _add_command(
        sub,
        "run",
        _cmd_run,
        "run a command, streaming its output to the store",
        "objlog run [OPTIONS] -- COMMAND [ARGS...]",
        operands=False,
    )
    p.epilog = (
        "After the step, a summary line on stderr says how many log lines were stored, "
        "spooled (and in which directory: the next run on it uploads them) and lost. "
        "Exit status: the step's (128+N when signal N killed it); if the step succeeded, "
        "1 when a result was not stored or log lines were lost (spooled lines are not lost); "
        "2 for a usage error. The step never outlives objlog run on Linux "
        "(PR_SET_PDEATHSIG), even when objlog run is killed by SIGKILL. "
        "The task's status (running, then succeeded or failed with exit code, times and "
        "counts) is stored at status/PR/TASK/status.json; objlog ls PR shows it."
    )
    p.add_argument(
        "--pipelinerun",
        metavar="PR",
        help="run name (default $OBJLOG_PIPELINERUN, else a generated run-YYYYmmdd-HHMMSS-xxxxxx)",
    )
    p.add_argument("--task", metavar="T", help="task name (default $OBJLOG_TASK, else 'main')")
    p.add_argument(
        "--result",
        metavar="NAME=PATH",
        action="append",
        default=[],
        type=_parse_result,
        help="store PATH as result NAME after the command ends",
    )
    p.add_argument(
        "--archive-log",
        action="store_true",
        help="also store the whole output as artifacts/PR/TASK/main-log.tgz (member step-main.log)",
    )
    spool = p.add_mutually_exclusive_group()
    spool.add_argument(
        "--spool-dir",
        metavar="DIR",
        help="spool directory (default $OBJLOG_SPOOL_DIR, else under objlog's data home)",
    )
    spool.add_argument("--no-spool", action="store_true", help="keep unsent batches in memory only")
    p.add_argument(
        "--sync-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="time to store results and logs after the command ends (default 30)",
    )
    p.add_argument(
        "--compresslevel",
        type=int,
        default=None,
        choices=range(10),
        metavar="0-9",
        help="gzip level of log batches (default $OBJLOG_COMPRESSLEVEL, else "
        f"{DEFAULT_COMPRESSLEVEL}: level 1 measured 2.6x faster than level 6 "
        "for 18%% more bytes on JSON log lines; the step's own work needs the CPU more)",
    )
    p.add_argument(
        "--max-age",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seal a log batch when its first line is this old (default $OBJLOG_MAX_AGE, else "
        f"{DEFAULT_RUN_MAX_AGE:g}: cat -f shows a line within about {DEFAULT_RUN_MAX_AGE + 1:g} s; "
        f"a quiet step costs at most {3600 / DEFAULT_RUN_MAX_AGE:,.0f} objects an hour)",
    )
    p.add_argument(
        "--pty",
        action="store_true",
        help="run the step on a pseudo-terminal: programs that buffer when piped print "
        "line by line and progress bars draw as on a terminal; stdout and stderr merge "
        "(recorded as stdout). Without it the step gets PYTHONUNBUFFERED=1 unless set",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line on stderr")
    p.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def _add_ls(sub: argparse._SubParsersAction[_Parser]) -> None:
    """Add ``objlog ls [URL] [PR [TASK]] [--limit N] [--json]``."""
    p = _add_command(
        sub,
        "ls",
        _cmd_ls,
        "list runs (newest first), a run's tasks with their status, or a task's objects",
        "objlog ls [URL] [PR [TASK]] [--limit N] [--json]",
    )
    p.epilog = (
        "Runs: RUN, STATUS (the worst of its tasks: failed, running, succeeded; unknown "
        "for logs written without objlog run), STARTED, TASKS (with a status). Tasks: "
        "TASK, STATUS, STARTED, DURATION (a running task's age so far, marked +), EXIT "
        "(objlog run's exit status, with the signal that killed the step), SIZE (bytes "
        "of logs and results). A step whose objlog run was killed by SIGKILL, or whose "
        "node was lost, stays 'running' for good: its age tells."
    )
    p.add_argument("-v", "--verbose", action="store_true", help="print totals on stderr")
    p.add_argument(
        "--limit", type=int, metavar="N", help="print at most N lines (of runs: the newest)"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="JSON Lines: a task line has pipelinerun, task, status, exit_code, started, "
        "finished (RFC 3339 UTC or null), duration, size_bytes",
    )


def _non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value!r}")
    return number


def _add_cat(sub: argparse._SubParsersAction[_Parser]) -> None:
    """Add ``objlog cat [URL] PR [TASK] [OPTIONS]``."""
    p = _add_command(
        sub,
        "cat",
        _cmd_cat,
        "print a task's log records in order, or every task's of a run merged in time order",
        "objlog cat [URL] PR [TASK] [OPTIONS]",
    )
    p.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep polling for new records; ends by itself (exit 0) once the task's "
        "status says it finished (objlog run stores it), never for logs without one",
    )
    p.add_argument(
        "-n",
        "--tail",
        type=_non_negative_int,
        metavar="N",
        help="only the last N records (after the other filters); with --follow, then the new ones",
    )
    p.add_argument(
        "--since",
        metavar="T",
        help="only records at or after T: an RFC 3339 time (2026-11-30T10:00:00Z, "
        "+01:00 offsets; naive is UTC) or a duration back from now (90s, 10m, 10min, 1h30m, 2d)",
    )
    p.add_argument(
        "--until",
        metavar="T",
        help="only records at or before T (same forms as --since; not with --follow)",
    )
    p.add_argument(
        "--level",
        metavar="L",
        help="only records at level L or above (records without a level are hidden)",
    )
    p.add_argument("--grep", metavar="RE", help="only records whose text matches RE")
    p.add_argument(
        "--json",
        action="store_true",
        help="print records as JSON Lines (reading a run: with the field objlog_task)",
    )
    p.add_argument(
        "-t",
        "--timestamps",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start each line with its record's timestamp (default: only records of "
        "loggers, not the command output lines of objlog run)",
    )
    p.add_argument(
        "--prefix",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start each line with [TASK] (default: on when reading a whole run)",
    )
    p.add_argument(
        "--color",
        "--colour",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour lines by level: error red, warning yellow, debug dim (default auto: "
        "on a terminal unless NO_COLOR is set, never when piped)",
    )
    p.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between polls with --follow (default 1)",
    )
    from objlog.reader import DEFAULT_MAX_LINE_BYTES

    p.add_argument(
        "--max-line-bytes",
        type=int,
        default=DEFAULT_MAX_LINE_BYTES,
        metavar="N",
        help="longest stored line shown whole; longer ones are cut and marked "
        f"objlog_truncated (default {DEFAULT_MAX_LINE_BYTES}: any record of objlog run fits)",
    )
    shown = p.add_mutually_exclusive_group()
    shown.add_argument(
        "--raw",
        dest="escape",
        action="store_false",
        default=None,
        help="write the stored bytes unchanged even on a terminal, \\r progress updates "
        "included (the default when piped)",
    )
    shown.add_argument(
        "--escape",
        dest="escape",
        action="store_true",
        default=None,
        help="show control characters as ^X or <U+XXXX>, and a line of \\r progress "
        "updates as its last state, even when piped (the default on a terminal)",
    )


def _add_result(sub: argparse._SubParsersAction[_Parser]) -> None:
    """Add ``objlog result ls|get|extract|put ...``."""
    p = sub.add_parser("result", help="list, get, extract or put task results (.tgz, KFP layout)")
    rsub = p.add_subparsers(dest="result_command", metavar="ACTION", required=True)
    ls = _add_command(
        rsub,
        "ls",
        _cmd_result_ls,
        "list a task's results: stored (compressed) size, time stored, name",
        "objlog result ls [URL] PR TASK [--json]",
    )
    ls.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per result: name, key, size_bytes, last_modified (RFC 3339 UTC)",
    )
    g = _add_command(
        rsub,
        "get",
        _cmd_result_get,
        "print or save a file result's payload (a directory result: use extract)",
        "objlog result get [URL] PR TASK NAME [-o PATH|-]",
    )
    g.add_argument("-o", "--output", metavar="PATH", help="write here ('-' = stdout, default)")
    g.add_argument("-v", "--verbose", action="store_true", help="say where it went")
    x = _add_command(
        rsub,
        "extract",
        _cmd_result_extract,
        "extract any result, file or directory, into the directory DEST",
        "objlog result extract [URL] PR TASK NAME DEST [-v]",
    )
    x.epilog = (
        "DEST is created if missing. Members with absolute paths or '..', links "
        "leading out of DEST, devices and FIFOs are refused before anything is "
        "written (tarfile's 'data' filter); owners are not restored."
    )
    x.add_argument("-v", "--verbose", action="store_true", help="print each path created")
    _add_command(
        rsub,
        "put",
        _cmd_result_put,
        "store a file or directory as a result",
        "objlog result put [URL] PR TASK NAME PATH",
    )


# -- query -------------------------------------------------------------------------------


def _cmd_query(args: argparse.Namespace) -> int:
    """Run ``objlog query``: SQL over the stored records (`objlog._query`)."""
    from objlog import _query

    now = _dt.datetime.now(_dt.timezone.utc)
    since = _parse_time(args.since, "--since", now) if args.since else None
    until = _parse_time(args.until, "--until", now) if args.until else None
    scope = _query.QueryScope(
        pipelinerun=args.pipelinerun, task=args.task, since=since, until=until
    )
    write = (
        _query.write_json_lines
        if args.json
        else _query.write_csv
        if args.csv
        else _query.write_table
    )
    with _opened_store(args.store) as store:
        try:
            with _query.open_query(
                store, args.sql, scope, layout=_store_layout(args.store)
            ) as result:
                count = write(result, sys.stdout)
                sys.stdout.flush()
        except _query.SQLError as exc:
            raise _UsageError(str(exc)) from None
    if args.verbose:
        _say(f"{count} row(s); read {result.objects} batch(es), {result.stored_bytes} bytes stored")
    return 0


def _add_query(sub: argparse._SubParsersAction[_Parser]) -> None:
    """Add ``objlog query [--store URL] [--pipelinerun PR] [--task T] [--since T] ... SQL``."""
    p = _add_command(
        sub,
        "query",
        _cmd_query,
        "run SQL over the stored log records with DuckDB (table: logs)",
        "objlog query [--store URL] [--pipelinerun PR] [--task T] [--since T] [--until T] "
        "[--json|--csv] SQL",
        operands=False,
    )
    p.epilog = (
        "The table logs has one row per record: pipelinerun, task, key, timestamp "
        "(TIMESTAMPTZ, UTC), level (lower case), message, and a column per other top-level "
        "field. --pipelinerun, --task and --since narrow the listing; only the batches "
        "needed are copied (as stored) to a temporary directory and read by DuckDB "
        "in-process. Needs the query extra: pip install 'objlog-s3[query]'. "
        'Example: objlog query "SELECT task, level, count(*) FROM logs GROUP BY ALL"'
    )
    p.add_argument("--pipelinerun", metavar="PR", help="only this run")
    p.add_argument("--task", metavar="T", help="only this task (of every run read)")
    p.add_argument(
        "--since",
        metavar="T",
        help="only records at or after T: an RFC 3339 time or a duration back from now (10m)",
    )
    p.add_argument("--until", metavar="T", help="only records at or before T (same forms)")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print rows as JSON Lines")
    shape.add_argument("--csv", action="store_true", help="print rows as CSV with a header")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="print rows and batches read on stderr"
    )
    p.add_argument("sql", metavar="SQL", help="the query; the table is logs")


def build_parser() -> argparse.ArgumentParser:
    """
    Return the argument parser of the ``objlog`` command.

    Returns:
        An `argparse.ArgumentParser` with one subparser per command.

    Thread safety: builds a new parser per call.
    """
    from objlog import __version__

    parser = _Parser(
        prog=PROG,
        description="Ship pipeline-step logs and results to S3-compatible storage, "
        "and read them back.",
        epilog="A first positional argument containing '/' is the store URL "
        "(e.g. s3://bucket/prefix or ./dir).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command_name", metavar="COMMAND", required=True)

    for add in (
        _add_check,
        _add_run,
        _add_ls,
        _add_cat,
        _add_result,
        _add_query,
        _add_spool,
        _add_completion,
    ):
        add(sub)
    return parser


def _run_options(parser: argparse.ArgumentParser) -> dict[str, bool]:
    """Map each option string of ``run`` to whether it takes a value (read from `parser`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            run = action.choices["run"]
            return {o: a.nargs != 0 for a in run._actions for o in a.option_strings}
    raise AssertionError("the parser has no run command")  # pragma: no cover - build_parser adds it


def _takes_value(options: dict[str, bool], arg: str) -> bool:
    """
    Tell whether the ``run`` option `arg`, as typed, takes the next argument as its value.

    ``--opt=VALUE`` carries its own; an unambiguous abbreviation (``--compress 6``)
    is matched as argparse matches it, so the value is not taken for the command.
    """
    if arg in options:
        return options[arg]
    if arg.startswith("--") and "=" not in arg:
        matches = [o for o in options if o.startswith(arg)]
        if len(matches) == 1:
            return options[matches[0]]
    return False


def _split_run_argv(
    argv: list[str], parser: argparse.ArgumentParser | None = None
) -> tuple[list[str], list[str] | None]:
    """
    For ``run``, cut argv where the command starts: objlog's options before it.

    The command starts after a ``--``, or at the first argument that is
    neither an option of ``run`` nor an option's value (so ``objlog run echo
    a -- b`` runs ``echo a -- b``). Which options take a value is read from
    `parser` (default `build_parser()`), so ``--opt VALUE`` and ``--opt=VALUE``
    both work for every one of them.
    """
    start = 0
    while start < len(argv) and argv[start].startswith("-"):
        start += 1  # top-level flags (--version, --help) take no value
    if start >= len(argv) or argv[start] != "run":
        return argv, None
    options = _run_options(parser if parser is not None else build_parser())
    i = start + 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return argv[:i], argv[i + 1 :]
        if not arg.startswith("-") or arg == "-":
            return argv[:i], argv[i:]
        i += 2 if _takes_value(options, arg) else 1
    return argv, None


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the ``objlog`` command line.

    Args:
        argv: Arguments without the program name (default ``sys.argv[1:]``).

    Returns:
        The exit status (see the module docstring).

    Raises:
        SystemExit: From argparse for ``--help``, ``--version`` and bad usage (status 2).

    Thread safety: call from the main thread (``run`` installs signal handlers).
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    head, command = _split_run_argv(args_list, parser)
    args = parser.parse_args(head)
    if command is not None:
        args.command = command
    try:
        return int(args.func(args))
    except _UsageError as exc:
        _say(f"error: {exc}")
        return EXIT_USAGE
    except ConfigError as exc:
        _say(f"error: {_describe(exc)}")
        return EXIT_USAGE
    except _NotFound as exc:
        _say(f"error: {exc}")
        return EXIT_STORE
    except ObjlogError as exc:
        _say(f"error: {_describe(exc)}")
        return EXIT_STORE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``objlog cat ... | head``): not an error.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 0
