"""
Key layout: where logs and results live in a bucket. Pure functions.

Layout (``PREFIX`` is the store URL's prefix, omitted when empty)::

    [PREFIX/]logs/<pipelinerun>/<task>/<batch object>      log batches (the writer)
    [PREFIX/]artifacts/<pipelinerun>/<task>/<name>.tgz     results (KFP-on-Tekton contract)
    [PREFIX/]status/<pipelinerun>/<task>/status.json       a step's outcome (``objlog run``)

The ``artifacts/<pipelinerun>/<task>/<name>.tgz`` form is the one Kubeflow
Pipelines on Tekton reads (kfp-tekton ``metadata_writer.py``,
``FindObjectStoreArtifactKeyOrEmpty``).
"""

from __future__ import annotations

import datetime as _dt
import itertools
import os
import re
import secrets
import time
from collections.abc import Callable
from typing import NamedTuple

from objlog.errors import ConfigError

__all__ = [
    "ARTIFACTS",
    "LOGS",
    "MAX_KEY_BYTES",
    "MAX_SEGMENT_BYTES",
    "STATUS",
    "STATUS_NAME",
    "KeyParts",
    "artifact_key",
    "artifacts_prefix",
    "check_key_length",
    "join_key",
    "logs_prefix",
    "parse_key",
    "parse_status_key",
    "status_key",
    "status_prefix",
    "validate_segment",
]

LOGS = "logs"
ARTIFACTS = "artifacts"
#: The area of status objects: its own, so no listing of log batches ever holds one.
STATUS = "status"
#: The last segment of a status key (`parse_batch_key` rejects it: no timestamp).
STATUS_NAME = "status.json"

# Refused in names, because they break or spoof listings, terminals and consoles:
# control characters (C0, DEL, C1); bidi controls (U+061C, U+200E/F, U+202A-202E,
# U+2066-2069: "Trojan Source", CVE-2021-42574); zero-width characters (U+200B-200D,
# U+2060, U+FEFF), which make two different names look the same; and the Unicode
# line and paragraph separators (U+2028, U+2029).
_FORBIDDEN = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff]"
)
#: S3's limit on a key: 1,024 bytes of its UTF-8 encoding (AWS S3 User Guide, "Naming objects").
MAX_KEY_BYTES = 1024
#: The most UTF-8 bytes of one name (a quarter of `MAX_KEY_BYTES`).
MAX_SEGMENT_BYTES = 256


def validate_segment(value: str, what: str) -> str:
    """
    Check that `value` can be one segment of a key and return it.

    Args:
        value: A pipelinerun, task or result name.
        what: What it is, for the message (e.g. ``"pipelinerun"``).

    Returns:
        `value` unchanged.

    Raises:
        ConfigError: (a ValueError) not a str; empty, ``.`` or ``..``; holds
            ``/`` or ``\\``; cannot be encoded as UTF-8 (a lone surrogate such
            as ``"\\ud800"``); holds a character that breaks or spoofs
            listings: a C0 or C1 control or DEL, a bidi control (U+061C,
            U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), a zero-width
            character (U+200B-U+200D, U+2060, U+FEFF) or a line or paragraph
            separator (U+2028, U+2029); or is longer than `MAX_SEGMENT_BYTES`
            (256) UTF-8 bytes. The message shows the name with such
            characters escaped (its `repr`).

    Thread safety: pure; safe from any thread.
    """
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a string, got {type(value).__name__}")
    if not value:
        raise ConfigError(f"{what} must not be empty")
    if value in {".", ".."}:
        raise ConfigError(f"{what} must not be {value!r}")
    if "/" in value or "\\" in value:
        raise ConfigError(f"{what} {value!r} must not contain '/' or '\\' (it is one key segment)")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ConfigError(
            f"{what} {value!r} cannot be encoded as UTF-8 (it holds a lone surrogate)"
        ) from None
    bad = _FORBIDDEN.search(value)
    if bad is not None:
        raise ConfigError(
            f"{what} {value!r} must not contain {bad.group()!r} (U+{ord(bad.group()):04X}):"
            " control, bidi, zero-width and line-separator characters are refused"
        )
    if size > MAX_SEGMENT_BYTES:
        raise ConfigError(f"{what} must be at most {MAX_SEGMENT_BYTES} bytes in UTF-8")
    return value


def check_key_length(key: str, what: str = "key") -> str:
    """
    Check that `key` fits S3's key limit and return it.

    Args:
        key: A full key (the store's prefix included).
        what: What the key is, for the message (e.g. ``"result key"``).

    Returns:
        `key` unchanged.

    Raises:
        ConfigError: (a ValueError) `key` is longer than `MAX_KEY_BYTES`
            (1,024) bytes in UTF-8, S3's limit (AWS S3 User Guide, "Naming
            objects"), or cannot be encoded as UTF-8. The message gives the
            sizes and the key's first 64 characters, not the whole key.

    Thread safety: pure; safe from any thread.
    """
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise ConfigError(f"{what} {key[:64]!r}... cannot be encoded as UTF-8") from None
    if size > MAX_KEY_BYTES:
        raise ConfigError(
            f"{what} would be {size} bytes in UTF-8; S3 allows at most {MAX_KEY_BYTES}"
            f" (shorten the store prefix, pipelinerun, task or name): {key[:64]!r}..."
        )
    return key


