"""
Small binary-stream and file-system helpers shared by the stores, results and spool.

One copy each of what several modules needed: reading exactly `n` bytes
through short reads, putting bytes already read back in front of a stream,
and making a rename durable by fsync()ing its directory.
"""

from __future__ import annotations

import os
from typing import Protocol

__all__ = ["PrependReader", "Readable", "fsync_dir", "read_exact"]


class Readable(Protocol):
    """Anything with a binary ``read(n)``: files, sockets' makefile(), GzipFile, `PrependReader`."""

    def read(self, size: int = -1, /) -> bytes: ...


def read_exact(stream: Readable, n: int) -> bytes:
    """
    Read up to `n` bytes, looping over short reads; fewer only at EOF.

    Args:
        stream: The stream to read.
        n: Bytes wanted; 0 or less returns ``b""`` without reading.

    Returns:
        `n` bytes, or fewer when the stream ended first.

    Raises:
        Exception: Whatever ``stream.read`` raises, unchanged.

    Thread safety: as safe as `stream`; one reader at a time.
    """
    if n <= 0:
        return b""
    chunks: list[bytes] = []
    remaining = n
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class PrependReader:
    """
    A reader returning `head` first, then the rest of `rest`.

    Used where a few bytes were read to look at a stream (gzip magic, a
    multipart probe) and the whole stream is still wanted.

    Args:
        head: Bytes already read from `rest`.
        rest: The stream they came from.

    Thread safety: not thread-safe; one reader at a time.
    """

    __slots__ = ("_head", "_rest")

    def __init__(self, head: bytes, rest: Readable) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int | None = -1, /) -> bytes:
        """
        Return up to `size` bytes: from `head` while it lasts, then from `rest`.

        Args:
            size: Bytes wanted; None or negative reads to the end of `rest`.

        Returns:
            Bytes; ``b""`` only at the end of `rest`. A read never mixes the
            end of `head` with `rest` unless `size` is negative.
        """
        if not self._head:
            return self._rest.read(-1 if size is None else size)
        if size is None or size < 0:
            data, self._head = self._head + self._rest.read(), b""
            return data
        if size >= len(self._head):
            data, self._head = self._head, b""
            return data
        view = memoryview(self._head)
        data, self._head = bytes(view[:size]), bytes(view[size:])
        return data


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """
    fsync() a directory, so that a rename or new file in it survives a crash.

    Args:
        path: The directory.

    Raises:
        OSError: The directory cannot be opened or synced (callers that treat
            durability as best effort suppress it).

    Thread safety: safe from any thread.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
