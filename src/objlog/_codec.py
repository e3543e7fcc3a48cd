"""
Batch codec: records to object bytes and back. Pure functions.

A batch object is the concatenation of its records, each ending in ``\\n``
(JSON Lines when the caller formats JSON), optionally gzip-compressed.

Content headers (why): a gzip batch is stored as ``.jsonl.gz`` with
``Content-Type: application/gzip`` and **no** ``Content-Encoding``. With
``Content-Encoding: gzip`` browsers, curl and some S3 tools decompress on the
fly and save plain text under a ``.gz`` name, which then "is not gzip"
(fluent/fluent-bit#3676, vectordotdev/vector#6241). Without it every client
gets the stored bytes, which is what the name promises. Plain batches are
``.jsonl`` with ``Content-Type: application/x-ndjson``.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from dataclasses import dataclass

from objlog.errors import ConfigError, PermanentStoreError

__all__ = [
    "GZIP_MAGIC",
    "Encoding",
    "decode_batch",
    "encode_batch",
    "encoding_for",
    "normalize_record",
]

#: The first two bytes of every gzip member (RFC 1952).
GZIP_MAGIC = b"\x1f\x8b"

#: A gzip batch longer than this is compressed as several gzip members of this
#: many bytes of records each, on up to `encode_batch`'s ``threads`` at once.
#: RFC 1952 allows a file of concatenated members, and gzip, zcat, Python's
#: gzip module and objlog's own reader decompress all of them. At the default
#: batch size (8 MiB) a batch is one member, as before.
GZIP_MEMBER_BYTES = 8 * 1024**2


@dataclass(frozen=True, slots=True, kw_only=True)
class Encoding:
    """
    How a batch is stored.

    Attributes:
        name: ``"gzip"`` or ``"none"``.
        suffix: Key suffix, ``.jsonl.gz`` or ``.jsonl``.
        content_type: The object's Content-Type.
        content_encoding: The object's Content-Encoding (always None, see the module docstring).
    """

    name: str
    suffix: str
    content_type: str
    content_encoding: str | None = None


_ENCODINGS = {
    "gzip": Encoding(name="gzip", suffix=".jsonl.gz", content_type="application/gzip"),
    "none": Encoding(name="none", suffix=".jsonl", content_type="application/x-ndjson"),
}


def encoding_for(compression: str) -> Encoding:
    """
    Return the `Encoding` of a compression name.

    Raises:
        ConfigError: `compression` is not ``"gzip"`` or ``"none"``.
    """
    try:
        return _ENCODINGS[compression]
    except (KeyError, TypeError):
        raise ConfigError(
            f"compression must be one of {sorted(_ENCODINGS)}, got {compression!r}"
        ) from None


def normalize_record(data: str | bytes) -> bytes:
    """
    Return one record as UTF-8 bytes ending in exactly one added-if-missing ``\\n``.

    A str is encoded as UTF-8; a lone surrogate in it becomes its backslash
    escape (``\\ud800``), so the record is always valid UTF-8.

    Raises:
        TypeError: `data` is neither str nor bytes (nor bytearray/memoryview).
    """
    # Exact types first: the common cases cost one comparison, and bytes that
    # already end in a newline are returned as they are (no copy).
    if type(data) is bytes:
        return data if data[-1:] == b"\n" else data + b"\n"
    if type(data) is str:
        # A lone surrogate becomes the text \udXXX (valid UTF-8, and inside a
        # JSON string the escape of the same character), as in the adapters.
        if data[-1:] != "\n":
            data += "\n"
        return data.encode("utf-8", "backslashreplace")
    if isinstance(data, str):
        raw = data.encode("utf-8", "backslashreplace")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    else:
        raise TypeError(f"a record must be str or bytes, not {type(data).__name__}")
    return raw if raw.endswith(b"\n") else raw + b"\n"


def encode_batch(
    raw: bytes | memoryview, compression: str, compresslevel: int = 6, *, threads: int = 1
) -> bytes | memoryview:
    """
    Return the object body for the records `raw` (`raw` itself when not compressed).

    gzip output is deterministic (header mtime 0, no file name, members cut
    every `GZIP_MEMBER_BYTES`), so a batch re-encoded after a crash has the
    same bytes as the first attempt.

    Args:
        raw: The records.
        compression: ``"gzip"`` or ``"none"``.
        compresslevel: zlib level 1-9 (default 6).
        threads: Threads that may compress members at once, the calling one
            included (default 1). zlib releases the GIL, so a batch of
            several members compresses up to `threads` times faster.

    Raises:
        ConfigError: Unknown `compression`.
    """
    if encoding_for(compression).name == "none":
        return raw
    if len(raw) <= GZIP_MEMBER_BYTES:
        return gzip.compress(raw, compresslevel=compresslevel, mtime=0)
    view = memoryview(raw)
    pieces = [view[i : i + GZIP_MEMBER_BYTES] for i in range(0, len(view), GZIP_MEMBER_BYTES)]
    members: list[bytes | None] = [None] * len(pieces)
    todo = iter(range(len(pieces)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            try:
                members[i] = gzip.compress(pieces[i], compresslevel=compresslevel, mtime=0)
            except BaseException:  # noqa: BLE001 - stop; the calling thread redoes it and raises
                return

    helpers: list[threading.Thread] = []
    for _ in range(min(threads, len(pieces)) - 1):
        helper = threading.Thread(target=work, name="objlog-gzip", daemon=True)
        try:
            helper.start()
        except RuntimeError:  # interpreter shutting down: this thread does it all
            break
        helpers.append(helper)
    work()
    for helper in helpers:
        helper.join()
    # A member a helper could not finish (it stopped on an error) is done here,
    # so its error, if any, reaches the caller.
    return b"".join(
        m if m is not None else gzip.compress(pieces[i], compresslevel=compresslevel, mtime=0)
        for i, m in enumerate(members)
    )


def decode_batch(data: bytes, key: str) -> bytes:
    """
    Return the records of a stored batch: gunzipped when it is gzip data.

    Data starting with the gzip magic is decompressed (every member, so
    concatenated gzip files work). A key ending in ``.gz`` whose data is not
    gzip is returned as is: some client already decompressed it.

    Args:
        data: The object's bytes.
        key: The object's key (for the suffix and error messages).

    Returns:
        The records, each ending in ``\\n``.

    Raises:
        PermanentStoreError: The data looks like gzip but is corrupt or truncated
            (``reason="CorruptBatch"``).

    Thread safety: pure; safe from any thread.
    """
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        if key.endswith(".gz"):
            raise PermanentStoreError(
                f"corrupt gzip batch: {exc}", key=key, reason="CorruptBatch"
            ) from exc
        return data  # plain data that merely starts with the magic bytes