def join_key(*parts: str) -> str:
    """
    Join key parts with ``/``, collapsing doubled slashes and dropping edge slashes.
    """
    return "/".join(seg for part in parts for seg in part.split("/") if seg)


def _area_prefix(prefix: str, area: str, pipelinerun: str | None, task: str | None) -> str:
    parts = [prefix, area]
    if pipelinerun is not None:
        parts.append(validate_segment(pipelinerun, "pipelinerun"))
        if task is not None:
            parts.append(validate_segment(task, "task"))
    elif task is not None:
        raise ConfigError("a task needs its pipelinerun")
    return join_key(*parts) + "/"


def logs_prefix(prefix: str, pipelinerun: str | None = None, task: str | None = None) -> str:
    """
    Return ``[PREFIX/]logs/[<pipelinerun>/[<task>/]]``, always ending in ``/``.

    Raises:
        ConfigError: A name fails `validate_segment`, or a task without pipelinerun.
    """
    return _area_prefix(prefix, LOGS, pipelinerun, task)


def artifacts_prefix(prefix: str, pipelinerun: str | None = None, task: str | None = None) -> str:
    """
    Return ``[PREFIX/]artifacts/[<pipelinerun>/[<task>/]]``, always ending in ``/``.

    Raises:
        ConfigError: A name fails `validate_segment`, or a task without pipelinerun.
    """
    return _area_prefix(prefix, ARTIFACTS, pipelinerun, task)


def artifact_key(prefix: str, pipelinerun: str, task: str, name: str) -> str:
    """
    Return ``[PREFIX/]artifacts/<pipelinerun>/<task>/<name>.tgz`` (KFP-on-Tekton contract).

    Raises:
        ConfigError: A name fails `validate_segment`, or the key is longer
            than S3's 1,024 bytes (`check_key_length`).

    Thread safety: pure; safe from any thread.
    """
    validate_segment(name, "result name")
    return check_key_length(
        artifacts_prefix(prefix, pipelinerun, task) + f"{name}.tgz", "result key"
    )


def status_prefix(prefix: str, pipelinerun: str | None = None) -> str:
    """
    Return ``[PREFIX/]status/[<pipelinerun>/]``, always ending in ``/``.

    Raises:
        ConfigError: `pipelinerun` fails `validate_segment`.

    Thread safety: pure; safe from any thread.
    """
    return _area_prefix(prefix, STATUS, pipelinerun, None)


def status_key(prefix: str, pipelinerun: str, task: str) -> str:
    """
    Return ``[PREFIX/]status/<pipelinerun>/<task>/status.json``, a step's outcome.

    Where ``objlog run`` keeps the task's status (`objlog._status`).

    One object per task, overwritten as the step goes (running, then
    finished). It lives in an area of its own, beside ``logs/`` and
    ``artifacts/``, so listing a task's log batches never returns it; its
    name has no batch timestamp either, so `parse_batch_key` rejects it.

    Raises:
        ConfigError: A name fails `validate_segment`, or the key is longer
            than S3's 1,024 bytes (`check_key_length`).

    Thread safety: pure; safe from any thread.
    """
    key = _area_prefix(prefix, STATUS, pipelinerun, task) + STATUS_NAME
    return check_key_length(key, "status key")


def parse_status_key(prefix: str, key: str) -> tuple[str, str] | None:
    """
    Return ``(pipelinerun, task)`` of a key made by `status_key`, or None for any other key.

    Thread safety: pure; safe from any thread.
    """
    head = join_key(prefix, STATUS) + "/"
    if not key.startswith(head):
        return None
    parts = key[len(head) :].split("/")
    if len(parts) != 3 or parts[2] != STATUS_NAME:
        return None
    try:
        validate_segment(parts[0], "pipelinerun")
        validate_segment(parts[1], "task")
    except ConfigError:
        return None
    return parts[0], parts[1]


class KeyParts(NamedTuple):
    """
    The parts of a key under the layout, as `parse_key` finds them.

    Attributes:
        area: `LOGS` or `ARTIFACTS`.
        pipelinerun: The pipeline run name.
        task: The task name.
        name: The last segment: a batch object's name, or ``<name>.tgz``.
    """

    area: str
    pipelinerun: str
    task: str
    name: str


def parse_key(prefix: str, key: str) -> KeyParts | None:
    """
    Split a key made by this module back into its names (the inverse of the layout).

    Args:
        prefix: The store's prefix (as given to `logs_prefix`/`artifact_key`).
        key: A full key.

    Returns:
        The parts, or None when `key` is not ``[PREFIX/]<area>/<pr>/<task>/<name>``
        with valid names (`validate_segment`).

    Thread safety: pure; safe from any thread.
    """
    head = join_key(prefix)
    if head:
        if not key.startswith(head + "/"):
            return None
        key = key[len(head) + 1 :]
    parts = key.split("/")
    if len(parts) != 4 or parts[0] not in {LOGS, ARTIFACTS} or not parts[3]:
        return None
    try:
        validate_segment(parts[1], "pipelinerun")
        validate_segment(parts[2], "task")
    except ConfigError:
        return None
    return KeyParts(*parts)


