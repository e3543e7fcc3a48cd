"""
Writer settings: an explicit argument, else an ``OBJLOG_*`` variable, else the default.

Every `objlog.writer.ObjectStoreWriter` resolves these options here, so the
`logging` handler, the structlog sinks and ``objlog run``, which build
writers, follow the environment too:

====================  ===========================  =====================
option                variable                     default
====================  ===========================  =====================
``max_size_bytes``    ``OBJLOG_MAX_SIZE_BYTES``    8 MiB
``max_age``           ``OBJLOG_MAX_AGE``           5.0 seconds
``max_buffer_bytes``  ``OBJLOG_MAX_BUFFER_BYTES``  64 MiB
``when_full``         ``OBJLOG_WHEN_FULL``         ``block``
``compression``       ``OBJLOG_COMPRESSION``       ``gzip``
``compresslevel``     ``OBJLOG_COMPRESSLEVEL``     1
``spool_dir``         ``OBJLOG_SPOOL_DIR``         no spool
``max_concurrency``   ``OBJLOG_MAX_CONCURRENCY``   4 uploads in flight
====================  ===========================  =====================

An argument other than None wins; an empty or blank variable counts as unset.
Sizes are whole bytes with optional ``KiB``/``MiB``/``GiB``/``TiB`` suffixes
and ``_`` separators, as the store settings (`objlog.config`); ages are
seconds. A value the writer would refuse raises `ConfigError` naming the
variable and its value, before any store is opened.

``OBJLOG_SPOOL_DIR`` is a root shared by stores: each store spools in its own
subdirectory of it (`store_spool_dir`, the rule ``objlog run`` follows too),
so a crashed writer's batches are never recovered into another store. An
explicit ``spool_dir`` is used as given; ``spool_dir=False`` turns the spool
off whatever the environment says.

This module parses and checks; the rules themselves stay with their owners
(`objlog._engine.policy.FlushPolicy`, `objlog._engine.budget.WhenFull`,
`objlog._codec.codec_for`, `objlog._spool.check_supported`,
`objlog._engine.pipeline.check_max_concurrency`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from objlog import _spool
from objlog._codec import Codec, codec_for
from objlog._engine.budget import WhenFull
from objlog._engine.pipeline import check_max_concurrency
from objlog._engine.policy import FlushPolicy
from objlog.config import _parse_float, _parse_int
from objlog.errors import ConfigError

__all__ = [
    "DEFAULT_COMPRESSION",
    "DEFAULT_COMPRESSLEVEL",
    "DEFAULT_MAX_AGE",
    "DEFAULT_MAX_BUFFER_BYTES",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_MAX_SIZE_BYTES",
    "DEFAULT_WHEN_FULL",
    "OPTIONS",
    "WriterSettings",
    "env_spool_root",
    "parse_bytes",
    "parse_count",
    "parse_level",
    "parse_seconds",
    "parse_word",
    "resolve_writer_settings",
    "store_spool_dir",
    "variable",
]

#: Seal a batch at this many record bytes: about one PUT per 8 MiB of logs.
DEFAULT_MAX_SIZE_BYTES = 8 * 1024**2
#: Seal a batch when its first record is this many seconds old.
DEFAULT_MAX_AGE = 5.0
#: Memory bound of a writer's batches, bytes.
DEFAULT_MAX_BUFFER_BYTES = 64 * 1024**2
#: What a write does when memory is full.
DEFAULT_WHEN_FULL = "block"
#: Codec of log batches.
DEFAULT_COMPRESSION = "gzip"
#: Level of log batches, for every codec. gzip 1: 2.5-5x faster than 6 for ~18%
#: more bytes. zstd 1: faster than zstd's usual 3 and, on JSON log lines, smaller
#: too (measured 8.5x at ~250 MiB/s against 8.1x at ~130 MiB/s).
DEFAULT_COMPRESSLEVEL = 1
#: Uploads one writer has in flight at once. Measured (benchmarks ``latency``
#: group, a store 50 ms away, 2 shared cores, moto): 1 -> 4 uploads lift the
#: drain 2.4-2.8x; 8 was no faster than 4 (the producer and the server's CPU
#: limit it there) while each thread costs the caller GIL hand-offs; and
#: 4 x 8 MiB batches in flight stay well inside the 64 MiB default memory
#: bound (see benchmarks/README.md).
DEFAULT_MAX_CONCURRENCY = 4

#: The writer options the environment may set, in the writer's signature order.
OPTIONS = (
    "max_size_bytes",
    "max_age",
    "max_buffer_bytes",
    "when_full",
    "compression",
    "compresslevel",
    "spool_dir",
    "max_concurrency",
)

_T = TypeVar("_T")


def variable(option: str) -> str:
    """Return the environment variable of a writer option, e.g. ``OBJLOG_MAX_AGE``."""
    return f"OBJLOG_{option.upper()}"


def parse_bytes(text: str, source: str) -> int:
    """
    Return a size in bytes from ``8388608``, ``8MiB`` or ``8_388_608``.

    Raises:
        ConfigError: Not a whole number of bytes; the message names `source`.
    """
    return _parse_int(text, source)


def parse_seconds(text: str, source: str) -> float:
    """
    Return a duration in seconds from ``5`` or ``0.5``.

    Raises:
        ConfigError: Not a number; the message names `source`.
    """
    return _parse_float(text.strip(), source)


def parse_level(text: str, source: str) -> int:
    """
    Return a compression level from ``1``.

    Raises:
        ConfigError: Not a whole number; the message names `source`.
    """
    try:
        return int(text.strip())
    except ValueError:
        raise ConfigError(f"{source}={text!r} is not a whole number") from None


def parse_count(text: str, source: str) -> int:
    """
    Return a count such as ``max_concurrency`` from ``4``.

    Raises:
        ConfigError: Not a whole number; the message names `source`.
    """
    try:
        return int(text.strip())
    except ValueError:
        raise ConfigError(f"{source}={text!r} is not a whole number") from None


def parse_word(text: str, source: str) -> str:
    """Return a keyword such as ``block`` or ``gzip``, trimmed and lower-cased."""
    del source  # checked by the option's owner, whose error `resolve_writer_settings` annotates
    return text.strip().lower()


def store_spool_dir(root: Path, store_url: str) -> Path:
    """
    Return the spool directory of one store under a shared spool root.

    Args:
        root: The shared root (``OBJLOG_SPOOL_DIR`` or objlog's data home's ``spool``).
        store_url: The store's URL (never a secret in it).

    Returns:
        ``root / <first 16 hex digits of SHA-256(store_url)>`` (not created).
    """
    return root / hashlib.sha256(store_url.encode("utf-8")).hexdigest()[:16]


def env_spool_root(environ: Mapping[str, str] | None = None) -> Path | None:
    """
    Return ``OBJLOG_SPOOL_DIR`` (``~`` expanded), or None when unset or blank.

    Args:
        environ: Variables to read instead of `os.environ` (tests).
    """
    raw = (os.environ if environ is None else environ).get(variable("spool_dir"), "")
    return Path(raw.strip()).expanduser() if raw.strip() else None


@dataclass(frozen=True, slots=True, kw_only=True)
class WriterSettings:
    """
    A writer's environment-tunable options, resolved and checked.

    Attributes:
        policy: When batches are sealed (``max_size_bytes``, ``max_age``).
        max_buffer_bytes: Memory bound, bytes (>= ``policy.max_size_bytes``).
        when_full: What a write does when memory is full.
        codec: The batches' codec (name, key suffix, content headers).
        compresslevel: Its level.
        spool_dir: The spool directory, or None for no spool.
        spool_shared: True when `spool_dir` is the shared ``OBJLOG_SPOOL_DIR``
            root, in which each store has its own subdirectory.
        max_concurrency: Uploads in flight at once, 1 to 64.

    Thread safety: immutable.
    """

    policy: FlushPolicy
    max_buffer_bytes: int
    when_full: WhenFull
    codec: Codec
    compresslevel: int
    spool_dir: Path | None
    spool_shared: bool = False
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY

    def spool_root(self, store_url: str) -> Path | None:
        """Return the writer's spool directory for the store at `store_url`, or None."""
        if self.spool_dir is not None and self.spool_shared:
            return store_spool_dir(self.spool_dir, store_url)
        return self.spool_dir


