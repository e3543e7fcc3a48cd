"""
A local directory as an object store (the embedded default, and ``file:///DIR``).

Layout under the store directory ``DIR``::

    DIR/<key>                      the object's bytes; "/" in a key is a directory
    DIR/.objlog/meta/<key>         a JSON sidecar: content type and encoding,
                                   user metadata, SHA-256, MD5
    DIR/.objlog/tmp/               temp files while writing (never listed)

So the objects can be read with ordinary tools. Writes are atomic: the
bytes go to a temp file, are fsynced and moved in place with `os.replace`,
so a reader sees the old object or the new one, never a partial one.

Keys must be relative and stay inside ``DIR``: an empty, ``.`` or ``..``
segment, a leading ``/``, a NUL byte, a first segment ``.objlog``
(reserved) or a segment longer than 255 bytes raise `InvalidKeyError` (a
`PermanentStoreError` and a `ValueError`). A filesystem cannot hold both
``a`` and ``a/b``; writing one while the other exists raises
`PermanentStoreError` with reason ``KeyConflict`` (objlog's own key layout
never does that).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import io
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from objlog._streams import fsync_dir
from objlog.config import StoreConfig
from objlog.errors import (
    ConfigError,
    InvalidKeyError,
    ObjectNotFoundError,
    PermanentStoreError,
    StoreError,
    TransientStoreError,
)
from objlog.stores._common import ObjectHeaders, StoreBase, check_digests, common_prefixes
from objlog.typing import BodyDigests, ObjectInfo, ObjectRef

__all__ = ["InvalidKeyError", "LocalStore"]

_RESERVED = ".objlog"
_CHUNK = 1024 * 1024
_STALE_TEMP_AGE = 3600.0
_TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EAGAIN, errno.EINTR, errno.EDQUOT}
_DENIED_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}


def _split_key(key: str) -> list[str]:
    """
    Return the path segments of `key`, or raise if a local store cannot hold it.

    Raises:
        InvalidKeyError: Empty, over 1024 bytes (S3 limit), a NUL byte, a
            leading "/", an empty, "." or ".." segment, a segment over 255
            bytes (filesystem limit), or the reserved first segment ``.objlog``.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKeyError("invalid key: must be a non-empty string", key=str(key))
    if len(key.encode("utf-8", "surrogatepass")) > 1024:
        raise InvalidKeyError(
            "invalid key: longer than 1024 bytes (S3 limit)", key=key, reason="InvalidKey"
        )
    if "\x00" in key:
        raise InvalidKeyError("invalid key: contains a NUL byte", key=key, reason="InvalidKey")
    if key.startswith("/"):
        raise InvalidKeyError(
            "invalid key for a local store: keys are relative (no leading '/')",
            key=key,
            reason="InvalidKey",
        )
    segments = key.split("/")
    for segment in segments:
        if segment in {"", ".", ".."}:
            raise InvalidKeyError(
                "invalid key for a local store: empty, '.' or '..' segments "
                "would leave or alias the store directory",
                key=key,
                reason="InvalidKey",
            )
        if len(segment.encode("utf-8", "surrogatepass")) > 255:
            raise InvalidKeyError(
                "invalid key for a local store: a segment is longer than 255 bytes",
                key=key,
                reason="InvalidKey",
            )
    if segments[0] == _RESERVED:
        raise InvalidKeyError(
            f"invalid key: {_RESERVED}/ is reserved for the store's own files",
            key=key,
            reason="InvalidKey",
        )
    return segments


def _os_error(exc: OSError, message: str, key: str | None) -> StoreError:
    """Map a filesystem error to objlog's tree (denied, transient, key conflict)."""
    code = exc.errno
    detail = os.strerror(code) if code is not None else type(exc).__name__
    if code in _DENIED_ERRNOS:
        return PermanentStoreError(f"{message}: {detail}", key=key, reason="AccessDenied")
    if code in _TRANSIENT_ERRNOS:
        return TransientStoreError(f"{message}: {detail}", key=key, reason="LocalIOError")
    if code in {errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENOTEMPTY}:
        return PermanentStoreError(
            f"{message}: a key and a longer key below it cannot both exist in a local store",
            key=key,
            reason="KeyConflict",
        )
    return PermanentStoreError(f"{message}: {detail}", key=key, reason="LocalIOError")


