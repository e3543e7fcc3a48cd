"""
Fixtures for the result writer: every non-S3 store, fake sleep, archive helpers.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from objlog.stores.memory import MemoryStore
from objlog.typing import ObjectStore


@pytest.fixture(params=["memory", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    """Each store the engine logic runs against without a server: memory and a local directory."""
    if request.param == "memory":
        yield MemoryStore()
        return
    from objlog.stores.local import LocalStore

    local = LocalStore(tmp_path / "store")
    yield local
    local.close()


class FakeSleep:
    """Record the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def fake_sleep() -> FakeSleep:
    """A sleep that never waits, so retry tests take no time."""
    return FakeSleep()


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


def make_tgz(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """Build a tar.gz from hand-made members (for malicious archives)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return gzip.compress(raw.getvalue())
