"""
Helpers for the result writer's tests: a fake sleep and tar.gz readers.
"""

from __future__ import annotations

import io
import tarfile


class FakeSleep:
    """Record the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def members(data: bytes) -> list[tarfile.TarInfo]:
    """Return the members of the tar.gz `data`, in archive order."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getmembers()


def first_payload(data: bytes) -> tuple[str, bytes]:
    """Return the name and bytes of the first member of the tar.gz `data`."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        first = tar.next()
        assert first is not None
        extracted = tar.extractfile(first)
        assert extracted is not None
        return first.name, extracted.read()
