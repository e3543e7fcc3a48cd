"""
Batch codecs: records to object bytes and back. Pure functions.

A batch object is the concatenation of its records, each ending in ``\\n``
(JSON Lines when the caller formats JSON), optionally compressed. A codec
(`Identity`, `Gzip`, `Zstd`) names the key suffix and content headers of its
objects and encodes them; `decode_batch` recognises a stored object by its
leading magic bytes, so it needs no codec. Adding a codec is a class here, an
entry in `CODECS` and its test: the writer, spool and reader ask this module.

Content headers (why): a gzip batch is stored as ``.jsonl.gz`` with
``Content-Type: application/gzip`` and **no** ``Content-Encoding``. With
``Content-Encoding: gzip`` browsers, curl and some S3 tools decompress on the
fly and save plain text under a ``.gz`` name, which then "is not gzip"
(fluent/fluent-bit#3676, vectordotdev/vector#6241). Without it every client
gets the stored bytes, which is what the name promises. Plain batches are
``.jsonl`` with ``Content-Type: application/x-ndjson``. A zstd batch is
``.jsonl.zst`` with ``Content-Type: application/zstd`` (RFC 8878 section 7),
for the same reason without Content-Encoding.

Optional backends, imported lazily: ``zstandard`` (the ``zstd`` extra) is
needed to write or read zstd batches; without it `codec_for` raises
`MissingBackendError` naming the extra. ``isal`` (the ``isal`` extra,
python-isal, Intel ISA-L) compresses gzip batches when installed: the bytes
are still plain gzip (RFC 1952) that every reader decodes, only made faster;
stdlib zlib is the fallback (see `Gzip`).
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar, TypeAlias

from objlog.errors import ConfigError, CorruptBatchError, MissingBackendError

if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "CODECS",
    "DECODE_CHUNK_BYTES",
    "GZIP_MAGIC",
    "RUN_LINE_BYTES",
    "ZSTD_MAGIC",
    "Codec",
    "CorruptBatchError",
    "CutLine",
    "Encoding",
    "Gzip",
    "Identity",
    "Zstd",
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

#: Longest line ``objlog run`` stores as one record; longer lines are split
#: (256 KiB keeps a record well under any batch limit and a JSON parser's
#: comfort zone). Here, not in `objlog._run`, so the reader sizes its line
#: limit from it without importing the runner.
RUN_LINE_BYTES = 256 * 1024

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

#: The first four bytes of every zstd frame (RFC 8878 section 3.1.1: 0xFD2FB528 little-endian).
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

#: A zstd batch longer than this is compressed on `encode_batch`'s ``threads``
#: (zstd's own workers, in C without the GIL); a shorter one on the calling
#: thread alone (still without the GIL), where starting workers costs more than
#: it saves (measured: level 1 on 15 MB of JSON lines, 2 busy cores, 254 MiB/s
#: alone, 133 MiB/s on 2 workers). Either way the object is one zstd frame.
ZSTD_THREADED_BYTES = 8 * 1024**2

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

    With ``isal`` installed, levels 1-3 are compressed by ISA-L (`ISAL_LEVELS`
    maps them: each to the ISA-L level whose ratio on JSON log lines is at
    least zlib's, measured 4-5x faster); levels 0 and 4-9 stay with zlib,
    which ISA-L does not match in ratio. The output is plain gzip either way;
    its bytes differ between the two backends, so a batch is byte-identical
    when re-encoded by the same installation.

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
        if self.level in ISAL_LEVELS:
            _isal_igzip()  # here, not first in an encoder thread (see _isal_igzip)

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
            return _gzip_compress(raw, self.level)
        return _gzip_members(raw, self.level, threads)

    def decompress(self, data: bytes) -> bytes:
        """
        Return the records of gzip `data`, every member of it.

        Raises:
            OSError, EOFError, zlib.error: `data` is corrupt or truncated.
        """
        return gzip.decompress(data)


#: ISA-L level used for a zlib level, where ISA-L does as well: measured on
#: 15 MB of JSON log lines, ratio zlib 1: 6.5, 3: 7.1, 6: 8.0, 9: 9.3 against
#: ISA-L 1: 7.4, 2: 7.5, 3: 7.4 (ISA-L 1 at ~400 MiB/s, zlib 1 at ~90 MiB/s).
ISAL_LEVELS: Mapping[int, int] = MappingProxyType({1: 1, 2: 2, 3: 2})


#: ``isal.igzip`` once looked up (``[None]``: not installed); empty until then.
_isal_found: list[ModuleType | None] = []


def _isal_igzip() -> ModuleType | None:
    """
    Return ``isal.igzip``, or None when python-isal is not installed; looked up once per process.

    `Gzip` looks it up when built, on the thread that configures a writer, so
    an encoder thread never runs the import: a fork while another thread
    holds an import lock leaves the child's next import of that module hung.
    """
    if not _isal_found:
        found: ModuleType | None
        try:
            from isal import igzip as found
        except ImportError:
            found = None
        _isal_found[:] = [found]
    return _isal_found[0]


def _gzip_compress(data: bytes | memoryview, level: int) -> bytes:
    """Return `data` as one deterministic gzip member (mtime 0): ISA-L where it may, else zlib."""
    isal_level = ISAL_LEVELS.get(level)
    if isal_level is not None:
        igzip = _isal_igzip()
        if igzip is not None:
            return bytes(igzip.compress(data, isal_level, mtime=0))
    return gzip.compress(data, compresslevel=level, mtime=0)


def _zstandard() -> ModuleType:
    """
    Return the ``zstandard`` module.

    Raises:
        MissingBackendError: zstandard (the ``zstd`` extra) is not installed.
    """
    try:
        import zstandard
    except ImportError as exc:
        raise MissingBackendError(
            "compression='zstd' needs the zstandard package: pip install 'objlog-s3[zstd]'"
        ) from exc
    return zstandard


@dataclass(frozen=True, slots=True, kw_only=True)
class Zstd:
    """
    The zstd codec: ``.jsonl.zst``, ``Content-Type: application/zstd``, no Content-Encoding.

    A batch is one zstd frame (RFC 8878) with its content size written, which
    the ``zstd`` tool, DuckDB, Spark and Athena read. Class attributes as on
    `Identity`: name ``"zstd"``, extension ``.zst``, suffix ``.jsonl.zst``,
    content type ``application/zstd`` (RFC 8878 section 7), magic `ZSTD_MAGIC`.
    Levels 1-19: 20-22 ("ultra") need up to 128 MiB windows that some readers
    refuse. Measured on JSON log lines, level 1 is both faster and smaller
    than 3 (8.5x at ~250 MiB/s against 8.1x at ~130 MiB/s), hence the writer's
    default of 1 serves zstd as well as gzip.

    Args:
        level: zstd level 1-19 (default 1).

    Raises:
        ConfigError: `level` is not an int from 1 to 19.
        MissingBackendError: zstandard (the ``zstd`` extra) is not installed.

    Thread safety: immutable; safe from any thread.
    """

    name: ClassVar[str] = "zstd"
    extension: ClassVar[str] = ".zst"
    suffix: ClassVar[str] = RECORDS_SUFFIX + ".zst"
    content_type: ClassVar[str] = "application/zstd"
    content_encoding: ClassVar[str | None] = None
    magic: ClassVar[bytes] = ZSTD_MAGIC
    levels: ClassVar[range] = range(1, 20)

    level: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.level, bool) or not isinstance(self.level, int):
            raise ConfigError(f"zstd level must be an int 1..19, got {self.level!r}")
        if self.level not in self.levels:
            raise ConfigError(f"zstd level must be 1..19, got {self.level}")
        _zstandard()  # missing backend: refused when configured, not at the first upload

    def encode(self, raw: bytes | memoryview, *, threads: int = 1) -> bytes:
        """
        Return `raw` zstd-compressed, as one frame with its content size.

        Args:
            raw: The records.
            threads: zstd workers for a batch longer than `ZSTD_THREADED_BYTES`
                (default 1: the calling thread). zstd compresses in C without
                the GIL either way.

        Returns:
            The object body.
        """
        workers = threads if threads > 1 and len(raw) > ZSTD_THREADED_BYTES else 0
        compressor = _zstandard().ZstdCompressor(
            level=self.level, threads=workers, write_content_size=True
        )
        return bytes(compressor.compress(raw))

    def decompress(self, data: bytes) -> bytes:
        """
        Return the records of zstd `data`, every frame of it.

        Raises:
            OSError, EOFError: `data` is corrupt or truncated.
        """
        return b"".join(_unzstd_stream(iter([data]), DECODE_CHUNK_BYTES))


#: A codec object: what `codec_for` returns.
Codec: TypeAlias = Identity | Gzip | Zstd
#: The name the writer knew codecs by; the same objects.
Encoding: TypeAlias = Codec

#: Codec classes by compression name (``compression=`` of the writer and CLI).
CODECS: Mapping[str, type[Identity] | type[Gzip] | type[Zstd]] = MappingProxyType(
    {Gzip.name: Gzip, Identity.name: Identity, Zstd.name: Zstd}
)


def codec_for(compression: str, compresslevel: int | None = None) -> Codec:
    """
    Return the codec of a compression name.

    Args:
        compression: A key of `CODECS`: ``"gzip"``, ``"zstd"`` or ``"none"``.
        compresslevel: A level in the codec's ``levels``: zlib level 0-9 for
            gzip, 1-19 for zstd; ``"none"`` accepts gzip's and ignores it.
            None (the default): the codec's own default (gzip 6, zstd 1).

    Raises:
        ConfigError: Unknown `compression`, or a level outside the codec's
            ``levels`` (the message names the range).
        MissingBackendError: ``"zstd"`` without zstandard installed (the
            message names ``pip install 'objlog-s3[zstd]'``).

    Thread safety: pure; safe from any thread.
    """
    try:
        kind = CODECS[compression]
    except (KeyError, TypeError):
        raise ConfigError(
            f"compression must be one of {sorted(CODECS)}, got {compression!r}"
        ) from None
    if compresslevel is None:
        return kind()
    if isinstance(compresslevel, bool) or compresslevel not in kind.levels:
        first, last = kind.levels[0], kind.levels[-1]
        raise ConfigError(
            f"compresslevel for {compression} must be {first}..{last}, got {compresslevel!r}"
        )
    if kind is Identity:
        return Identity()
    return kind(level=compresslevel)  # type: ignore[call-arg]


def encoding_for(compression: str) -> Codec:
    """
    Return the codec of a compression name, for its suffix and content headers.

    Returns:
        An object with ``name``, ``suffix``, ``content_type`` and
        ``content_encoding`` (see `codec_for`; at the codec's default level).

    Raises:
        ConfigError: `compression` is not ``"gzip"``, ``"zstd"`` or ``"none"``.
        MissingBackendError: ``"zstd"`` without zstandard installed.
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
    raw: bytes | memoryview, compression: str, compresslevel: int | None = None, *, threads: int = 1
) -> bytes | memoryview:
    """
    Return the object body for the records `raw` (`raw` itself when not compressed).

    Shorthand for ``codec_for(compression, compresslevel).encode(raw, threads=threads)``.

    Args:
        raw: The records.
        compression: ``"gzip"``, ``"zstd"`` or ``"none"``.
        compresslevel: The codec's level (default: the codec's, see `codec_for`).
        threads: Threads that may compress at once, the calling one included (default 1).

    Raises:
        ConfigError: Unknown `compression`, or a level out of the codec's range.
        MissingBackendError: ``"zstd"`` without zstandard installed.
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
                members[i] = _gzip_compress(pieces[i], level)
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
        m if m is not None else _gzip_compress(pieces[i], level) for i, m in enumerate(members)
    )


def decode_batch(data: bytes, key: str) -> bytes:
    """
    Return the records of a stored batch, decompressed when its bytes say so.

    The codec is found by the data's leading magic bytes (gzip: ``1f 8b``,
    RFC 1952; zstd: ``28 b5 2f fd``, RFC 8878; every gzip member and zstd
    frame is decompressed, so concatenated files work), not by the key, so
    batches of any writer version read back and a ``.gz`` key whose bytes
    some client already decompressed is returned as is. Data without a
    known magic is returned unchanged.

    Args:
        data: The object's bytes.
        key: The object's key (for error messages, and to tell a corrupt
            batch from plain data that merely starts with a magic).

    Returns:
        The records, each ending in ``\\n``.

    Raises:
        CorruptBatchError: The data starts with a codec's magic, cannot be
            decompressed, and the key ends in that codec's extension
            (``.gz``, ``.zst``). It is a PermanentStoreError (reason ``CorruptBatch``,
            ``.key`` = `key`) and a ValueError. Under any other key such data
            is taken as plain records and returned as is.
        MissingBackendError: The data is zstd and zstandard (the ``zstd``
            extra) is not installed.

    Thread safety: pure; safe from any thread.
    """
    codec = _codec_by_magic(data)
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
    (leading magic bytes; every gzip member, zero padding between members
    skipped as gzip(1) does; every zstd frame, skippable frames skipped).
    Memory is bounded by `chunk_bytes` plus one input chunk (and one zstd
    block, at most 128 KiB), however far the data expands: a bomb streams.

    Args:
        chunks: The object's bytes, in order, in pieces of any size.
        key: The object's key (for errors, and to tell corrupt data from
            plain data that merely starts with a codec's magic).
        chunk_bytes: Most bytes yielded at once, and most compressed bytes
            handed to zlib at once (default `DECODE_CHUNK_BYTES`, 256 KiB).

    Returns:
        An iterator of non-empty pieces of the records; their concatenation
        is what `decode_batch` returns for the whole object.

    Raises:
        CorruptBatchError: The data starts with a codec's magic and turns out
            corrupt or truncated, and either the key ends in that codec's
            extension (``.gz``, ``.zst``) or records were already yielded
            (raised at the point of failure: the pieces before it were
            yielded). Under another key, data that fails before yielding
            anything is yielded as plain records, as `decode_batch` returns it.
        MissingBackendError: The data is zstd and zstandard is not installed.

    Thread safety: the iterator belongs to one thread.
    """
    source = iter(chunks)
    head = b""
    for chunk in source:  # enough bytes to see the magic (a chunk may be tiny)
        head += chunk
        if len(head) >= _MAGIC_BYTES:
            break
    codec = _codec_by_magic(head)
    if codec is None:
        yield from _pieces(head, chunk_bytes)
        for chunk in source:
            yield from _pieces(chunk, chunk_bytes)
        return
    if codec is Zstd:
        _zstandard()  # a missing backend is not a corrupt batch
    # The tape keeps the input read while nothing was yielded, so data under a
    # key without the codec's extension that is not compressed after all can
    # still come out plain.
    tape = _Tape(head, source, 4 * chunk_bytes)
    decoder = _gunzip_stream if codec is Gzip else _unzstd_stream
    try:
        for out in decoder(iter(tape), chunk_bytes):
            tape.kept = None
            yield out
    except (OSError, EOFError, zlib.error) as exc:
        if tape.kept is None or key.endswith(codec.extension):
            raise CorruptBatchError(
                f"corrupt {codec.name} batch: {exc}", key=key, reason="CorruptBatch"
            ) from exc
        # Plain data that merely starts with the magic bytes, as `decode_batch` returns it.
        for chunk in tape.kept:
            yield from _pieces(chunk, chunk_bytes)
        for chunk in source:
            yield from _pieces(chunk, chunk_bytes)