# -- log batch keys (the writer) -------------------------------------------------

__all__ += [
    "SEQ_DIGITS",
    "BatchKey",
    "BatchNamer",
    "batch_key",
    "batch_listing_start",
    "batch_sealed_at",
    "batch_writer",
    "child_writer_id",
    "format_batch_timestamp",
    "longest_batch_key",
    "new_writer_id",
    "parse_batch_key",
    "validate_writer_id",
]
#
#     <logs prefix><UTC timestamp>-<writer id>-<sequence>.jsonl[.gz|.zst]
#     20261121T114030.123456Z-3f9a1c07d2p4242-00000017.jsonl.gz
#
# The timestamp is fixed width (microseconds, UTC) and never goes backwards
# within one writer, and the sequence is zero-padded, so one writer's keys
# sort lexically in the order its batches were sealed.

#: Width of the zero-padded batch sequence number.
SEQ_DIGITS = 8
_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_SEQ_LIMIT = 10**SEQ_DIGITS
_WRITER_ID_MAX = 80
_WRITER_ID = re.compile(r"[A-Za-z0-9_]{1,80}")
_BATCH_NAME = re.compile(
    r"(?P<timestamp>\d{8}T\d{6}\.\d{6}Z)-(?P<writer_id>[A-Za-z0-9_]{1,80})-(?P<seq>\d{8,})"
    r"(?P<suffix>\.[A-Za-z0-9.]+)"
)


def new_writer_id() -> str:
    """
    Return a fresh writer id: 40 random bits in hex, ``p``, and the process id.

    Unique across hosts, processes, restarts and forks in practice (the random
    part alone makes a clash between two writers about 1 in 10**12; the pid
    separates writers started in the same instant on one host).

    Thread safety: safe from any thread.
    """
    return f"{secrets.token_hex(5)}p{os.getpid()}"


def child_writer_id(base: str) -> str:
    """
    Return the id of a forked child of the writer with fixed id `base`.

    ``<base>_<new_writer_id()>``, with `base` cut short so that the result
    stays within the 80 characters a writer id (and `parse_batch_key`) allows.

    Thread safety: safe from any thread.
    """
    fresh = new_writer_id()
    room = _WRITER_ID_MAX - len(fresh) - 1
    return f"{base[:room]}_{fresh}"


def validate_writer_id(value: str) -> str:
    """
    Check a caller-chosen writer id and return it.

    Raises:
        ConfigError: Not 1 to 80 characters of ``A-Z a-z 0-9 _`` (a ``-``
            would make the batch name ambiguous).
    """
    if not isinstance(value, str) or not _WRITER_ID.fullmatch(value):
        raise ConfigError(
            f"writer id {value!r} must be 1 to 80 characters of A-Z, a-z, 0-9 and '_'"
        )
    return value


def format_batch_timestamp(epoch_us: int) -> str:
    """
    Format microseconds since the epoch as ``YYYYmmddTHHMMSS.ffffffZ`` (UTC, 23 characters).
    """
    return (_EPOCH + _dt.timedelta(microseconds=epoch_us)).strftime(_TIMESTAMP_FORMAT)


def batch_key(logs_prefix: str, epoch_us: int, writer_id: str, seq: int, suffix: str) -> str:
    """
    Return ``<logs_prefix><timestamp>-<writer_id>-<seq>``+`suffix`.

    Args:
        logs_prefix: From `logs_prefix`, ending in ``/``.
        epoch_us: Seal time, microseconds since the epoch (UTC).
        writer_id: From `new_writer_id` or `validate_writer_id`.
        seq: Batch number of this writer, >= 0, zero-padded to 8 digits.
        suffix: ``.jsonl``, ``.jsonl.gz`` or ``.jsonl.zst``.
    """
    stamp = format_batch_timestamp(epoch_us)
    return f"{logs_prefix}{stamp}-{writer_id}-{seq:0{SEQ_DIGITS}d}{suffix}"


def longest_batch_key(logs_prefix: str, suffix: str) -> str:
    """
    Return a key as long as the longest `batch_key` a writer on `logs_prefix` can make.

    For `check_key_length` when a writer is built: a batch name is a fixed
    23-character timestamp, a writer id of at most 80 characters (the widest
    `validate_writer_id` and `child_writer_id` allow; a random id is shorter),
    a sequence of exactly `SEQ_DIGITS` digits (`BatchNamer` wraps it before it
    grows wider) and `suffix`.

    Args:
        logs_prefix: From `logs_prefix`, ending in ``/``.
        suffix: The codec's key suffix, ``.jsonl``, ``.jsonl.gz`` or ``.jsonl.zst``.

    Returns:
        ``<logs_prefix><timestamp>-<80 x "w">-<99999999><suffix>``.

    Thread safety: pure; safe from any thread.
    """
    widest_id = "w" * _WRITER_ID_MAX
    return batch_key(logs_prefix, 0, widest_id, _SEQ_LIMIT - 1, suffix)


