"""
Read logs and results back from a store: runs, tasks, objects and records.

The library API behind ``objlog ls`` and ``objlog cat``. Log batches live
where the store's key layout puts them (`objlog._layout.Layout`; every
function takes ``layout=``, default `objlog.config.store_layout`: the store
URL's ``?layout=``, else ``OBJLOG_LAYOUT``, else ``kfp``):
``[PREFIX/]logs/<pipelinerun>/<task>/<UTC ts>-<writer id>-<seq>.jsonl[.gz]``
under ``kfp``, ``[PREFIX/]logs/dt=<date>/hour=<HH>/pipelinerun=<pr>/task=<t>/<same>``
under ``hive``. A layout's date and hour segments are walked with delimiter
listings (``logs/`` for the ``dt=`` partitions, then each day for its hours),
pruned to the time range asked for, then each partition of the task is
listed; so a ``hive`` task costs 1 + days + hours LIST requests (4 at a time),
and ``--since``/``--until`` cut that to the partitions they cover.
`read_records` decodes every batch of a task (`objlog._codec`: gzip or plain,
told by magic bytes) and merges the records of several writers by their
``timestamp`` field, keeping each writer's own order;
`read_run_records` merges several tasks of a run the same way.

Objects are read as streams in bounded memory, whatever they hold: a batch is
fetched whole up to 8 MiB and in 8 MiB ranges above that, decompressed 256 KiB
at a time (a tiny gzip object expanding to gigabytes streams), and a line
longer than ``max_line_bytes`` is cut: the reader keeps its first
``max_line_bytes`` bytes and yields the record ::

    {"message": "<the first max_line_bytes bytes, as text>…", "objlog_truncated": <length>}

(``…`` is U+2026; ``objlog_truncated`` is the line's full length in bytes),
then goes on with the next line.

A task run by ``objlog run`` also has a status object (`objlog._status`,
at ``[PREFIX/]status/<pipelinerun>/<task>/status.json``, an area of its own:
no batch listing holds it): `read_status`, `list_statuses` and `is_finished`
read it, and ``read_records(follow=True, until=...)`` ends once a step is over.

Every function only reads; store calls are retried per `objlog.retry`.
"""

from __future__ import annotations

import collections
import datetime as _dt
import functools
import heapq
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from objlog import _layout, _status
from objlog._codec import RUN_LINE_BYTES, CutLine, decode_batch, decode_stream, split_records
from objlog._layout import Layout
from objlog._status import TaskStatus
from objlog.config import store_layout
from objlog.errors import ConfigError, ObjectNotFoundError, ObjlogError
from objlog.retry import RetryPolicy, retry_call
from objlog.typing import ObjectInfo, ObjectStore

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "LEVELS",
    "TRUNCATED_FIELD",
    "TaskObjects",
    "TaskStatus",
    "decode_batch",
    "first_log_time",
    "is_finished",
    "list_runs",
    "list_statuses",
    "list_task_objects",
    "list_tasks",
    "parse_timestamp",
    "read_records",
    "read_run_records",
    "read_status",
    "record_level",
]

T = TypeVar("T")

#: Level names to numbers, as in the stdlib ``logging`` module (structlog uses the same names).
LEVELS: dict[str, int] = {
    "notset": 0,
    "trace": 5,
    "debug": 10,
    "info": 20,
    "notice": 25,
    "warn": 30,
    "warning": 30,
    "error": 40,
    "exception": 40,
    "err": 40,
    "critical": 50,
    "fatal": 50,
}

#: Longest stored line `read_records` decodes whole, in bytes (2 MiB): room for
#: any record ``objlog run`` writes at its own 256 KiB line limit
#: (`objlog._run.DEFAULT_MAX_LINE_BYTES`), since JSON escaping may grow a line
#: up to 6 times (``\u001b`` for one control byte) and ``raw_b64`` adds 4/3.
DEFAULT_MAX_LINE_BYTES = 8 * RUN_LINE_BYTES
#: The field that marks a record made from a line cut at ``max_line_bytes``:
#: its value is the line's full length in bytes.
TRUNCATED_FIELD = "objlog_truncated"
_ELLIPSIS = "\u2026"

_POLICY = RetryPolicy()
# Batches fetched ahead per writer, and threads fetching them.
_AHEAD = 4
_FETCH_THREADS = 4
# Objects up to this size are fetched whole (and ahead); larger ones in ranges
# of this size, one at a time: the default batch size of the writer.
_FETCH_BYTES = 8 * 1024**2
# A batch uploaded late (retries, spool recovery) may carry a key that sorts
# before keys already seen; `follow` re-lists this far behind the newest key.
_FOLLOW_LAG = _dt.timedelta(seconds=120)
_TEXT_LEVEL = re.compile(
    r"(?<![A-Za-z])(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)(?![A-Za-z])"
    r"|\[(debug|info|warning|warn|error|critical)\s*\]"
)


def _retried(fn: Callable[[], T]) -> T:
    return retry_call(fn, _POLICY)


# -- listing -------------------------------------------------------------------


def _names_below(store: ObjectStore, prefix: str) -> list[str]:
    found = _retried(lambda: list(store.list_prefixes(prefix)))
    return [p[len(prefix) :].rstrip("/") for p in found if p.startswith(prefix)]


