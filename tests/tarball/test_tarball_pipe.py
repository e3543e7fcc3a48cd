"""The bounded pipe between the archive producer thread and the upload."""

from __future__ import annotations

import pytest

from objlog._tarball import Pipe, PipeReader


def test_pipe_take_returns_full_reads_until_eof() -> None:
    """take(n) returns exactly n bytes while data lasts, then the rest, then b''."""
    pipe = Pipe(capacity=10)
    pipe.put(b"abc")
    pipe.put(b"defgh")
    pipe.finish()
    assert [b"abcd", b"efgh", b""] == [pipe.take(4), pipe.take(4), pipe.take(4)]


def test_pipe_put_after_stop_raises_broken_pipe() -> None:
    """Once the consumer stopped, the producer's put raises BrokenPipeError."""
    pipe = Pipe(capacity=10)
    pipe.stop()
    with pytest.raises(BrokenPipeError):
        pipe.put(b"x")


def test_pipe_reader_readinto_and_readall() -> None:
    """The upload's end of the pipe supports readinto() and read() to EOF."""
    pipe = Pipe(capacity=100)
    pipe.put(b"hello world")
    pipe.finish()
    reader = PipeReader(pipe)
    buf = bytearray(5)
    assert 5 == reader.readinto(buf)
    assert (b"hello", b" world") == (bytes(buf), reader.read())
    reader.close()