class BatchKey(NamedTuple):
    """
    The parts of a writer's batch key, as `parse_batch_key` finds them.

    A named tuple, so ``(timestamp, writer_id, seq, suffix)`` unpacking and
    comparison with a plain tuple keep working.

    Attributes:
        timestamp: The seal time as written in the key, ``YYYYmmddTHHMMSS.ffffffZ`` (UTC).
        writer_id: The writer's id.
        seq: The writer's batch number (>= 0).
        suffix: The codec's key suffix, e.g. ``.jsonl.gz``.
    """

    timestamp: str
    writer_id: str
    seq: int
    suffix: str

    @property
    def sealed_at(self) -> _dt.datetime:
        """The seal time as an aware UTC datetime (microsecond precision)."""
        return _dt.datetime.strptime(self.timestamp, _TIMESTAMP_FORMAT).replace(
            tzinfo=_dt.timezone.utc
        )

    @property
    def epoch_us(self) -> int:
        """The seal time in microseconds since the epoch (what `batch_key` was given)."""
        return (self.sealed_at - _EPOCH) // _dt.timedelta(microseconds=1)


def parse_batch_key(key: str) -> BatchKey | None:
    """
    Split a batch key's last segment into its `BatchKey` parts.

    Args:
        key: A full key or its last segment.

    Returns:
        The parts, or None when the key is not a writer's batch key (its
        timestamp must also be a real UTC time).

    Thread safety: pure; safe from any thread.
    """
    match = _BATCH_NAME.fullmatch(key.rsplit("/", 1)[-1])
    if match is None or _parse_timestamp(match["timestamp"]) is None:
        return None
    return BatchKey(match["timestamp"], match["writer_id"], int(match["seq"]), match["suffix"])


def _parse_timestamp(token: str) -> _dt.datetime | None:
    try:
        return _dt.datetime.strptime(token, _TIMESTAMP_FORMAT).replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def batch_writer(key: str) -> str:
    """
    Return the id of the writer that stored a batch, for grouping a listing by writer.

    The text between the first and the last ``-`` of the last segment: the
    writer id of every `batch_key`, and of keys of other shapes too
    (``<time>-<id>-<n><anything>``, from writers whose ids held dashes, such
    as host names).

    Args:
        key: A key under a logs prefix.

    Returns:
        The writer id, or `key` itself when the last segment has fewer than
        two dashes (such an object is a writer of its own).

    Thread safety: pure; safe from any thread.
    """
    name = key.rsplit("/", 1)[-1]
    first, last = name.find("-"), name.rfind("-")
    if first < 0 or first == last:
        return key
    return name[first + 1 : last]


def batch_sealed_at(key: str) -> _dt.datetime | None:
    """
    Return the seal time written at the start of a batch key's last segment.

    Tolerant like `batch_writer`: any key whose last segment starts with the
    timestamp and a ``-`` (or is only the timestamp) has one.

    Args:
        key: A key under a logs prefix.

    Returns:
        An aware UTC datetime, or None when the key carries no timestamp.

    Thread safety: pure; safe from any thread.
    """
    return _parse_timestamp(key.rsplit("/", 1)[-1].split("-", 1)[0])


def batch_listing_start(logs_prefix: str, sealed_at: _dt.datetime) -> str:
    """
    Return a ``start_after`` key that lists every batch sealed at or after a time.

    Every batch key under `logs_prefix` whose seal time is `sealed_at` or
    later sorts after the returned string (the timestamp is fixed width, so
    lexical order is time order); keys sealed earlier sort before it.

    Args:
        logs_prefix: From `logs_prefix`, ending in ``/``.
        sealed_at: An aware datetime (naive is taken as UTC).

    Returns:
        `logs_prefix` followed by the timestamp of `sealed_at`.

    Thread safety: pure; safe from any thread.
    """
    if sealed_at.tzinfo is None:
        sealed_at = sealed_at.replace(tzinfo=_dt.timezone.utc)
    return logs_prefix + sealed_at.astimezone(_dt.timezone.utc).strftime(_TIMESTAMP_FORMAT)