class _Sources:
    """Each option from its argument or the environment, remembering which came from where."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.from_env: dict[str, str] = {}  # option -> the variable's text

    def pick(
        self, option: str, given: _T | None, parse: Callable[[str, str], _T], default: _T
    ) -> _T:
        """Return `given` if not None, else the parsed variable if set, else `default`."""
        if given is not None:
            return given
        text = self.environ.get(variable(option), "")
        if not text.strip():
            return default
        self.from_env[option] = text
        return parse(text, variable(option))

    @contextlib.contextmanager
    def blame(self, *options: str) -> Iterator[None]:
        """
        Add the variables behind a `ConfigError` raised inside to its message.

        The suspects are those of `options` the message names (all of them
        when it names none); those set from the environment are added.
        """
        try:
            yield
        except ConfigError as exc:
            suspects = [o for o in options if o in str(exc)] or list(options)
            culprits = [
                f"{variable(o)}={self.from_env[o]!r}" for o in suspects if o in self.from_env
            ]
            if not culprits:
                raise
            raise ConfigError(f"{exc} (from the environment: {', '.join(culprits)})") from None


def resolve_writer_settings(
    max_size_bytes: int | None = None,
    max_age: float | None = None,
    max_buffer_bytes: int | None = None,
    when_full: str | None = None,
    compression: str | None = None,
    compresslevel: int | None = None,
    spool_dir: str | os.PathLike[str] | Literal[False] | None = None,
    max_concurrency: int | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> WriterSettings:
    """
    Resolve a writer's options: an argument, else its ``OBJLOG_*`` variable, else the default.

    Args:
        max_size_bytes: Seal size, bytes (default 8 MiB).
        max_age: Seal age, seconds (default 5.0).
        max_buffer_bytes: Memory bound, bytes (default 64 MiB).
        when_full: ``"block"`` or ``"drop"`` (default ``"block"``).
        compression: ``"gzip"``, ``"zstd"`` (the ``zstd`` extra) or
            ``"none"`` (default ``"gzip"``).
        compresslevel: Codec level: gzip 0-9, zstd 1-19 (default 1).
        spool_dir: A directory, False for no spool, or None for
            ``OBJLOG_SPOOL_DIR`` (a shared root, see the module docstring),
            else no spool.
        max_concurrency: Uploads in flight at once, 1 to 64 (default 4).
        environ: Variables to read instead of `os.environ` (tests).

    Returns:
        The checked `WriterSettings`.

    Raises:
        ConfigError: A value is malformed or out of range, or a spool is
            asked for where the platform has none; a value from the
            environment is named with its variable. A level outside the
            codec's range names the range.
        MissingBackendError: ``compression="zstd"`` without zstandard
            installed (``pip install 'objlog-s3[zstd]'``).

    Thread safety: reads the environment only; safe from any thread.
    """
    src = _Sources(os.environ if environ is None else environ)
    size = src.pick("max_size_bytes", max_size_bytes, parse_bytes, DEFAULT_MAX_SIZE_BYTES)
    age = src.pick("max_age", max_age, parse_seconds, DEFAULT_MAX_AGE)
    buffer = src.pick("max_buffer_bytes", max_buffer_bytes, parse_bytes, DEFAULT_MAX_BUFFER_BYTES)
    mode = src.pick("when_full", when_full, parse_word, DEFAULT_WHEN_FULL)
    name = src.pick("compression", compression, parse_word, DEFAULT_COMPRESSION)
    level = src.pick("compresslevel", compresslevel, parse_level, DEFAULT_COMPRESSLEVEL)
    spool, shared = _spool_dir(spool_dir, src)
    concurrency = src.pick("max_concurrency", max_concurrency, parse_count, DEFAULT_MAX_CONCURRENCY)
    with src.blame("max_size_bytes", "max_age"):
        policy = FlushPolicy(max_size_bytes=size, max_age=age)
    with src.blame("when_full"):
        parsed_mode = WhenFull.parse(mode)
    with src.blame("compression", "compresslevel"):
        codec = codec_for(name, level)  # checks the level per codec
    with src.blame("max_buffer_bytes", "max_size_bytes"):
        if buffer < size:
            raise ConfigError(f"max_buffer_bytes ({buffer}) must be >= max_size_bytes ({size})")
    if spool is not None:
        with src.blame("spool_dir"):
            _spool.check_supported()
    with src.blame("max_concurrency"):
        check_max_concurrency(concurrency)
    return WriterSettings(
        policy=policy,
        max_buffer_bytes=buffer,
        when_full=parsed_mode,
        codec=codec,
        compresslevel=level,
        spool_dir=spool,
        spool_shared=shared,
        max_concurrency=concurrency,
    )


def _spool_dir(
    given: str | os.PathLike[str] | Literal[False] | None, src: _Sources
) -> tuple[Path | None, bool]:
    """Return the spool directory and whether it is the shared ``OBJLOG_SPOOL_DIR`` root."""
    if given is False:
        return None, False
    if given is not None:
        return Path(given), False
    root = env_spool_root(src.environ)
    if root is None:
        return None, False
    src.from_env["spool_dir"] = str(src.environ[variable("spool_dir")])
    return root, True
