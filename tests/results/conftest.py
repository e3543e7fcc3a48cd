"""
Fixtures for the result writer: every non-S3 store and a fake sleep.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from result_helpers import FakeSleep

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


@pytest.fixture
def fake_sleep() -> FakeSleep:
    """A sleep that never waits, so retry tests take no time."""
    return FakeSleep()
