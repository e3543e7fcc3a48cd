"""
Batch codecs: records to object bytes and back. Pure functions.

A batch object is the concatenation of its records, each ending in ``\\n``
(JSON Lines when the caller formats JSON), optionally compressed. A codec
(`Identity`, `Gzip`) names the key suffix and content headers of its objects
and encodes them; `decode_batch` recognises a stored object by its leading
magic bytes, so it needs no codec. Adding a codec (zstd) is a class here, an
entry in `CODECS` and its test: the writer, spool and reader ask this module.

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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, TypeAlias

from objlog.errors import ConfigError, CorruptBatchError

__all__ = [
    "CODECS",
    "DECODE_CHUNK_BYTES",
    "GZIP_MAGIC",
    "Codec",
    "CorruptBatchError",
    "CutLine",
    "Encoding",
    "Gzip",
    "Identity",
    "codec_for",
    "decode_batch",
    "decode_stream",
    "encode_batch",
    "encoding_for",
    "normalize_record",
    "split_records",
]

#: The first two bytes of every gzip member (RFC 1952).
GZIP_MAGIC = b"\x1f\x8b"

#: A gzip batch longer than this is compressed as several gzip members of this
#: many bytes of records each, on up to `encode_batch`'s ``threads`` at once.
#: RFC 1952 allows a file of concatenated members, and gzip, zcat, Python's
#: gzip module and objlog's own reader decompress all of them. At the default
#: batch size (8 MiB) a batch is one member, as before.
GZIP_MEMBER_BYTES = 8 * 1024**2

#: Most decompressed bytes `decode_stream` yields at once, and most compressed
#: bytes it hands zlib at once: what bounds its memory whatever the object holds
#: (a few KiB of gzip may expand to gigabytes).
DECODE_CHUNK_BYTES = 256 * 1024

#: Key suffix of the records before compression (JSON Lines).
RECORDS_SUFFIX = ".jsonl"


@dataclass(frozen=True, slots=True)
class Identity:
    """
    The codec of plain batches (``compression="none"``): the records as they are.

    Attributes:
        name: ``"none"``.
        extension: ``""`` (what the codec adds to `RECORDS_SUFFIX`).
        suffix: ``.jsonl``.
        content_type: ``application/x-ndjson``.
        content_encoding: None.
        magic: ``b""`` (plain data has no signature).

    Thread safety: immutable; safe from any thread.
    """

    name: ClassVar[str] = "none"
    extension: ClassVar[str] = ""
    suffix: ClassVar[str] = RECORDS_SUFFIX
    content_type: ClassVar[str] = "application/x-ndjson"
    content_encoding: ClassVar[str | None] = None
    magic: ClassVar[bytes] = b""
    #: Levels `codec_for` accepts (and ignores here): gzip's, so that a level
    #: set for gzip stays valid when compression is turned off.
    levels: ClassVar[range] = range(10)

    def encode(self, raw: bytes | memoryview, *, threads: int = 1) -> bytes | memoryview:
        """Return `raw` itself (no copy); `threads` is ignored."""
        return raw

    def decompress(self, data: bytes) -> bytes:
        """Return `data` itself."""
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class Gzip:
    """
    The gzip codec: ``.jsonl.gz``, ``Content-Type: application/gzip``, no Content-Encoding.

    Output is deterministic (header mtime 0, no file name, members cut every
    `GZIP_MEMBER_BYTES`), so a batch re-encoded after a crash has the same
    bytes as the first attempt. The content headers are chosen on purpose:
    see the module docstring. Class attributes as on `Identity`: name
    ``"gzip"``, extension ``.gz``, suffix ``.jsonl.gz``, content type
    ``application/gzip``, magic `GZIP_MAGIC`.

    Args:
        level: zlib level 0-9 (default 6).

    Raises:
        ConfigError: `level` is not an int from 0 to 9.

    Thread safety: immutable; safe from any thread.
    """

    name: ClassVar[str] = "gzip"
    extension: ClassVar[str] = ".gz"
    suffix: ClassVar[str] = RECORDS_SUFFIX + ".gz"
    content_type: ClassVar[str] = "application/gzip"
    content_encoding: ClassVar[str | None] = None
    magic: ClassVar[bytes] = GZIP_MAGIC
    levels: ClassVar[range] = range(10)

    level: int = 6

    def __post_init__(self) -> None:
        if isinstance(self.level, bool) or not isinstance(self.level, int):
            raise ConfigError(f"gzip level must be an int 0..9, got {self.level!r}")
        if not 0 <= self.level <= 9:
            raise ConfigError(f"gzip level must be 0..9, got {self.level}")

    def encode(self, raw: bytes | memoryview, *, threads: int = 1) -> bytes:
        """
        Return `raw` gzip-compressed, as one member per `GZIP_MEMBER_BYTES` of records.

        Args:
            raw: The records.
            threads: Threads that may compress members at once, the calling
                one included (default 1). zlib releases the GIL, so a batch
                of several members compresses up to `threads` times faster.

        Returns:
            The object body.
        """
        if len(raw) <= GZIP_MEMBER_BYTES:
            return gzip.compress(raw, compresslevel=self.level, mtime=0)
        return _gzip_members(raw, self.level, threads)

    def decompress(self, data: bytes) -> bytes:
        """
        Return the records of gzip `data`, every member of it.

        Raises:
            OSError, EOFError, zlib.error: `data` is corrupt or truncated.
        """
        return gzip.decompress(data)


#: A codec object: what `codec_for` returns.
Codec: TypeAlias = Identity | Gzip
#: The name the writer knew codecs by; the same objects.
Encoding: TypeAlias = Codec

#: Codec classes by compression name (``compression=`` of the writer and CLI).
CODECS: Mapping[str, type[Identity] | type[Gzip]] = MappingProxyType(
    {Gzip.name: Gzip, Identity.name: Identity}
)


def codec_for(compression: str, compresslevel: int = 6) -> Codec:
    """
    Return the codec of a compression name.

    Args:
        compression: A key of `CODECS`: ``"gzip"`` or ``"none"``.
        compresslevel: A level in the codec's ``levels``: zlib level 0-9 for
            gzip (default 6); ``"none"`` accepts the same and ignores it.

    Raises:
        ConfigError: Unknown `compression`, or a level outside the codec's ``levels``.

    Thread safety: pure; safe from any thread.
    """
    try:
        kind = CODECS[compression]
    except (KeyError, TypeError):
        raise ConfigError(
            f"compression must be one of {sorted(CODECS)}, got {compression!r}"
        ) from None
    if isinstance(compresslevel, bool) or compresslevel not in kind.levels:
        first, last = kind.levels[0], kind.levels[-1]
        raise ConfigError(
            f"compresslevel for {compression} must be {first}..{last}, got {compresslevel!r}"
        )
    return Gzip(level=compresslevel) if kind is Gzip else Identity()


def encoding_for(compression: str) -> Codec:
    """
    Return the codec of a compression name, for its suffix and content headers.

    Returns:
        An object with ``name``, ``suffix``, ``content_type`` and
        ``content_encoding`` (see `codec_for`; gzip at its default level).

    Raises:
        ConfigError: `compression` is not ``"gzip"`` or ``"none"``.
    """
    return codec_for(compression)


def normalize_record(data: str | bytes) -> bytes:
    """
    Return one record as UTF-8 bytes ending in exactly one added-if-missing ``\\n``.

    A str is encoded as UTF-8; a lone surrogate in it becomes its backslash
    escape (``\\ud800``), so the record is always valid UTF-8. Empty input
    gives ``b""``: no record (``write("")`` stores nothing).

    Raises:
        TypeError: `data` is neither str nor bytes (nor bytearray/memoryview).
    """
    # Exact types first: the common cases cost one comparison, and bytes that
    # already end in a newline are returned as they are (no copy).
    if type(data) is bytes:
        return data if data[-1:] == b"\n" or not data else data + b"\n"
    if type(data) is str:
        # A lone surrogate becomes the text \udXXX (valid UTF-8, and inside a
        # JSON string the escape of the same character), as in the adapters.
        if data[-1:] != "\n":
            if not data:
                return b""
            data += "\n"
        return data.encode("utf-8", "backslashreplace")
    if isinstance(data, str):
        raw = data.encode("utf-8", "backslashreplace")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    else:
        raise TypeError(f"a record must be str or bytes, not {type(data).__name__}")
    return raw if raw.endswith(b"\n") or not raw else raw + b"\n"


def encode_batch(
    raw: bytes | memoryview, compression: str, compresslevel: int = 6, *, threads: int = 1
) -> bytes | memoryview:
    """
    Return the object body for the records `raw` (`raw` itself when not compressed).

    Shorthand for ``codec_for(compression, compresslevel).encode(raw, threads=threads)``.

    Args:
        raw: The records.
        compression: ``"gzip"`` or ``"none"``.
        compresslevel: zlib level 0-9 (default 6).
        threads: Threads that may compress at once, the calling one included (default 1).

    Raises:
        ConfigError: Unknown `compression`, or a gzip level out of range.
    """
    return codec_for(compression, compresslevel).encode(raw, threads=threads)


def _gzip_members(raw: bytes | memoryview, level: int, threads: int) -> bytes:
    """Compress `raw` as one gzip member per `GZIP_MEMBER_BYTES`, on up to `threads` threads."""
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
                members[i] = gzip.compress(pieces[i], compresslevel=level, mtime=0)
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
        m if m is not None else gzip.compress(pieces[i], compresslevel=level, mtime=0)
        for i, m in enumerate(members)
    )


def decode_batch(data: bytes, key: str) -> bytes:
    """
    Return the records of a stored batch, decompressed when its bytes say so.

    The codec is found by the data's leading magic bytes (gzip: ``1f 8b``,
    RFC 1952; every member is decompressed, so concatenated gzip files
    work), not by the key, so batches of any writer version read back and a
    ``.gz`` key whose bytes some client already decompressed is returned as
    is. Data without a known magic is returned unchanged.

    Args:
        data: The object's bytes.
        key: The object's key (for error messages, and to tell a corrupt
            batch from plain data that merely starts with a magic).

    Returns:
        The records, each ending in ``\\n``.

    Raises:
        CorruptBatchError: The data starts with a codec's magic, cannot be
            decompressed, and the key ends in that codec's extension
            (``.gz``). It is a PermanentStoreError (reason ``CorruptBatch``,
            ``.key`` = `key`) and a ValueError. Under any other key such data
            is taken as plain records and returned as is.

    Thread safety: pure; safe from any thread.
    """
    codec = next((c for c in CODECS.values() if c.magic and data.startswith(c.magic)), None)
    if codec is None:
        return data
    try:
        return codec().decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        if key.endswith(codec.extension):
            raise CorruptBatchError(
                f"corrupt {codec.name} batch: {exc}", key=key, reason="CorruptBatch"
            ) from exc
        return data  # plain data that merely starts with the magic bytes


def decode_stream(
    chunks: Iterable[bytes], key: str, *, chunk_bytes: int = DECODE_CHUNK_BYTES
) -> Iterator[bytes]:
    """
    Yield the records of a stored batch that arrives as `chunks`, decompressed as they come.

    The streaming form of `decode_batch`, with its rule for telling the codec
    (leading magic bytes, every gzip member, zero padding between members
    skipped as gzip(1) does). Memory is bounded by `chunk_bytes` plus one
    input chunk, however far the data expands: a decompression bomb streams.

    Args:
        chunks: The object's bytes, in order, in pieces of any size.
        key: The object's key (for errors, and to tell corrupt gzip from
            plain data that merely starts with the gzip magic).
        chunk_bytes: Most bytes yielded at once, and most compressed bytes
            handed to zlib at once (default `DECODE_CHUNK_BYTES`, 256 KiB).

    Returns:
        An iterator of non-empty pieces of the records; their concatenation
        is what `decode_batch` returns for the whole object.

    Raises:
        CorruptBatchError: The data starts with the gzip magic and turns out
            corrupt or truncated, and either the key ends in ``.gz`` or
            records were already yielded (raised at the point of failure:
            the pieces before it were yielded). Under another key, data that
            fails before yielding anything is yielded as plain records, as
            `decode_batch` returns it.

    Thread safety: the iterator belongs to one thread.
    """
    source = iter(chunks)
    head = b""
    for chunk in source:  # enough bytes to see the magic (a chunk may be tiny)
        head += chunk
        if len(head) >= len(GZIP_MAGIC):
            break
    if not head.startswith(GZIP_MAGIC):
        yield from _pieces(head, chunk_bytes)
        for chunk in source:
            yield from _pieces(chunk, chunk_bytes)
        return
    # `replay` keeps the input read while nothing was yielded, so data under a
    # key without ``.gz`` that is not gzip after all can still come out plain.
    replay: list[bytes] | None = []
    replay_bytes = 0
    inflater: zlib._Decompress | None = None
    chunk = head
    try:
        while True:
            if replay is not None:
                replay.append(chunk)
                replay_bytes += len(chunk)
                if replay_bytes > 4 * chunk_bytes:
                    replay = None  # too much to keep: a failure is reported instead
            for data in _pieces(chunk, chunk_bytes):
                while data:
                    if inflater is None:
                        data = data.lstrip(b"\0")  # padding between members, as gzip(1) skips
                        if not data:
                            break
                        inflater = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer
                    out = inflater.decompress(data, chunk_bytes)
                    while True:
                        if out:
                            replay = None
                            yield out
                        # At the member's end the rest of the input is in unused_data
                        # (CPython may leave a stale copy in unconsumed_tail).
                        if inflater.eof or (
                            not inflater.unconsumed_tail and len(out) < chunk_bytes
                        ):
                            break
                        # Output stopped at chunk_bytes: go on with the input zlib kept back.
                        out = inflater.decompress(inflater.unconsumed_tail, chunk_bytes)
                    if inflater.eof:
                        data = inflater.unused_data
                        inflater = None
                    else:
                        data = b""
            next_chunk = next(source, None)
            if next_chunk is None:
                break
            chunk = next_chunk
        if inflater is not None:
            raise EOFError("compressed data ended before the end-of-stream marker")
    except (OSError, EOFError, zlib.error) as exc:
        if replay is None or key.endswith(Gzip.extension):
            raise CorruptBatchError(
                f"corrupt {Gzip.name} batch: {exc}", key=key, reason="CorruptBatch"
            ) from exc
        # Plain data that merely starts with the magic bytes, as `decode_batch` returns it.
        for chunk in replay:
            yield from _pieces(chunk, chunk_bytes)
        for chunk in source:
            yield from _pieces(chunk, chunk_bytes)


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    """Yield `data` in pieces of at most `size` bytes (itself when it fits: no copy)."""
    if len(data) <= size:
        if data:
            yield data
        return
    view = memoryview(data)
    for start in range(0, len(data), size):
        yield view[start : start + size].tobytes()


class CutLine(bytes):
    """
    The first bytes of a line `split_records` cut; ``length`` is the whole line's, in bytes.

    Thread safety: immutable; safe from any thread.
    """

    length: int

    def __new__(cls, head: bytes | bytearray, length: int) -> CutLine:
        """Return `head` (the kept bytes) marked with the line's full `length`."""
        line = super().__new__(cls, head)
        line.length = length
        return line


