"""
What ``objlog spool ls|retry|drop`` does: list, re-queue and remove spooled batches (private).

A spool (`objlog._spool`) holds each live or dead writer's pending batches in
its own directory, and the batches the store refused for good in ``.dead/``
with their reason (`objlog._engine.pipeline`). This module reads that layout
through `objlog._spool` only, so a new batch file kind there is listed here
as soon as `objlog._spool.is_batch_file` knows it.

Which spool: a directory given, else the one ``objlog run`` and the writers
use for ``--store URL`` (`objlog._run.default_spool_dir`), else every store's
spool under ``$OBJLOG_SPOOL_DIR`` (a root: one subdirectory per store URL).

Nothing here prints or stores a credential: batch keys, file paths and the
reasons' messages (store errors are scrubbed where they are made) only.

Thread safety: functions of one command run; no state is shared.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from objlog import _spool
from objlog.errors import ConfigError, SpoolCorruptError, StoreError
from objlog.typing import ObjectStore

__all__ = [
    "SpooledBatch",
    "drop",
    "list_batches",
    "resolve_spools",
    "retry",
    "select_dead",
    "upload",
    "upload_all",
]

#: States of a listed batch.
PENDING_ALIVE = "pending"  # in a live writer's directory: it uploads it
PENDING_DEAD = "orphaned"  # in a dead writer's directory: the next writer recovers it
DEAD = "dead"  # refused by the store for good, in .dead/


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SpooledBatch:
    """
    One batch file of a spool, as ``objlog spool ls`` shows it.

    Attributes:
        spool: The spool directory.
        path: The batch file.
        key: The object key it is for ("" when its header is unreadable).
        state: ``"pending"`` (a live writer's), ``"orphaned"`` (a dead
            writer's: the next writer on the spool recovers it) or
            ``"dead"`` (refused by the store for good).
        size_bytes: Bytes of its records (uncompressed), from its header.
        records: Number of records.
        age: Seconds since the file was written (its modification time).
        reason: Why it is dead (``"Error: message"``), or "".
    """

    spool: Path
    path: Path
    key: str
    state: str
    size_bytes: int
    records: int
    age: float
    reason: str

    def as_json(self) -> dict[str, object]:
        """Return the machine form of ``objlog spool ls --json``: one JSON object."""
        return {
            "spool": str(self.spool),
            "path": str(self.path),
            "key": self.key,
            "state": self.state,
            "size_bytes": self.size_bytes,
            "records": self.records,
            "age_seconds": round(self.age, 3),
            "reason": self.reason,
        }


def resolve_spools(spool_dir: str | None, store_url: str | None) -> list[Path]:
    """
    Return the spool directories a command acts on.

    Args:
        spool_dir: A spool directory given on the command line, or None.
        store_url: ``--store URL``: the spool the writers and ``objlog run``
            use for that store (`objlog._run.default_spool_dir`).

    Returns:
        One directory, or each store's spool under ``$OBJLOG_SPOOL_DIR``
        (none when it is empty or missing).

    Raises:
        ConfigError: Neither a directory, nor ``--store``, nor
            ``OBJLOG_SPOOL_DIR`` says which spool.
    """
    from objlog._settings import env_spool_root

    if spool_dir:
        return [Path(spool_dir).expanduser()]
    if store_url:
        from objlog._run import default_spool_dir

        return [default_spool_dir(store_url)]
    root = env_spool_root()
    if root is None:
        raise ConfigError(
            "which spool? give SPOOL_DIR, or --store URL for the spool the writers of that"
            " store use, or set OBJLOG_SPOOL_DIR"
        )
    if not root.is_dir() or _is_spool(root):
        return [root]
    return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


def _is_spool(path: Path) -> bool:
    """Whether `path` is one spool (writers' directories or dead letters), not a root of many."""
    return (path / _spool.DEAD_DIR).is_dir() or bool(_spool.writer_dirs(path))


def list_batches(spool: Path, *, now: Callable[[], float] = time.time) -> list[SpooledBatch]:
    """
    List the pending and dead-lettered batches of one spool.

    Args:
        spool: The spool directory.
        now: Wall-clock seconds (ages are from file modification times).

    Returns:
        Pending batches by writer directory and name, then dead-lettered
        ones by name (names start with the seal time).

    Raises:
        OSError: The spool cannot be listed.
    """
    found: list[SpooledBatch] = []
    for directory, alive in _spool.writer_dirs(spool):
        state = PENDING_ALIVE if alive else PENDING_DEAD
        found.extend(_describe(spool, p, state, now()) for p in _batch_files(directory))
    found.extend(_describe(spool, p, DEAD, now()) for p in _batch_files(spool / _spool.DEAD_DIR))
    return found


def _batch_files(directory: Path) -> list[Path]:
    try:
        names = sorted(p.name for p in directory.iterdir())
    except FileNotFoundError:
        return []  # a writer closed (and removed its directory) meanwhile, or no dead letters
    return [directory / n for n in names if _spool.is_batch_file(n)]


def _describe(spool: Path, path: Path, state: str, now: float) -> SpooledBatch:
    reason = ""
    try:
        entry = _spool.read_entry(path)
        key, size, records = entry.key, entry.raw_bytes, entry.records
    except (SpoolCorruptError, OSError) as exc:
        key, size, records = "", 0, 0
        reason = f"unreadable: {exc}"
    if state == DEAD:
        why = _spool.read_reason(path)
        if why:
            reason = f"{why.get('error', '?')}: {why.get('message', '')}"
        key = key or str(why.get("key", ""))
    try:
        age = max(0.0, now - path.stat().st_mtime)
    except OSError:
        age = 0.0
    return SpooledBatch(
        spool=spool,
        path=path,
        key=key,
        state=state,
        size_bytes=size,
        records=records,
        age=age,
        reason=reason,
    )


def select_dead(spools: Sequence[Path], keys: Sequence[str], *, all_: bool) -> list[SpooledBatch]:
    """
    Return the dead-lettered batches named by `keys` (or all of them).

    Args:
        spools: The spool directories.
        keys: Object keys, or batch file names as ``ls`` shows them.
        all_: Every dead-lettered batch (`keys` must then be empty).

    Returns:
        The batches, in listing order.

    Raises:
        ConfigError: Neither keys nor `all_`, both, or a key that names no
            dead-lettered batch (nothing is changed then).
    """
    if all_ == bool(keys):
        raise ConfigError("name the batches: KEY... or --all (not both)")
    dead = [b for spool in spools for b in list_batches(spool) if b.state == DEAD]
    if all_:
        return dead
    wanted = set(keys)
    chosen = [b for b in dead if b.key in wanted or b.path.name in wanted]
    missing = wanted - {b.key for b in chosen} - {b.path.name for b in chosen}
    if missing:
        raise ConfigError(f"no dead-lettered batch with key {sorted(missing)[0]!r} (see: spool ls)")
    return chosen


def retry(batches: Sequence[SpooledBatch]) -> list[Path]:
    """
    Re-queue dead-lettered batches: the next writer started on their spool uploads them.

    Returns:
        The new directory per spool (see `objlog._spool.requeue`).

    Raises:
        OSError: A file could not be moved (those moved before stay queued).
    """
    by_spool: dict[Path, list[Path]] = {}
    for b in batches:
        by_spool.setdefault(b.spool, []).append(b.path)
    return [_spool.requeue(spool, paths) for spool, paths in by_spool.items()]


def upload(store: ObjectStore, batch: SpooledBatch) -> None:
    """
    Upload one dead-lettered batch under its original key now, then remove its files.

    Encoded as the writer would have (codec and level from the file's
    header, ``objlog-records`` metadata).

    Raises:
        StoreError: The store refused it (it stays dead-lettered).
        SpoolCorruptError: The file fails its checksum (it stays).
        OSError: It cannot be read.
    """
    from objlog._codec import encoding_for
    from objlog._engine.encoder import encode

    entry = _spool.read_entry(batch.path)
    body, lines = encode(_spool.Spool.read(batch.path), entry.compression, entry.compresslevel)
    encoding = encoding_for(entry.compression)
    store.put_object(
        entry.key,
        body,
        content_type=encoding.content_type,
        content_encoding=encoding.content_encoding,
        metadata={"objlog-records": str(lines)},
    )
    _remove(batch.path)


def drop(batches: Sequence[SpooledBatch]) -> int:
    """
    Delete dead-lettered batches and their reasons.

    Returns:
        How many were deleted (one already gone counts too).

    Raises:
        OSError: A file could not be deleted (those before are gone).
    """
    for b in batches:
        _remove(b.path)
    return len(batches)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    _spool.reason_path(path).unlink(missing_ok=True)


def upload_all(
    store: ObjectStore, batches: Sequence[SpooledBatch]
) -> list[tuple[SpooledBatch, Exception]]:
    """
    `upload` each batch; return those that failed, with why (they stay dead-lettered).

    Thread safety: one command's thread.
    """
    failed: list[tuple[SpooledBatch, Exception]] = []
    for b in batches:
        try:
            upload(store, b)
        except (StoreError, SpoolCorruptError, OSError) as exc:
            failed.append((b, exc))
    return failed