# Records are timestamped at most this long before their batch's key time, or
# after the end of its partition (the write in flight, a producer's clock).
_SKEW = 1.0
# Partitions are pruned with more room: one more listing at each end costs little.
_PARTITION_SKEW = 60.0

_Values = dict[str, str]


def _walk(
    store: ObjectStore,
    layout: Layout,
    values: _Values,
    *,
    want: str | None = None,
    since_ts: float | None = None,
    until_ts: float | None = None,
) -> list[tuple[str, _Values]]:
    """
    Walk `layout` below the store prefix down to its batch directories.

    A segment whose fields are all in `values` is formatted; any other is
    listed with a delimiter (4 listings at a time), and each name found that
    matches it, agrees with `values` and whose date/hour partition overlaps
    ``[since_ts, until_ts]`` (epoch seconds, with `_PARTITION_SKEW`) is
    followed. With `want`, the walk stops at the first level where every
    branch knows that field.

    Returns:
        ``(directory, values)`` pairs in key order; each directory ends in ``/``.
    """
    frontier: list[tuple[str, _Values]] = [(_layout.join_key(store.prefix), dict(values))]
    with ThreadPoolExecutor(max_workers=_FETCH_THREADS, thread_name_prefix="objlog-list") as pool:
        for index in range(layout.depth - 1):
            if want is not None and all(want in v for _, v in frontier):
                break
            listed = [
                pool.submit(_names_below, store, _layout.join_key(head) + "/")
                if layout.format_segment(index, vals) is None
                else None
                for head, vals in frontier
            ]
            step: list[tuple[str, _Values]] = []
            for (head, vals), future in zip(frontier, listed, strict=True):
                if future is None:
                    text = layout.format_segment(index, vals)
                    step.append((_layout.join_key(head, text or ""), vals))
                    continue
                for name in future.result():
                    found = layout.match_segment(index, name)
                    if found is None or any(vals.get(k, v) != v for k, v in found.items()):
                        continue
                    merged = {**vals, **found}
                    if _in_range(layout.partition_span(merged), since_ts, until_ts):
                        step.append((_layout.join_key(head, name), merged))
            frontier = step
    return [(_layout.join_key(head) + "/", vals) for head, vals in frontier]


def _in_range(span: tuple[int, int] | None, since_ts: float | None, until_ts: float | None) -> bool:
    if span is None:
        return True
    start, end = span[0] / 1e6, span[1] / 1e6
    if since_ts is not None and end <= since_ts - _PARTITION_SKEW:
        return False
    return until_ts is None or start <= until_ts + _PARTITION_SKEW


def _field_values(
    store: ObjectStore, layout: Layout, values: _Values, want: str, **span: float | None
) -> set[str]:
    """The values of field `want` found by `_walk` (e.g. the runs)."""
    return {v[want] for _, v in _walk(store, layout, values, want=want, **span) if want in v}


def _task_dirs(
    store: ObjectStore,
    layout: Layout,
    pipelinerun: str,
    task: str,
    since_ts: float | None = None,
    until_ts: float | None = None,
) -> list[str]:
    """The directories that may hold a task's batches, in key order."""
    _layout.logs_prefix("", pipelinerun, task)  # names checked before any listing
    values = {"pipelinerun": pipelinerun, "task": task}
    return [d for d, _ in _walk(store, layout, values, since_ts=since_ts, until_ts=until_ts)]


def _list_dirs(
    store: ObjectStore, layout: Layout, dirs: list[str], start: _dt.datetime | None = None
) -> list[ObjectInfo]:
    """List every object in `dirs` (from key time `start` on, when given), in order."""

    def _one(directory: str) -> list[ObjectInfo]:
        after = None if start is None else layout.listing_start(directory, start)
        return _retried(lambda: list(store.list_objects(directory, start_after=after)))

    if len(dirs) == 1:
        return _one(dirs[0])
    with ThreadPoolExecutor(max_workers=_FETCH_THREADS, thread_name_prefix="objlog-list") as pool:
        return [info for infos in pool.map(_one, dirs) for info in infos]


def _task_logs(
    store: ObjectStore,
    layout: Layout,
    pipelinerun: str,
    task: str,
    since_ts: float | None = None,
    until_ts: float | None = None,
) -> list[ObjectInfo]:
    """A task's log batches in the partitions `since_ts`/`until_ts` leave, in key order."""
    return _list_dirs(
        store, layout, _task_dirs(store, layout, pipelinerun, task, since_ts, until_ts)
    )


def list_runs(
    store: ObjectStore,
    *,
    layout: str | Layout | None = None,
    since: _dt.datetime | None = None,
    until: _dt.datetime | None = None,
) -> list[str]:
    """
    Return the pipelineruns that have logs or results in `store`, sorted.

    Args:
        store: The store to read.
        layout: The key layout (default: the store's, `store_layout`).
        since: Under a layout with partitions (``hive``), only walk the
            partitions from this time on (runs with results or a status
            are listed all the same). Default: all.
        until: Likewise, up to this time. Default: all.

    Returns:
        Pipelinerun names (the union of the log batches, ``artifacts/`` and
        ``status/``: a run whose steps printed nothing is listed too).

    Raises:
        ConfigError: A malformed layout.
        StoreError: Listing failed (transient failures are retried first).

    Thread safety: safe to call from any thread.
    """
    found = store_layout(store, layout)
    runs = _field_values(
        store, found, {}, "pipelinerun", since_ts=_epoch(since), until_ts=_epoch(until)
    )
    runs.update(_names_below(store, _layout.artifacts_prefix(store.prefix)))
    runs.update(_names_below(store, _layout.status_prefix(store.prefix)))
    return sorted(r for r in runs if r)