#: Bytes `decode_stream` reads before it tells the codec: the longest magic.
_MAGIC_BYTES = max(len(GZIP_MAGIC), len(ZSTD_MAGIC))


def _codec_by_magic(data: bytes) -> type[Gzip] | type[Zstd] | None:
    """Return the codec whose magic `data` starts with, or None (plain data)."""
    if data.startswith(GZIP_MAGIC):
        return Gzip
    if data.startswith(ZSTD_MAGIC):
        return Zstd
    return None


class _Tape:
    """The input of a decoder: `head`, then `source`; keeps what it read until ``kept`` is None."""

    __slots__ = ("_head", "_limit", "_read", "_source", "kept")

    def __init__(self, head: bytes, source: Iterator[bytes], limit: int) -> None:
        self._head = head
        self._source = source
        self._limit = limit
        self._read = 0
        self.kept: list[bytes] | None = []

    def __iter__(self) -> Iterator[bytes]:
        chunk = self._head
        while True:
            if self.kept is not None:
                self.kept.append(chunk)
                self._read += len(chunk)
                if self._read > self._limit:
                    self.kept = None  # too much to keep: a failure is reported instead
            yield chunk
            next_chunk = next(self._source, None)
            if next_chunk is None:
                return
            chunk = next_chunk


def _gunzip_stream(chunks: Iterator[bytes], chunk_bytes: int) -> Iterator[bytes]:
    """
    Yield the records of gzip `chunks` (every member, zero padding skipped), `chunk_bytes` at most.

    Raises:
        OSError, EOFError, zlib.error: Corrupt or truncated data.
    """
    inflater: zlib._Decompress | None = None
    for chunk in chunks:
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
                        yield out
                    # At the member's end the rest of the input is in unused_data
                    # (CPython may leave a stale copy in unconsumed_tail).
                    if inflater.eof or (not inflater.unconsumed_tail and len(out) < chunk_bytes):
                        break
                    # Output stopped at chunk_bytes: go on with the input zlib kept back.
                    out = inflater.decompress(inflater.unconsumed_tail, chunk_bytes)
                if inflater.eof:
                    data = inflater.unused_data
                    inflater = None
                else:
                    data = b""
    if inflater is not None:
        raise EOFError("compressed data ended before the end-of-stream marker")