class BatchNamer:
    """
    Hand out one writer's batch keys, lexically increasing and unique.

    The timestamp is the wall clock at `next_key`, but never earlier than the
    previous key's (a clock stepped backwards by NTP would otherwise sort new
    batches before old ones). When the 8-digit sequence wraps, the timestamp
    is pushed one microsecond forward so order and uniqueness still hold.

    Args:
        logs_prefix: From `logs_prefix`, ending in ``/`` (the ``kfp`` layout),
            or a `TaskKeys` (any layout: `Layout.bind`).
        writer_id: This writer's id.
        suffix: ``.jsonl``, ``.jsonl.gz`` or ``.jsonl.zst``.
        wall_us: Microseconds since the epoch (default: `time.time_ns` // 1000).

    Thread safety: not thread-safe; the writer calls it under its lock.
    """

    __slots__ = ("_keys", "_last_us", "_seq", "_wall_us", "logs_prefix", "suffix", "writer_id")

    def __init__(
        self,
        logs_prefix: str | TaskKeys,
        writer_id: str,
        suffix: str,
        *,
        wall_us: Callable[[], int] | None = None,
    ) -> None:
        self._keys = logs_prefix if isinstance(logs_prefix, TaskKeys) else None
        self.logs_prefix = (
            logs_prefix.fixed_prefix() if isinstance(logs_prefix, TaskKeys) else logs_prefix
        )
        self.writer_id = writer_id
        self.suffix = suffix
        self._wall_us = wall_us or (lambda: time.time_ns() // 1000)
        self._last_us = -1
        self._seq = 0

    def next_key(self) -> str:
        """Return the next key: sorts after every key this namer returned before."""
        now = max(self._wall_us(), self._last_us, 0)
        if self._seq >= _SEQ_LIMIT:
            self._seq = 0
            now = max(now, self._last_us + 1)
        self._last_us = now
        if self._keys is not None:
            key = self._keys.key(now, self.writer_id, self._seq, self.suffix)
        else:
            key = batch_key(self.logs_prefix, now, self.writer_id, self._seq, self.suffix)
        self._seq += 1
        return key

    @property
    def last_us(self) -> int:
        """The key time of the last key `next_key` returned (-1 before the first)."""
        return self._last_us


# -- key layouts: templates over the names and times of a batch ------------------------

__all__ += [
    "DEFAULT_LAYOUT",
    "LAYOUT_FIELDS",
    "PRESETS",
    "Layout",
    "LayoutKey",
    "TaskKeys",
    "parse_layout",
]
#
# A layout is a template such as the `PRESETS`. The writer formats a batch's
# key from it when the batch opens; the reader walks it back: it lists the
# segments it cannot format (a date or an hour) with a delimiter, keeps those
# that match and fall in its time range, and lists the task's objects below.

#: The fields a template may use (`Layout`).
LAYOUT_FIELDS = ("prefix", "pipelinerun", "task", "date", "hour", "time", "writer_id", "seq", "ext")
#: Named layouts: ``kfp`` (objlog's own, the default) and ``hive`` (Hive-style
#: ``name=value`` partitions by UTC date and hour, which Athena, Trino, Spark and
#: DuckDB prune on).
PRESETS: dict[str, str] = {
    "kfp": "{prefix}/logs/{pipelinerun}/{task}/{time}-{writer_id}-{seq}{ext}",
    "hive": (
        "{prefix}/logs/dt={date}/hour={hour}/pipelinerun={pipelinerun}/task={task}"
        "/{time}-{writer_id}-{seq}{ext}"
    ),
}
#: The layout of a store that names none (``?layout=``, ``OBJLOG_LAYOUT``, ``layout=``).
DEFAULT_LAYOUT = "kfp"

# The text each field stands for, as a regular expression. Names are one key
# segment; the others are fixed width (or, for writer_id and ext, of a
# character set that holds no separator the templates need).
_FIELD_RE = {
    "pipelinerun": r"[^/]+",
    "task": r"[^/]+",
    "date": r"\d{4}-\d{2}-\d{2}",
    "hour": r"\d{2}",
    "time": r"\d{8}T\d{6}\.\d{6}Z",
    "writer_id": r"[A-Za-z0-9_]{1,80}",
    "seq": r"\d{8,}",
    "ext": r"\.[A-Za-z0-9.]+",
}
_NAME_FIELDS = ("pipelinerun", "task")
_BATCH_FIELDS = ("time", "writer_id", "seq", "ext")
# Areas of their own: a log template must not write into them.
_RESERVED_AREAS = (ARTIFACTS, STATUS)
_HOUR_US = 3600 * 10**6
_DAY_US = 24 * _HOUR_US

_Token = str | tuple[str]  # literal text, or (field name,)


def _split_template(template: str) -> list[list[_Token]]:
    """Split a template into segments of literal and field tokens; raise ConfigError."""
    import string

    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"layout template {template!r} is malformed: {exc}") from None
    segments: list[list[_Token]] = [[]]
    seen: set[str] = set()
    for literal, name, spec, conversion in parsed:
        pieces = literal.split("/")
        for n, piece in enumerate(pieces):
            if n:
                segments.append([])
            if piece:
                segments[-1].append(piece)
        if name is None:
            continue
        if name not in LAYOUT_FIELDS:
            raise ConfigError(
                f"layout template {template!r} uses unknown field {{{name}}};"
                f" known: {', '.join(LAYOUT_FIELDS)}"
            )
        if spec or conversion:
            raise ConfigError(f"layout template {template!r}: {{{name}}} takes no format spec")
        if name in seen:
            raise ConfigError(f"layout template {template!r} uses {{{name}}} twice")
        seen.add(name)
        segments[-1].append((name,))
    return segments


def _fields(segment: list[_Token]) -> list[str]:
    return [t[0] for t in segment if isinstance(t, tuple)]


class LayoutKey(NamedTuple):
    """
    A batch key taken apart by `Layout.parse`.

    Attributes:
        pipelinerun: The pipeline run name.
        task: The task name.
        timestamp: The batch's key time as written, ``YYYYmmddTHHMMSS.ffffffZ`` (UTC).
        writer_id: The writer's id.
        seq: The writer's batch number (>= 0).
        suffix: The codec's key suffix, e.g. ``.jsonl.gz``.
    """

    pipelinerun: str
    task: str
    timestamp: str
    writer_id: str
    seq: int
    suffix: str

    @property
    def epoch_us(self) -> int:
        """The key time in microseconds since the epoch."""
        when = _parse_timestamp(self.timestamp)
        assert when is not None  # `Layout.parse` checked it
        return (when - _EPOCH) // _dt.timedelta(microseconds=1)


