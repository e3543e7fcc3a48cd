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
        logs_prefix: From `logs_prefix`, ending in ``/``.
        writer_id: This writer's id.
        suffix: ``.jsonl``, ``.jsonl.gz`` or ``.jsonl.zst``.
        wall_us: Microseconds since the epoch (default: `time.time_ns` // 1000).

    Thread safety: not thread-safe; the writer calls it under its lock.
    """

    __slots__ = ("_last_us", "_seq", "_wall_us", "logs_prefix", "suffix", "writer_id")

    def __init__(
        self,
        logs_prefix: str,
        writer_id: str,
        suffix: str,
        *,
        wall_us: Callable[[], int] | None = None,
    ) -> None:
        self.logs_prefix = logs_prefix
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
        key = batch_key(self.logs_prefix, now, self.writer_id, self._seq, self.suffix)
        self._seq += 1
        return key