def list_tasks(
    store: ObjectStore, pipelinerun: str, *, layout: str | Layout | None = None
) -> list[str]:
    """
    Return the tasks of `pipelinerun` that have logs, results or a status, sorted.

    Args:
        store: The store to read.
        pipelinerun: The run's name.
        layout: The key layout (default: the store's, `store_layout`).

    Returns:
        Task names; empty when the run is unknown.

    Raises:
        ConfigError: `pipelinerun` is not a valid key segment, or a malformed layout.
        StoreError: Listing failed.

    Thread safety: safe to call from any thread.
    """
    _layout.logs_prefix("", pipelinerun)
    found = store_layout(store, layout)
    tasks = _field_values(store, found, {"pipelinerun": pipelinerun}, "task")
    tasks.update(_names_below(store, _layout.artifacts_prefix(store.prefix, pipelinerun)))
    tasks.update(_names_below(store, _layout.status_prefix(store.prefix, pipelinerun)))
    return sorted(t for t in tasks if t)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskObjects:
    """
    The objects of one task.

    Attributes:
        logs: Log batches, in key order.
        artifacts: Results (``<name>.tgz``), in key order.
    """

    logs: list[ObjectInfo]
    artifacts: list[ObjectInfo]


def list_task_objects(
    store: ObjectStore, pipelinerun: str, task: str, *, layout: str | Layout | None = None
) -> TaskObjects:
    """
    List the log batches and results of one task.

    Args:
        store: The store to read.
        pipelinerun: The run's name.
        task: The task's name.
        layout: The key layout (default: the store's, `store_layout`).

    Returns:
        Both lists, each in key order (possibly empty).

    Raises:
        ConfigError: A name is not a valid key segment, or a malformed layout.
        StoreError: Listing failed.

    Thread safety: safe to call from any thread.
    """
    found = store_layout(store, layout)
    arts = _layout.artifacts_prefix(store.prefix, pipelinerun, task)
    return TaskObjects(
        logs=_task_logs(store, found, pipelinerun, task),
        artifacts=_retried(lambda: list(store.list_objects(arts))),
    )


# -- status --------------------------------------------------------------------


def read_status(store: ObjectStore, pipelinerun: str, task: str) -> TaskStatus:
    """
    Return a task's status as ``objlog run`` stored it, or `UNKNOWN` without one.

    Args:
        store: The store to read.
        pipelinerun: The run's name.
        task: The task's name.

    Returns:
        A `TaskStatus`; ``status`` is ``"unknown"`` (and every other field
        empty) when the task has no status object (logs written without
        ``objlog run``) or the object is not a status document.

    Raises:
        ConfigError: A name is not a valid key segment.
        StoreError: Reading failed after retries (a missing object is not a failure).

    Thread safety: safe to call from any thread.
    """
    key = _layout.status_key(store.prefix, pipelinerun, task)
    try:
        data = _retried(functools.partial(store.get_object, key))
    except ObjectNotFoundError:
        return TaskStatus(pipelinerun=pipelinerun, task=task)
    try:
        return _status.parse_status(data, pipelinerun, task)
    except ValueError:
        return TaskStatus(pipelinerun=pipelinerun, task=task)


def list_statuses(store: ObjectStore, pipelinerun: str | None = None) -> list[TaskStatus]:
    """
    Return the status of every task that has a status object, in one run or in all.

    One listing of ``[PREFIX/]status/[<pipelinerun>/]``, then one GET per
    status object (4 at a time).

    Args:
        store: The store to read.
        pipelinerun: One run's name, or None for every run.

    Returns:
        Statuses sorted by ``(pipelinerun, task)``. A task without a status
        object (logs written without ``objlog run``) is not in the list: ask
        `list_tasks` for every task.

    Raises:
        ConfigError: `pipelinerun` is not a valid key segment.
        StoreError: Listing or reading failed after retries.

    Thread safety: safe to call from any thread.
    """
    prefix = _layout.status_prefix(store.prefix, pipelinerun)
    infos = _retried(lambda: list(store.list_objects(prefix)))
    names = [
        found
        for found in (_layout.parse_status_key(store.prefix, info.key) for info in infos)
        if found is not None
    ]
    if not names:
        return []
    with ThreadPoolExecutor(max_workers=_FETCH_THREADS, thread_name_prefix="objlog-status") as pool:
        found = list(pool.map(lambda n: read_status(store, n[0], n[1]), names))
    return sorted(found, key=lambda s: (s.pipelinerun, s.task))


def is_finished(
    store: ObjectStore,
    pipelinerun: str,
    task: str | None = None,
    *,
    layout: str | Layout | None = None,
) -> bool:
    """
    Tell whether a task, or every task of a run, has a finished status.

    Args:
        store: The store to read.
        pipelinerun: The run's name.
        task: One task, or None for the whole run.

    Returns:
        For a task: True when its status is ``succeeded`` or ``failed``.
        For a run: True when it has at least one task and every task listed
        by `list_tasks` (`layout` as there) has such a status (a task without a status object,
        written without ``objlog run``, is never finished). A task of the
        run that has not started yet is not known: the run may look finished
        between two of its tasks.

    Raises:
        ConfigError: A name is not a valid key segment.
        StoreError: Listing or reading failed after retries.

    Thread safety: safe to call from any thread.
    """
    if task is not None:
        return read_status(store, pipelinerun, task).is_finished
    tasks = list_tasks(store, pipelinerun, layout=layout)
    if not tasks:
        return False
    statuses = {s.task: s for s in list_statuses(store, pipelinerun)}
    return all(t in statuses and statuses[t].is_finished for t in tasks)