def split_records(chunks: Iterable[bytes], max_line_bytes: int) -> Iterator[list[bytes]]:
    """
    Cut a stream of records into lines, holding at most `max_line_bytes` of any line.

    Lines end in ``\\n`` (JSON Lines; a ``\\r`` before it stays in the line).
    A last line without a newline is a line too. A line longer than
    `max_line_bytes` is cut: its first `max_line_bytes` bytes are kept, as a
    `CutLine` whose ``length`` is the line's full length, and the rest is
    counted and skipped as it streams by, so memory is O(`max_line_bytes` +
    one chunk) whatever the line's length.

    Args:
        chunks: The records, in pieces of any size (`decode_stream`'s output).
        max_line_bytes: Most bytes kept of one line (>= 1).

    Returns:
        An iterator of lists of lines, in order: per chunk, the lines it
        ends (lists, not lines one by one, because the reader's per-line
        cost is what bounds its speed). Each line is `bytes` without its
        newline, or a `CutLine`.

    Raises:
        ValueError: `max_line_bytes` < 1.

    Thread safety: the iterator belongs to one thread.
    """
    if max_line_bytes < 1:
        raise ValueError(f"max_line_bytes must be >= 1, got {max_line_bytes}")
    kept = bytearray()  # the unfinished line's first bytes (at most max_line_bytes)
    length = 0  # the unfinished line's full length so far
    for chunk in chunks:
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if lines:
            if length:  # the first line began in an earlier chunk
                room = max_line_bytes - len(kept)
                if room > 0:
                    kept += lines[0][:room]
                length += len(lines[0])
                lines[0] = CutLine(kept, length) if length > len(kept) else bytes(kept)
                kept.clear()
                length = 0
            if max(map(len, lines)) > max_line_bytes:
                lines = [
                    CutLine(line[:max_line_bytes], len(line))
                    if len(line) > max_line_bytes and type(line) is bytes
                    else line
                    for line in lines
                ]
            yield lines
        if tail:
            room = max_line_bytes - len(kept)
            if room > 0:
                kept += tail[:room]
            length += len(tail)
    if length:
        yield [CutLine(kept, length) if length > len(kept) else bytes(kept)]