class Layout:
    """
    A key layout: a template over `LAYOUT_FIELDS`, checked, formatted and parsed.

    The fields: ``prefix`` (the store URL's prefix; its segment is dropped
    when the prefix is empty, and a template without it gets ``{prefix}/``
    in front), ``pipelinerun``, ``task``, ``date`` (``YYYY-MM-DD``, UTC)
    and ``hour`` (``HH``) of the batch's key time, ``time`` (the key time,
    ``YYYYmmddTHHMMSS.ffffffZ``), ``writer_id``, ``seq`` (8 digits) and
    ``ext`` (``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst``). The key time is
    the wall clock when the batch opens (`BatchNamer`).

    A template must keep keys unique and, per writer, sorted in write order,
    and the reader must find a task's batches again, so it must:

    * use ``pipelinerun``, ``task``, ``time``, ``writer_id``, ``seq`` and
      ``ext``, each at most once, and no other name (no format specs);
    * end in a segment holding only ``time``, ``writer_id``, ``seq`` and
      ``ext`` with literal text, ``time`` first and ``ext`` last (the fixed
      width time then orders one writer's keys);
    * put ``date``, if any, before ``hour``, and ``hour`` only with ``date``;
    * start (after ``{prefix}/``) with a literal segment other than
      ``artifacts`` and ``status``, the areas of results and statuses;
    * hold at most one of ``pipelinerun`` and ``task`` per segment, and
      literal text between any two fields (before ``ext`` excepted);
    * have no empty, ``.`` or ``..`` segment, and no literal character
      `validate_segment` refuses.

    With ``date`` (and ``hour``), the layout has time partitions of a day
    (an hour): `partition_us`. The writer seals a batch at the end of its
    key time's partition, so a batch never spans two.

    Args:
        template: A template, or the name of a preset (`PRESETS`).

    Raises:
        ConfigError: (a ValueError) the template breaks a rule above; the
            message names the rule.

    Thread safety: immutable once built; share freely.
    """

    __slots__ = ("_area", "_segments", "_time_head", "name", "partition_us", "template")

    def __init__(self, template: str) -> None:
        if not isinstance(template, str):
            raise ConfigError(f"layout must be a preset name or a template, got {template!r}")
        text = template.strip()
        name = text.lower()
        if name in PRESETS:
            self.name: str | None = name
            text = PRESETS[name]
        elif "{" not in text:
            raise ConfigError(
                f"unknown layout {template!r}; use {' or '.join(PRESETS)}, or a template"
                " such as {prefix}/logs/{date}/{pipelinerun}/{task}/{time}-{writer_id}-{seq}{ext}"
            )
        else:
            self.name = None
        self.template = text
        segments = _split_template(text)
        if segments[0] == [("prefix",)]:
            segments = segments[1:]
        elif "prefix" in {f for seg in segments for f in _fields(seg)}:
            raise ConfigError(f"layout template {text!r}: {{prefix}} must be its first segment")
        self._check(text, segments)
        self._segments: tuple[tuple[_Token, ...], ...] = tuple(tuple(s) for s in segments)
        self._area = str(segments[0][0])
        last = segments[-1]
        self._time_head = "".join(str(t) for t in last[: last.index(("time",))])
        used = {f for seg in segments for f in _fields(seg)}
        self.partition_us: int | None = (
            _HOUR_US if "hour" in used else _DAY_US if "date" in used else None
        )

    @staticmethod
    def _check(text: str, segments: list[list[_Token]]) -> None:
        def bad(rule: str) -> ConfigError:
            return ConfigError(f"layout template {text!r}: {rule}")

        if not segments:
            raise bad("it holds no segment")
        used = [f for seg in segments for f in _fields(seg)]
        for need in (*_NAME_FIELDS, *_BATCH_FIELDS):
            if need not in used:
                why = "keys must stay unique" if need in ("writer_id", "seq") else "it is needed"
                raise bad(f"it must use {{{need}}} ({why})")
        for seg in segments:
            if not seg:
                raise bad("it has an empty segment ('//', or a '/' at an end)")
            for prev, tok in itertools.pairwise(seg):
                if isinstance(prev, tuple) and isinstance(tok, tuple) and tok != ("ext",):
                    raise bad(f"{{{prev[0]}}}{{{tok[0]}}} needs literal text between them")
            names = [f for f in _fields(seg) if f in _NAME_FIELDS]
            if len(names) > 1:
                raise bad("{pipelinerun} and {task} need a segment each")
            for tok in seg:
                if isinstance(tok, str):
                    bad_char = _FORBIDDEN.search(tok) or re.search(r"[\\{}]", tok)
                    if bad_char is not None:
                        raise bad(f"it holds the character {bad_char.group()!r}")
            if len(seg) == 1 and isinstance(seg[0], str):
                try:
                    validate_segment(seg[0], "layout segment")
                except ConfigError as exc:
                    raise bad(str(exc)) from None
        last = segments[-1]
        if set(_fields(last)) != set(_BATCH_FIELDS):
            raise bad("its last segment must hold {time}, {writer_id}, {seq} and {ext}, no more")
        if _fields(last)[0] != "time":
            raise bad("{time} must come before {writer_id} and {seq} (keys sort in write order)")
        if last[-1] != ("ext",):
            raise bad("{ext} must end it")
        for seg in segments[:-1]:
            if set(_fields(seg)) & set(_BATCH_FIELDS):
                raise bad("{time}, {writer_id}, {seq} and {ext} belong in the last segment")
        if not (len(segments[0]) == 1 and isinstance(segments[0][0], str)):
            raise bad("it must start with a literal area segment such as 'logs'")
        if segments[0][0] in _RESERVED_AREAS:
            raise bad(f"{segments[0][0]!r} is the area of results or statuses, not logs")
        if "hour" in used and ("date" not in used or used.index("hour") < used.index("date")):
            raise bad("{hour} needs {date} before it (keys sort by time)")

    def __repr__(self) -> str:
        return f"Layout({self.name or self.template!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layout) and other.template == self.template

    def __hash__(self) -> int:
        return hash(self.template)

    # -- formatting ---------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Segments below the store prefix, the batch name included."""
        return len(self._segments)

    @property
    def area(self) -> str:
        """The first segment below the store prefix (``logs`` for both presets)."""
        return self._area

    def segment_fields(self, index: int) -> tuple[str, ...]:
        """The fields of segment `index` (0 is the area, ``depth - 1`` the batch name)."""
        return tuple(_fields(list(self._segments[index])))

    def format_segment(self, index: int, values: dict[str, str]) -> str | None:
        """Segment `index` with `values` filled in, or None when a field has no value."""
        out = []
        for tok in self._segments[index]:
            if isinstance(tok, str):
                out.append(tok)
            elif tok[0] in values:
                out.append(values[tok[0]])
            else:
                return None
        return "".join(out)

    def match_segment(self, index: int, text: str) -> dict[str, str] | None:
        """
        Return the field values of segment `index` read from `text`, or None.

        Names (``pipelinerun``, ``task``) must pass `validate_segment`;
        ``date`` and ``hour`` must be a real date and hour.
        """
        pattern = "".join(
            re.escape(tok) if isinstance(tok, str) else f"(?P<{tok[0]}>{_FIELD_RE[tok[0]]})"
            for tok in self._segments[index]
        )
        match = re.fullmatch(pattern, text)
        if match is None:
            return None
        values = match.groupdict()
        try:
            for name in _NAME_FIELDS:
                if name in values:
                    validate_segment(values[name], name)
            if "date" in values:
                _dt.date.fromisoformat(values["date"])
        except (ConfigError, ValueError):
            return None
        if "hour" in values and int(values["hour"]) > 23:
            return None
        return values

    @staticmethod
    def time_values(epoch_us: int) -> dict[str, str]:
        """The ``date``, ``hour`` and ``time`` values of a key time (microseconds, UTC)."""
        stamp = format_batch_timestamp(epoch_us)
        return {
            "date": f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}",
            "hour": stamp[9:11],
            "time": stamp,
        }

    def format(
        self,
        prefix: str,
        *,
        pipelinerun: str,
        task: str,
        epoch_us: int,
        writer_id: str,
        seq: int,
        ext: str,
    ) -> str:
        """
        Return the key of a batch.

        Args:
            prefix: The store's prefix ("" for none).
            pipelinerun: The run's name (checked by `TaskKeys`, not here).
            task: The task's name.
            epoch_us: The batch's key time, microseconds since the epoch (UTC).
            writer_id: The writer's id.
            seq: The writer's batch number, >= 0, zero-padded to `SEQ_DIGITS`.
            ext: The codec's key suffix.

        Returns:
            The full key (no leading ``/``).

        Thread safety: pure.
        """
        values = {
            "pipelinerun": pipelinerun,
            "task": task,
            "writer_id": writer_id,
            "seq": f"{seq:0{SEQ_DIGITS}d}",
            "ext": ext,
            **self.time_values(epoch_us),
        }
        parts = [self.format_segment(i, values) for i in range(self.depth)]
        return join_key(prefix, *(p for p in parts if p is not None))

    def parse(self, prefix: str, key: str) -> LayoutKey | None:
        """
        Take a key made by `format` apart again (its inverse).

        Args:
            prefix: The store's prefix.
            key: A full key.

        Returns:
            The parts, or None when `key` is not a batch key of this layout
            under `prefix` (a ``date``/``hour`` that disagrees with ``time``
            counts as not one).

        Thread safety: pure.
        """
        head = join_key(prefix)
        if head:
            if not key.startswith(head + "/"):
                return None
            key = key[len(head) + 1 :]
        parts = key.split("/")
        if len(parts) != self.depth:
            return None
        values: dict[str, str] = {}
        for index, text in enumerate(parts):
            found = self.match_segment(index, text)
            if found is None:
                return None
            values.update(found)
        when = _parse_timestamp(values["time"])
        if when is None:
            return None
        expected = self.time_values((when - _EPOCH) // _dt.timedelta(microseconds=1))
        if any(values[f] != expected[f] for f in ("date", "hour") if f in values):
            return None
        return LayoutKey(
            values["pipelinerun"],
            values["task"],
            values["time"],
            values["writer_id"],
            int(values["seq"]),
            values["ext"],
        )

    def partition_span(self, values: dict[str, str]) -> tuple[int, int] | None:
        """
        The key times a partition holds, from its ``date`` (and ``hour``) values.

        Returns:
            ``(start_us, end_us)``, end exclusive, or None when `values` has no date.
        """
        if "date" not in values:
            return None
        day = _dt.datetime.fromisoformat(values["date"]).replace(tzinfo=_dt.timezone.utc)
        start = (day - _EPOCH) // _dt.timedelta(microseconds=1)
        if "hour" in values:
            start += int(values["hour"]) * _HOUR_US
            return start, start + _HOUR_US
        return start, start + _DAY_US

    def partition_end_us(self, epoch_us: int) -> int | None:
        """The end (exclusive) of key time `epoch_us`'s partition; None without partitions."""
        if self.partition_us is None:
            return None
        return (epoch_us // self.partition_us + 1) * self.partition_us

    def listing_start(self, directory: str, when: _dt.datetime) -> str:
        """
        Return a ``start_after`` for `directory` (a batch directory) from key time `when` on.

        Every batch key in `directory` whose key time is `when` or later sorts
        after it (its name starts with fixed literal text, then the time).
        """
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        stamp = when.astimezone(_dt.timezone.utc).strftime(_TIMESTAMP_FORMAT)
        return directory + self._time_head + stamp

    def bind(self, prefix: str, pipelinerun: str, task: str) -> TaskKeys:
        """
        Return the keys of one task's batches under this layout.

        Raises:
            ConfigError: A name fails `validate_segment`.
        """
        return TaskKeys(self, prefix, pipelinerun, task)


def parse_layout(layout: str | Layout | None) -> Layout:
    """
    Return a `Layout` from a preset name, a template, a `Layout`, or None (`DEFAULT_LAYOUT`).

    Raises:
        ConfigError: Not a preset and not a valid template (see `Layout`).

    Thread safety: pure.
    """
    if isinstance(layout, Layout):
        return layout
    return _cached_layout(DEFAULT_LAYOUT if layout is None else layout)


_LAYOUT_CACHE: dict[str, Layout] = {}


def _cached_layout(text: str) -> Layout:
    found = _LAYOUT_CACHE.get(text) if isinstance(text, str) else None
    if found is None:
        found = Layout(text)
        if len(_LAYOUT_CACHE) < 64:  # a few templates per process; bounded all the same
            _LAYOUT_CACHE[text] = found
    return found


class TaskKeys:
    """
    The batch keys of one task: a `Layout` bound to a store prefix, a run and a task.

    Args:
        layout: The layout.
        prefix: The store's prefix.
        pipelinerun: The run's name.
        task: The task's name.

    Raises:
        ConfigError: A name fails `validate_segment`.

    Thread safety: immutable; share freely.
    """

    __slots__ = ("layout", "pipelinerun", "prefix", "task")

    def __init__(self, layout: Layout, prefix: str, pipelinerun: str, task: str) -> None:
        self.layout = layout
        self.prefix = join_key(prefix)
        self.pipelinerun = validate_segment(pipelinerun, "pipelinerun")
        self.task = validate_segment(task, "task")

    def key(self, epoch_us: int, writer_id: str, seq: int, ext: str) -> str:
        """The key of a batch (see `Layout.format`)."""
        return self.layout.format(
            self.prefix,
            pipelinerun=self.pipelinerun,
            task=self.task,
            epoch_us=epoch_us,
            writer_id=writer_id,
            seq=seq,
            ext=ext,
        )

    def fixed_prefix(self) -> str:
        """
        The part every key of this task starts with, ending in ``/``.

        ``logs/<pipelinerun>/<task>/`` under ``kfp``; ``logs/`` under
        ``hive``, whose keys start with the partition.
        """
        values = {"pipelinerun": self.pipelinerun, "task": self.task}
        parts = [self.prefix]
        for index in range(self.layout.depth - 1):
            text = self.layout.format_segment(index, values)
            if text is None:
                break
            parts.append(text)
        return join_key(*parts) + "/"

    def describe(self) -> str:
        """
        The task's batch directory for messages: ``*`` stands for a date or an hour.

        ``logs/run-1/task-a/`` under ``kfp``;
        ``logs/dt=*/hour=*/pipelinerun=run-1/task=task-a/`` under ``hive``.
        """
        values = {"pipelinerun": self.pipelinerun, "task": self.task, "date": "*", "hour": "*"}
        parts = [self.layout.format_segment(i, values) for i in range(self.layout.depth - 1)]
        return join_key(self.prefix, *(p or "*" for p in parts)) + "/"

    def longest_key(self, ext: str) -> str:
        """A key as long as the longest this task's writers can make (for `check_key_length`)."""
        return self.key(0, "w" * _WRITER_ID_MAX, _SEQ_LIMIT - 1, ext)