def first_log_time(
    store: ObjectStore,
    pipelinerun: str,
    task: str | None = None,
    *,
    layout: str | Layout | None = None,
) -> _dt.datetime | None:
    """
    Return the seal time of the oldest log batch of a task, or of any task of a run.

    For runs and tasks without a status object: about when they started (a
    batch opens with its first record). One listing page per task; under a
    partitioned layout the partitions are visited oldest first and the walk
    stops at the first that holds a batch.

    Args:
        store: The store to read.
        pipelinerun: The run's name.
        task: One task, or None for every task of the run.
        layout: The key layout (default: the store's, `store_layout`).

    Returns:
        An aware UTC datetime, or None when there is no batch key with a time.

    Raises:
        ConfigError: A name is not a valid key segment.
        StoreError: Listing failed after retries.

    Thread safety: safe to call from any thread.
    """
    found = store_layout(store, layout)
    _layout.logs_prefix("", pipelinerun, task)
    values = (
        {"pipelinerun": pipelinerun} if task is None else {"pipelinerun": pipelinerun, "task": task}
    )
    far = float("inf")
    dirs = sorted(
        _walk(store, found, values),
        key=lambda dv: (found.partition_span(dv[1]) or (-far, far))[0],
    )
    best: _dt.datetime | None = None
    for directory, vals in dirs:
        span = found.partition_span(vals)
        if best is not None and span is not None and span[0] / 1e6 > best.timestamp():
            break  # later partitions hold later keys only
        # Keys sort by key time within a directory (fixed-width UTC time first).
        first = _retried(lambda p=directory: next(iter(store.list_objects(p)), None))  # type: ignore[misc]
        when = None if first is None else _key_time(store, found, first.key)
        if when is not None and (best is None or when < best):
            best = when
    return best


def _quietly(until: Callable[[], bool]) -> bool:
    """Call a follow loop's end test; a store error reads as "not yet" (try again next poll)."""
    try:
        return bool(until())
    except ObjlogError:
        return False


# -- decoding ------------------------------------------------------------------