#: zstd frame parts (RFC 8878 section 3.1.1) `_ZstdCutter` waits for.
_Z_FRAME, _Z_SKIP, _Z_DESCRIPTOR, _Z_FIELDS, _Z_BLOCK_HEADER, _Z_BLOCK, _Z_CHECKSUM = range(7)
#: Largest block a frame may hold (RFC 8878 section 3.1.1.2.3: 128 KiB).
_ZSTD_BLOCK_MAX = 128 * 1024


class _ZstdCutter:
    """
    Cut a zstd stream into frame headers and whole blocks (RFC 8878 section 3.1.1).

    zstandard's streaming decoders either return all the output of their
    input at once (a bomb in one piece) or do not tell a truncated frame
    from its end. Fed one block at a time, a decompressobj returns at most
    one block's records (128 KiB), and the cutter knows where frames end.
    Skippable frames are dropped as they stream by.
    """

    __slots__ = ("_block", "_buf", "_checksum", "_last", "_need", "_skip", "_state")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._state = _Z_FRAME
        self._need = 4
        self._skip = 0
        self._checksum = False
        self._last = False
        self._block = b""

    @property
    def between_frames(self) -> bool:
        """True when the bytes fed so far are whole frames."""
        return self._state == _Z_FRAME and not self._buf and not self._skip

    def feed(self, data: bytes) -> Iterator[tuple[bool, bytes]]:
        """
        Yield (starts a frame, bytes for the frame's decoder) for every part `data` completes.

        Raises:
            OSError: Not zstd where a frame or block must begin.
        """
        self._buf += data
        while True:
            if self._skip:
                dropped = min(self._skip, len(self._buf))
                del self._buf[:dropped]
                self._skip -= dropped
                if self._skip:
                    return
            if len(self._buf) < self._need:
                return
            part = bytes(self._buf[: self._need])
            del self._buf[: self._need]
            yield from self._step(part)

    def _step(self, part: bytes) -> Iterator[tuple[bool, bytes]]:
        """Take the part the state waited for; yield what goes to the decoder."""
        state = self._state
        if state == _Z_FRAME:
            if part == ZSTD_MAGIC:
                self._expect(_Z_DESCRIPTOR, 1)
                yield True, part
            elif 0x50 <= part[0] <= 0x5F and part[1:] == b"\x2a\x4d\x18":
                self._expect(_Z_SKIP, 4)  # a skippable frame: its size comes next
            else:
                raise OSError("not a zstd frame")
        elif state == _Z_SKIP:
            self._skip = int.from_bytes(part, "little")
            self._expect(_Z_FRAME, 4)
        elif state == _Z_DESCRIPTOR:
            fhd = part[0]
            if fhd & 8:
                raise OSError("corrupt zstd frame header (reserved bit set)")
            single = (fhd >> 5) & 1
            self._checksum = bool(fhd & 4)
            fields = (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + (single, 2, 4, 8)[fhd >> 6]
            if fields:
                self._expect(_Z_FIELDS, fields)
            else:
                self._expect(_Z_BLOCK_HEADER, 3)
            yield False, part
        elif state == _Z_FIELDS:
            self._expect(_Z_BLOCK_HEADER, 3)
            yield False, part
        elif state == _Z_BLOCK_HEADER:
            header = int.from_bytes(part, "little")
            kind, size = (header >> 1) & 3, header >> 3
            if kind == 3 or size > _ZSTD_BLOCK_MAX:
                raise OSError("corrupt zstd block header")
            self._block, self._last = part, bool(header & 1)
            body = 1 if kind == 1 else size  # an RLE block stores its one byte
            if body:
                self._expect(_Z_BLOCK, body)
            else:
                yield False, part
                self._end_block()
        elif state == _Z_BLOCK:
            yield False, self._block + part
            self._end_block()
        else:  # _Z_CHECKSUM
            yield False, part
            self._expect(_Z_FRAME, 4)

    def _expect(self, state: int, size: int) -> None:
        self._state, self._need = state, size

    def _end_block(self) -> None:
        if not self._last:
            self._expect(_Z_BLOCK_HEADER, 3)
        elif self._checksum:
            self._expect(_Z_CHECKSUM, 4)
        else:
            self._expect(_Z_FRAME, 4)


def _unzstd_stream(chunks: Iterator[bytes], chunk_bytes: int) -> Iterator[bytes]:
    """
    Yield the records of zstd `chunks` (every frame), `chunk_bytes` at most at once.

    Raises:
        OSError, EOFError: Corrupt or truncated data.
        MissingBackendError: zstandard is not installed.
    """
    zstandard = _zstandard()
    cutter = _ZstdCutter()
    inflater = None
    try:
        for chunk in chunks:
            for starts, part in cutter.feed(chunk):
                if starts:
                    inflater = zstandard.ZstdDecompressor().decompressobj()
                assert inflater is not None
                yield from _pieces(inflater.decompress(part), chunk_bytes)
    except zstandard.ZstdError as exc:
        raise OSError(str(exc)) from exc
    if not cutter.between_frames:
        raise EOFError("zstd data ended inside a frame")


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