def _fsync_dir(path: Path) -> None:
    """Persist a rename in `path` (best effort: not every filesystem allows it)."""
    with contextlib.suppress(OSError):
        fsync_dir(path)


def _holds_object(directory: Path) -> bool:
    """Whether any file lies below `directory` (S3 lists no empty prefixes)."""
    stack = [directory]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                return True
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
    return False


def _prune(directory: Path, top: Path) -> None:
    """Remove `directory` and its parents below `top` while they are empty."""
    while directory != top and top in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


class LocalStore(StoreBase):
    """
    Keep objects as files in a directory (see the module docstring for the layout).

    The directory is created on the first write; reading or listing a store
    whose directory does not exist yet finds nothing.

    Methods behave as `ObjectStore` says; their docstrings add what is
    local. Besides the protocol's errors, any method taking a key raises
    `InvalidKeyError` for a key that cannot be a file in the directory;
    permission denied is a `PermanentStoreError` (``AccessDenied``), a full
    disk or an I/O error a `TransientStoreError` (``LocalIOError``).

    Args:
        directory: The store directory (made absolute).
        prefix: Key prefix callers prepend (default ""), as from a store URL.

    Thread safety: every method may be called from any thread; writes to one
    key from several processes are atomic, the last one wins.
    """

    def __init__(self, directory: str | os.PathLike[str], *, prefix: str = "") -> None:
        self._root = Path(directory).expanduser().absolute()
        self._prefix = prefix.strip("/")
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: StoreConfig) -> LocalStore:
        """
        Build the store a ``file`` `StoreConfig` describes (its directory and prefix).

        Raises:
            ConfigError: `config` is not a ``file`` config.
        """
        if config.kind != "file":
            raise ConfigError("LocalStore needs a file:// store config")
        return cls(config.directory, prefix=config.prefix)

    # -- ObjectStore properties -----------------------------------------------
    @property
    def bucket(self) -> str:
        """Always "" (a directory has no bucket)."""
        return ""

    @property
    def prefix(self) -> str:
        """Key prefix, no leading or trailing "/"."""
        return self._prefix

    @property
    def url(self) -> str:
        """``file:///DIR``."""
        return self._root.as_uri()

    @property
    def directory(self) -> Path:
        """The store directory (absolute)."""
        return self._root

    def __repr__(self) -> str:
        return f"LocalStore(url={self.url!r}, prefix={self._prefix!r})"

    # -- paths ------------------------------------------------------------------

    def _data_path(self, key: str) -> Path:
        return self._root.joinpath(*_split_key(key))

    def _meta_path(self, key: str) -> Path:
        return self._root.joinpath(_RESERVED, "meta", *_split_key(key))

    # -- writing ----------------------------------------------------------------
    def _store_body(
        self, key: str, body: bytes, headers: ObjectHeaders, digests: BodyDigests | None
    ) -> ObjectRef:
        """
        Store `body` atomically (temp file, fsync, `os.replace`).

        Content headers and metadata go to the sidecar; the ETag is the MD5.
        The body is hashed while written, `digests` or not. A key beside a
        longer key below it (``a`` and ``a/b``) is a `PermanentStoreError`
        with reason ``KeyConflict``.
        """
        return self._write(key, io.BytesIO(body), headers, digests)

    def _store_stream(
        self, key: str, stream: BinaryIO, headers: ObjectHeaders, size_bytes: int | None
    ) -> ObjectRef:
        """Copy `stream` to EOF into `key` 1 MiB at a time (`size_bytes` unused)."""
        return self._write(key, stream, headers, None)

    def _write(
        self, key: str, stream: BinaryIO, headers: ObjectHeaders, digests: BodyDigests | None
    ) -> ObjectRef:
        data_path = self._data_path(key)
        meta_path = self._meta_path(key)
        tmp_dir = self._root / _RESERVED / "tmp"
        sha = hashlib.sha256()
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        tmp = tmp_dir / f"{uuid.uuid4().hex}.tmp"
        meta_tmp = tmp_dir / f"{uuid.uuid4().hex}.meta.tmp"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            with open(tmp, "xb") as out:
                while chunk := stream.read(_CHUNK):
                    out.write(chunk)
                    sha.update(chunk)
                    md5.update(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
                inode = os.fstat(out.fileno()).st_ino
            digest = sha.hexdigest()
            check_digests(digests, md5.digest(), digest, bucket="", key=key)
            sidecar = {
                "inode": inode,
                "size": size,
                "md5": md5.hexdigest(),
                "content_type": headers.content_type,
                "content_encoding": headers.content_encoding or "",
                "metadata": dict(headers.with_sha256(digest).metadata),
            }
            with open(meta_tmp, "x", encoding="utf-8") as out:
                json.dump(sidecar, out, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            with self._lock:
                # Sidecar first: a reader that sees the new bytes also sees their
                # sidecar; a stale sidecar is detected by its inode (see _sidecar).
                self._replace(meta_tmp, meta_path)
                self._replace(tmp, data_path)
            _fsync_dir(data_path.parent)
        except OSError as exc:
            raise _os_error(exc, "cannot write object", key) from exc
        finally:
            for leftover in (tmp, meta_tmp):
                with contextlib.suppress(OSError):
                    leftover.unlink()
        return ObjectRef(
            bucket="", key=key, size=size, sha256=digest, etag=md5.hexdigest(), parts=1
        )

    def _replace(self, src: Path, dst: Path) -> None:
        # A concurrent delete may prune the parent between mkdir and replace.
        for attempt in range(5):
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                src.replace(dst)
                return
            except FileNotFoundError:
                if attempt == 4 or not src.exists():
                    raise

    # -- reading ------------------------------------------------------------------
    def _not_found(self, key: str) -> ObjectNotFoundError:
        return ObjectNotFoundError("no such key", key=key, reason="NoSuchKey")

    def get_object(self, key: str, *, byte_range: tuple[int, int] | None = None) -> bytes:
        """Return the bytes or an inclusive byte range; see `ObjectStore.get_object`."""
        if byte_range is not None:
            first, last = byte_range
            if first < 0 or last < first:
                raise PermanentStoreError(
                    f"invalid byte range {first}-{last}", key=key, reason="InvalidRange"
                )
        with self._open(key) as f:
            if byte_range is None:
                return f.read()
            size = os.fstat(f.fileno()).st_size
            if first >= size:
                raise PermanentStoreError(
                    f"byte range {first}-{last} starts beyond the object's {size} bytes",
                    key=key,
                    reason="InvalidRange",
                )
            f.seek(first)
            return f.read(last - first + 1)

    def _open(self, key: str) -> BinaryIO:
        path = self._data_path(key)
        try:
            f = open(path, "rb")  # noqa: SIM115 - the caller closes it
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise self._not_found(key) from None
        except OSError as exc:
            raise _os_error(exc, "cannot read object", key) from exc
        return f

    def open_object(self, key: str) -> BinaryIO:
        """Return the object's file opened for binary reading; see `ObjectStore.open_object`."""
        return self._open(key)

    def head_object(self, key: str) -> ObjectInfo:
        """Return the object's info from its stat and sidecar; see `ObjectStore.head_object`."""
        path = self._data_path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise self._not_found(key) from None
        except OSError as exc:
            raise _os_error(exc, "cannot read object", key) from exc
        if not path.is_file():
            raise self._not_found(key)
        sidecar = self._sidecar(key, st)
        meta = sidecar.get("metadata", {})
        return ObjectInfo(
            key=key,
            size=st.st_size,
            last_modified=_dt.datetime.fromtimestamp(st.st_mtime, _dt.timezone.utc),
            etag=str(sidecar.get("md5", "")),
            metadata={str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {},
            content_type=str(sidecar.get("content_type", "application/octet-stream")),
            content_encoding=str(sidecar.get("content_encoding", "")),
        )

    def _sidecar(self, key: str, st: os.stat_result) -> dict[str, object]:
        try:
            with open(self._meta_path(key), encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return {}
        # A sidecar belongs to the file whose inode it names; anything else is
        # stale (a crash between the two renames, or a file copied in by hand).
        if not isinstance(data, dict) or data.get("inode") != st.st_ino:
            return {}
        if data.get("size") != st.st_size:
            return {}
        return data

    def list_objects(
        self, prefix: str = "", *, start_after: str | None = None
    ) -> Iterator[ObjectInfo]:
        """
        Yield the objects under `prefix`; see `ObjectStore.list_objects`.

        Listings carry key, size and time only (ETag and the rest: `head_object`);
        temp and sidecar files are never listed, and objects written during
        the listing may or may not appear.
        """
        for key, st in self._scan(prefix):
            if start_after is not None and key <= start_after:
                continue
            yield ObjectInfo(
                key=key,
                size=st.st_size,
                last_modified=_dt.datetime.fromtimestamp(st.st_mtime, _dt.timezone.utc),
            )

    def _scan(self, prefix: str) -> list[tuple[str, os.stat_result]]:
        """Return (key, stat) of every object under `prefix`, sorted by key."""
        # Walk only the directory that holds the prefix's last full segment.
        head, sep, _ = prefix.rpartition("/")
        segments = head.split("/") if sep else []
        if any(s in {"", ".", ".."} for s in segments) or segments[:1] == [_RESERVED]:
            return []  # no local key has such a segment (and none may leave the directory)
        start = self._root.joinpath(*segments)
        found: list[tuple[str, os.stat_result]] = []
        stack = [(start, head + "/" if head else "")]
        try:
            while stack:
                directory, key_base = stack.pop()
                try:
                    entries = list(os.scandir(directory))
                except (FileNotFoundError, NotADirectoryError):
                    continue
                for entry in entries:
                    key = key_base + entry.name
                    if not key_base and entry.name == _RESERVED:
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        if key.startswith(prefix) or prefix.startswith(key + "/"):
                            stack.append((Path(entry.path), key + "/"))
                    elif entry.is_file() and key.startswith(prefix):
                        try:
                            found.append((key, entry.stat()))
                        except FileNotFoundError:
                            continue  # deleted while listing
        except OSError as exc:
            raise _os_error(exc, "cannot list objects", prefix) from exc
        found.sort(key=lambda item: item[0])
        return found

    def list_prefixes(self, prefix: str = "", *, delimiter: str = "/") -> Iterator[str]:
        """
        Yield the common prefixes below `prefix`; see `ObjectStore.list_prefixes`.

        Only prefixes that hold at least one object are yielded (as in S3);
        with "/" only the directory below `prefix` is looked at.
        """
        if delimiter == "/":
            yield from self._child_prefixes(prefix)
            return
        yield from common_prefixes((key for key, _ in self._scan(prefix)), prefix, delimiter)

    def _child_prefixes(self, prefix: str) -> Iterator[str]:
        """The "/" case without walking whole subtrees: look one level down."""
        head, sep, tail = prefix.rpartition("/")
        segments = head.split("/") if sep else []
        if any(s in {"", ".", ".."} for s in segments) or segments[:1] == [_RESERVED]:
            return
        directory = self._root.joinpath(*segments)
        base = head + "/" if head else ""
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise _os_error(exc, "cannot list prefixes", prefix or None) from exc
        found = []
        for entry in entries:
            if not base and entry.name == _RESERVED:
                continue
            if (
                entry.name.startswith(tail)
                and entry.is_dir(follow_symlinks=False)
                and _holds_object(Path(entry.path))
            ):
                found.append(base + entry.name + "/")
        yield from sorted(found)

    # -- deleting -------------------------------------------------------------------
    def delete_object(self, key: str) -> None:
        """
        Delete `key` and its sidecar; see `ObjectStore.delete_object`.

        Emptied directories are removed so they do not linger as prefixes.
        """
        data_path = self._data_path(key)
        meta_path = self._meta_path(key)
        with self._lock:
            for path, top in ((data_path, self._root), (meta_path, self._root / _RESERVED)):
                try:
                    path.unlink()
                except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                    continue
                except OSError as exc:
                    raise _os_error(exc, "cannot delete object", key) from exc
                _prune(path.parent, top)

    def ensure_bucket(self) -> None:
        """
        Create the store directory if it does not exist; see `ObjectStore.ensure_bucket`.

        Also removes temp files older than an hour (left by crashed writers).
        A path that is a file is a `PermanentStoreError`.
        """
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_error(exc, f"cannot create store directory {self._root}", None) from exc
        self._remove_stale_temp_files()

    def _remove_stale_temp_files(self) -> None:
        # Left by writers that crashed mid-write; an hour is far beyond any live write.
        cutoff = time.time() - _STALE_TEMP_AGE
        with contextlib.suppress(OSError):
            for entry in os.scandir(self._root / _RESERVED / "tmp"):
                with contextlib.suppress(OSError):
                    if entry.name.endswith(".tmp") and entry.stat().st_mtime < cutoff:
                        Path(entry.path).unlink()

    def close(self) -> None:
        """Nothing to release (no connections); the store stays usable."""