def parse_timestamp(value: object) -> float | None:
    """
    Return an RFC 3339 / ISO 8601 timestamp (or epoch seconds) as epoch seconds.

    Args:
        value: A string such as ``2026-11-21T11:40:30.123456Z``, or a number.
            Naive times are taken as UTC.

    Returns:
        Seconds since the epoch, or None when `value` is not a timestamp.

    Thread safety: pure function.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    parsed = _status.parse_time(value.strip())
    return None if parsed is None else parsed.timestamp()


def record_level(record: dict[str, Any]) -> int | None:
    """
    Return the numeric log level of a record, or None when it has none.

    Looks at ``level``/``levelname``/``severity`` and, for records made by
    ``objlog run`` (``stream`` + ``line``), at those fields of the line when
    the line itself is a JSON object (structlog's ``JSONRenderer`` output),
    else at the first upper-case level word (``INFO``, ``WARNING``, as the
    stdlib formats put it) or bracketed lower-case level (structlog's console
    ``[info     ]``) in the line's first 120 characters: a heuristic.

    Args:
        record: A decoded record.

    Returns:
        A stdlib level number (INFO = 20), or None.

    Thread safety: pure function.
    """
    for field in ("level", "levelname", "severity", "log.level"):
        value = record.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in LEVELS:
            return LEVELS[value.lower()]
    line = record.get("line")
    if not isinstance(line, str) or "stream" not in record:
        return None
    if line.startswith("{"):
        try:
            inner = json.loads(line)
        except ValueError:
            inner = None
        if isinstance(inner, dict):
            return record_level({k: v for k, v in inner.items() if k != "line"})
    # Plain text: stdlib's "INFO:name:msg" / "... WARNING name: msg", structlog's "[info     ]".
    match = _TEXT_LEVEL.search(line, 0, 120)
    if match:
        return LEVELS[(match.group(1) or match.group(2)).lower()]
    return None


def _utf8_text(data: bytes) -> str:
    """Decode `data` cut anywhere: a character split at the end is dropped, not escaped."""
    end = len(data)
    # Back off over at most 3 continuation bytes (0b10xxxxxx) to a lead byte.
    while end > len(data) - 3 and end > 0 and (data[end - 1] & 0xC0) == 0x80:
        end -= 1
    if end > 0 and data[end - 1] >= 0xC0:  # a lead byte whose character was cut
        need = 2 if data[end - 1] < 0xE0 else 3 if data[end - 1] < 0xF0 else 4
        if len(data) - (end - 1) < need:
            data = data[: end - 1]
    return data.decode("utf-8", errors="backslashreplace")


def _records(batches: Iterator[list[bytes]]) -> Iterator[dict[str, Any]]:
    """Turn `split_records` output into record dicts (see the module docstring)."""
    for lines in batches:
        for raw in lines:
            if type(raw) is not bytes:  # a CutLine
                length = raw.length if isinstance(raw, CutLine) else len(raw)
                yield {"message": _utf8_text(raw) + _ELLIPSIS, TRUNCATED_FIELD: length}
                continue
            if not raw or raw.isspace():
                continue
            text = raw.decode("utf-8", errors="backslashreplace")
            try:
                record = json.loads(text)
            except ValueError:
                record = None
            if isinstance(record, dict):
                yield record
            else:  # not a JSON object: the text, less a CRLF file's \r
                yield {"message": text[:-1] if text.endswith("\r") else text}


# -- batches and merging -----------------------------------------------------------


def _fetch_first(store: ObjectStore, info: ObjectInfo) -> bytes:
    """GET a whole object, or its first `_FETCH_BYTES` when it is larger."""
    if info.size <= _FETCH_BYTES:
        return _retried(functools.partial(store.get_object, info.key))
    span = (0, _FETCH_BYTES - 1)
    return _retried(functools.partial(store.get_object, info.key, byte_range=span))


def _object_chunks(store: ObjectStore, info: ObjectInfo, first: Future[bytes]) -> Iterator[bytes]:
    """Yield an object's bytes: the prefetched `first` piece, then ranged GETs to its size."""
    data = first.result()
    yield data
    offset = len(data)
    while info.size > _FETCH_BYTES and len(data) == _FETCH_BYTES and offset < info.size:
        span = (offset, min(offset + _FETCH_BYTES, info.size) - 1)
        data = _retried(functools.partial(store.get_object, info.key, byte_range=span))
        if not data:
            return
        yield data
        offset += len(data)


def _batch_records(
    store: ObjectStore,
    infos: Iterable[ObjectInfo],
    on_bad: Callable[[str, Exception], None] | None,
    pool: ThreadPoolExecutor,
    max_line_bytes: int,
) -> Iterator[dict[str, Any]]:
    # Fetch up to _AHEAD batches ahead: one GET costs 5-8 ms even on loopback.
    pending: collections.deque[tuple[ObjectInfo, Future[bytes]]] = collections.deque()
    remaining = iter(infos)

    def _submit() -> None:
        info = next(remaining, None)
        if info is not None:
            pending.append((info, pool.submit(_fetch_first, store, info)))

    for _ in range(_AHEAD):
        _submit()
    while pending:
        info, future = pending.popleft()
        _submit()
        chunks = _object_chunks(store, info, future)
        records = _records(split_records(decode_stream(chunks, info.key), max_line_bytes))
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            # Deleted between list and get (lifecycle rule), or corrupt: the
            # records before the failure were yielded; the batch ends here.
            except (ObjectNotFoundError, ValueError) as exc:
                if on_bad is not None:
                    on_bad(info.key, exc)
                break
            yield record


def _keyed(
    records: Iterator[dict[str, Any]], writer: int
) -> Iterator[tuple[float, int, int, dict[str, Any]]]:
    # The sort key never goes backwards within one writer: a record without a
    # parseable timestamp, or one older than its predecessor, keeps its place.
    last = float("-inf")
    for n, record in enumerate(records):
        ts = parse_timestamp(record.get("timestamp", record.get("time", record.get("ts"))))
        if ts is not None and ts > last:
            last = ts
        yield (last, writer, n, record)


def _merged(
    fetch: Callable[[list[ObjectInfo]], Iterator[dict[str, Any]]],
    infos: Iterable[ObjectInfo],
    store: ObjectStore,
    layout: Layout,
) -> Iterator[dict[str, Any]]:
    for _, record in _merged_keyed(fetch, infos, store, layout):
        yield record


def _merged_keyed(
    fetch: Callable[[list[ObjectInfo]], Iterator[dict[str, Any]]],
    infos: Iterable[ObjectInfo],
    store: ObjectStore,
    layout: Layout,
) -> Iterator[tuple[float, dict[str, Any]]]:
    """Yield ``(time sorted by, record)``: the time never goes backwards (see `_keyed`)."""
    # `fetch(infos)` yields the records of those batches in order (`_batch_records`).
    # One writer's keys sort in its write order under every layout (`Layout`).
    groups: dict[str, list[ObjectInfo]] = {}
    for info in infos:
        groups.setdefault(_writer_of(store, layout, info.key), []).append(info)
    streams = [
        _keyed(fetch(sorted(group, key=lambda i: i.key)), index)
        for index, (_, group) in enumerate(
            sorted(groups.items(), key=lambda kv: min(i.key for i in kv[1]))
        )
    ]
    for key, _, _, record in heapq.merge(*streams, key=lambda item: item[:3]):
        yield key, record


def read_records(
    store: ObjectStore,
    pipelinerun: str,
    task: str,
    *,
    since: _dt.datetime | None = None,
    follow: bool = False,
    poll_interval: float = 1.0,
    stop: threading.Event | None = None,
    on_bad_object: Callable[[str, Exception], None] | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    until: Callable[[], bool] | None = None,
    on_caught_up: Callable[[], None] | None = None,
    layout: str | Layout | None = None,
) -> Iterator[dict[str, Any]]:
    """
    Yield every log record of one task, oldest first.

    Every batch of the task (``[PREFIX/]logs/<pipelinerun>/<task>/`` under
    ``kfp``; in every ``dt=``/``hour=`` partition under ``hive``) is fetched and
    decoded (gzip or plain). Records of several writers are merged by their
    ``timestamp``; within one writer, key order and line order are kept, and a
    record without a parseable timestamp keeps its place among its writer's
    records. Lines that are not JSON objects become ``{"message": line}``;
    a line longer than `max_line_bytes` becomes ``{"message": "<its first
    max_line_bytes bytes>…", "objlog_truncated": <its length in bytes>}``
    (`TRUNCATED_FIELD`) and the lines after it read normally. Memory per
    writer is bounded by `max_line_bytes`, 256 KiB of decompressed data and
    8 MiB of fetched object (5 such fetches ahead), however large an object
    is or however far it decompresses.

    Args:
        store: The store to read.
        pipelinerun: The run's name.
        task: The task's name.
        since: Only records at or after this time (timezone-aware; naive is
            taken as UTC). Records without a timestamp pass. A batch is not
            fetched when a later batch of its writer was keyed more than 1 s
            before `since` (a writer's next batch opens after the last one
            was sealed), nor a partition that ended before it. Default: all.
        follow: After the existing records, keep polling for new batches
            (like ``tail -f``) until `stop` is set. A run with no logs yet
            is waited for instead of raising. Batches uploaded late under an
            older key are still found (the listing restarts 120 s behind the
            newest key), but their records come after those already yielded.
        poll_interval: Seconds between polls in `follow` mode (default 1.0).
        stop: Ends `follow` when set (checked between polls). Default: never.
        until: Ends `follow` by itself: called before each poll (the first
            right after the existing records); once it returns True, the
            batches listed by one more poll are yielded and the iterator
            ends. ``lambda: is_finished(store, pipelinerun, task)`` ends
            when the step is over: ``objlog run`` stores its end status
            after the log, so that last poll holds every stored line. An
            `ObjlogError` it raises counts as False. Default: never.
        on_bad_object: Called as ``on_bad_object(key, exc)`` for a batch that
            cannot be fetched or decoded: `ObjectNotFoundError` (deleted since
            listed) or `CorruptBatchError`. The records read before the failure
            were yielded; the rest of the batch is skipped. Default: skip silently.
        max_line_bytes: Longest stored line decoded whole, in bytes (default
            `DEFAULT_MAX_LINE_BYTES`, 2 MiB: every record ``objlog run``
            writes at its 256 KiB line limit fits). Longer lines are cut.
        on_caught_up: Called once, with no argument, when the records stored
            at the start have all been yielded: before the first poll in
            `follow` mode, else at the end (``tail -f -n N`` prints its last
            N there). Default: none.
        layout: The key layout (default: the store's, `store_layout`).

    Returns:
        An iterator of record dicts.

    Raises:
        ConfigError: A name is not a valid key segment, `max_line_bytes` < 1,
            or a malformed layout (raised at the first ``next``, as every error here).
        ObjectNotFoundError: No log batch exists for the task (not in `follow` mode).
        StoreError: Listing or fetching failed after retries.

    Thread safety: the iterator belongs to one thread; the store may be shared.
    """
    if isinstance(max_line_bytes, bool) or not isinstance(max_line_bytes, int):
        raise ConfigError(f"max_line_bytes must be an int, got {max_line_bytes!r}")
    if max_line_bytes < 1:
        raise ConfigError(f"max_line_bytes must be >= 1, got {max_line_bytes}")
    prefix = _layout.logs_prefix(store.prefix, pipelinerun, task)
    found = store_layout(store, layout)
    since_ts: float | None = None
    if since is not None:
        if since.tzinfo is None:
            since = since.replace(tzinfo=_dt.timezone.utc)
        since_ts = since.timestamp()

    def _filtered(records: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        if since_ts is None:
            yield from records
            return
        for record in records:
            ts = parse_timestamp(record.get("timestamp", record.get("time")))
            if ts is None or ts >= since_ts:
                yield record

    followed_at = time.time()
    infos = _task_logs(store, found, pipelinerun, task, since_ts)
    if not infos and not follow:
        raise ObjectNotFoundError(
            f"no logs for pipelinerun {pipelinerun!r} task {task!r}",
            bucket=store.bucket,
            key=prefix,
            reason="NoSuchRun",
        )
    seen = {info.key for info in infos}
    if since_ts is not None:
        infos = _since_pruned(store, found, infos, since_ts)
    pool = ThreadPoolExecutor(max_workers=_FETCH_THREADS, thread_name_prefix="objlog-read")
    fetch = functools.partial(
        _batch_records, store, on_bad=on_bad_object, pool=pool, max_line_bytes=max_line_bytes
    )
    poll = _TaskPoll(store, found, pipelinerun, task, followed_at, seen)
    try:
        yield from _filtered(_merged(fetch, infos, store, found))
        if on_caught_up is not None:
            on_caught_up()
        if not follow:
            return

        while stop is None or not stop.is_set():
            # Asked before listing: what was stored before the end status is in this listing.
            last = until is not None and _quietly(until)
            if not last:
                if stop is not None:
                    stop.wait(poll_interval)
                    if stop.is_set():
                        return
                else:
                    time.sleep(poll_interval)
            new = poll.new()
            if new:
                yield from _filtered(_merged(fetch, new, store, found))
            if last:
                return
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _key_time(store: ObjectStore, layout: Layout, key: str) -> _dt.datetime | None:
    """A batch's key time (when it opened), or None for a key of no known shape."""
    parsed = layout.parse(store.prefix, key)
    if parsed is not None:
        return _layout.batch_sealed_at(parsed.timestamp)
    return _layout.batch_sealed_at(key)


def _writer_of(store: ObjectStore, layout: Layout, key: str) -> str:
    parsed = layout.parse(store.prefix, key)
    return parsed.writer_id if parsed is not None else _layout.batch_writer(key)


def _since_pruned(
    store: ObjectStore, layout: Layout, infos: list[ObjectInfo], since_ts: float
) -> list[ObjectInfo]:
    """
    Drop the batches that hold no record at or after `since_ts`.

    A batch's key time is when it opened, not when it was sealed; but a
    writer opens its next batch only after sealing the last, so a batch
    whose successor (same writer, next in key order) opened more than
    `_SKEW` before `since_ts` holds only older records. A writer's last
    batch is always kept.
    """
    groups: dict[str, list[ObjectInfo]] = {}
    for info in infos:
        groups.setdefault(_writer_of(store, layout, info.key), []).append(info)
    drop: set[str] = set()
    for group in groups.values():
        group.sort(key=lambda i: i.key)
        for before, after in itertools.pairwise(group):
            when = _key_time(store, layout, after.key)
            if when is not None and when.timestamp() < since_ts - _SKEW:
                drop.add(before.key)
    return [info for info in infos if info.key not in drop]


class _TaskPoll:
    """
    The follow-mode listing of one task: what is new since the last poll.

    Each poll lists from `_FOLLOW_LAG` behind the newest key seen (a batch
    uploaded late carries an older key). Under a partitioned layout, the
    walk also starts no earlier than `_FOLLOW_LAG` before following began:
    older partitions were read in full already, and listing them at every
    poll would cost a request per hour of history.
    """

    def __init__(
        self,
        store: ObjectStore,
        layout: Layout,
        pipelinerun: str,
        task: str,
        followed_at: float,
        seen: set[str],
    ) -> None:
        self.store, self.layout = store, layout
        self.pipelinerun, self.task = pipelinerun, task
        self.followed_at = followed_at
        self.seen = seen

    def new(self) -> list[ObjectInfo]:
        """List again; return the batches not seen before, in key order."""
        times = [t for t in (_key_time(self.store, self.layout, k) for k in self.seen) if t]
        start = max(times) - _FOLLOW_LAG if times else None
        walk_from: float | None = None
        if self.layout.partition_us is not None:
            floor = self.followed_at - _FOLLOW_LAG.total_seconds()
            walk_from = floor if start is None else max(start.timestamp(), floor)
        dirs = _task_dirs(self.store, self.layout, self.pipelinerun, self.task, walk_from)
        listed = _list_dirs(self.store, self.layout, dirs, start)
        new = [info for info in listed if info.key not in self.seen]
        if start is not None:  # forget what the next listing no longer returns
            self.seen = {
                k
                for k in self.seen
                if (when := _key_time(self.store, self.layout, k)) is None or when >= start
            }
        self.seen.update(info.key for info in listed)
        return new


# -- several tasks -------------------------------------------------------------------


def _epoch(when: _dt.datetime | None) -> float | None:
    """`when` as epoch seconds (naive is UTC), or None."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return when.timestamp()


def _record_time(record: dict[str, Any]) -> float | None:
    return parse_timestamp(record.get("timestamp", record.get("time", record.get("ts"))))


def _task_stream(
    records: Iterator[tuple[float, dict[str, Any]]],
    index: int,
    task: str,
    since_ts: float | None,
    until_ts: float | None,
) -> Iterator[tuple[float, int, int, str, dict[str, Any]]]:
    """
    Key one task's merged records for `heapq.merge`: (time so far, task index, order, task, record).

    The time never goes backwards (`_merged_keyed`), so the stream is sorted;
    once it passes `until_ts` every later record is later too, and the task's
    remaining batches are not fetched.
    """
    for n, (key, record) in enumerate(records):
        if until_ts is not None and key > until_ts:
            return
        if since_ts is not None:
            ts = _record_time(record)
            if ts is not None and ts < since_ts:
                continue
        yield (key, index, n, task, record)


def _run_tasks(
    store: ObjectStore,
    layout: Layout,
    pipelinerun: str,
    tasks: Sequence[str] | None,
    since_ts: float | None = None,
    until_ts: float | None = None,
) -> list[str]:
    """The tasks to read: `tasks`, else every task with a log batch (results alone do not count)."""
    if tasks is not None:
        return list(tasks)
    found = _field_values(
        store, layout, {"pipelinerun": pipelinerun}, "task", since_ts=since_ts, until_ts=until_ts
    )
    return sorted(t for t in found if t)


def read_run_records(
    store: ObjectStore,
    pipelinerun: str,
    tasks: Sequence[str] | None = None,
    *,
    since: _dt.datetime | None = None,
    until: _dt.datetime | None = None,
    follow: bool = False,
    poll_interval: float = 1.0,
    stop: threading.Event | None = None,
    on_bad_object: Callable[[str, Exception], None] | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    on_caught_up: Callable[[], None] | None = None,
    finished: Callable[[], bool] | None = None,
    layout: str | Layout | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """
    Yield the log records of several tasks of a run merged in time order, with their task.

    What ``kubectl logs --prefix`` and ``argo logs`` show for a pod or a
    workflow. Each task is read as `read_records` reads it (writers merged by
    ``timestamp``, each writer's order kept); the tasks are then merged by a
    k-way merge (`heapq.merge`) on the same time. Ties go to the task that
    sorts first, then to the order within the task, so the output is the same
    on every call. A record without a parseable timestamp keeps its place
    within its task (it takes the time of the record before it). Streaming:
    memory per task is what `read_records` needs per writer; one pool of 4
    threads fetches for every task.

    Args:
        store: The store to read.
        pipelinerun: The run's name.
        tasks: The tasks to merge. Default: every task of the run that has a
            log batch, listed again at each poll in `follow` mode so a task
            that starts later is followed too.
        since: Only records at or after this time (timezone-aware; naive is
            UTC). Records without a timestamp pass. Batches pruned as
            `read_records` prunes them are not fetched, and partitions that
            ended before it are not listed. Default: all.
        until: Only records at or before this time (same rules). A task is
            read up to its first record after `until`: later batches are not
            fetched, and partitions that start after it are not listed.
            Default: all. Not with `follow`.
        follow: After the existing records, keep polling for new batches of
            every task until `stop` is set (as `read_records` does for one).
        poll_interval: Seconds between polls in `follow` mode (default 1.0).
        stop: Ends `follow` when set (checked between polls). Default: never.
        on_bad_object: As for `read_records`: ``on_bad_object(key, exc)`` for
            a batch that cannot be fetched or decoded. Default: skip silently.
        max_line_bytes: Longest stored line decoded whole, in bytes (default
            `DEFAULT_MAX_LINE_BYTES`, 2 MiB).
        on_caught_up: Called once when the records stored at the start have
            all been yielded (before the first poll in `follow` mode).
        finished: In `follow` mode, asked before each poll (e.g. `is_finished`
            of the run); once it says True, that poll is the last. Its
            errors count as "not finished". Default: follow until `stop`.
        layout: The key layout (default: the store's, `store_layout`).

    Returns:
        An iterator of ``(task, record)`` pairs, oldest first.

    Raises:
        ConfigError: A name is not a valid key segment, `max_line_bytes` < 1,
            a malformed layout, or `until` is given with `follow` (raised at
            the first ``next``).
        ObjectNotFoundError: No task of the run has a log batch (reason
            ``NoSuchRun``; not in `follow` mode, which waits for one).
        StoreError: Listing or fetching failed after retries.

    Thread safety: the iterator belongs to one thread; the store may be shared.
    """
    if isinstance(max_line_bytes, bool) or not isinstance(max_line_bytes, int):
        raise ConfigError(f"max_line_bytes must be an int, got {max_line_bytes!r}")
    if max_line_bytes < 1:
        raise ConfigError(f"max_line_bytes must be >= 1, got {max_line_bytes}")
    if follow and until is not None:
        raise ConfigError("until cannot be combined with follow: followed records have no end")
    since_ts, until_ts = _epoch(since), _epoch(until)
    found = store_layout(store, layout)
    run_prefix = _layout.logs_prefix(store.prefix, pipelinerun)
    followed_at = time.time()
    names = _run_tasks(store, found, pipelinerun, tasks, since_ts, until_ts)
    listing = {t: _task_logs(store, found, pipelinerun, t, since_ts, until_ts) for t in names}
    polls = {
        t: _TaskPoll(store, found, pipelinerun, t, followed_at, {i.key for i in infos})
        for t, infos in listing.items()
    }
    if not any(listing.values()) and not follow:
        raise ObjectNotFoundError(
            f"no logs for pipelinerun {pipelinerun!r}",
            bucket=store.bucket,
            key=run_prefix,
            reason="NoSuchRun",
        )
    if since_ts is not None:
        listing = {t: _since_pruned(store, found, infos, since_ts) for t, infos in listing.items()}
    pool = ThreadPoolExecutor(max_workers=_FETCH_THREADS, thread_name_prefix="objlog-read")
    fetch = functools.partial(
        _batch_records, store, on_bad=on_bad_object, pool=pool, max_line_bytes=max_line_bytes
    )

    def _round(batches: dict[str, list[ObjectInfo]]) -> Iterator[tuple[str, dict[str, Any]]]:
        streams = [
            _task_stream(_merged_keyed(fetch, infos, store, found), index, task, since_ts, until_ts)
            for index, (task, infos) in enumerate(sorted(batches.items()))
            if infos
        ]
        for _, _, _, task, record in heapq.merge(*streams, key=lambda item: item[:3]):
            yield task, record

    try:
        yield from _round(listing)
        if on_caught_up is not None:
            on_caught_up()
        while follow and (stop is None or not stop.is_set()):
            if stop is not None:
                if stop.wait(poll_interval):
                    return
            else:
                time.sleep(poll_interval)
            done = finished is not None and _quietly(finished)
            new: dict[str, list[ObjectInfo]] = {}
            # New tasks: a partitioned layout walks only the partitions since following began.
            recent = followed_at - _FOLLOW_LAG.total_seconds()
            for task in _run_tasks(store, found, pipelinerun, tasks, recent):
                if task not in polls:
                    polls[task] = _TaskPoll(store, found, pipelinerun, task, followed_at, set())
                new[task] = polls[task].new()
            yield from _round(new)
            if done:  # everything stored before the end status was listed above
                return
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
