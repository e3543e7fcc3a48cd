"""Fixtures for the writer tests: a memory store and writers closed after each test."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from objlog.stores.memory import MemoryStore
from objlog.writer import ObjectStoreWriter


@pytest.fixture
def store() -> MemoryStore:
    """A fresh in-memory store."""
    return MemoryStore()


@pytest.fixture
def make_writer(store: MemoryStore) -> Iterator[Callable[..., ObjectStoreWriter]]:
    """Build writers on `store`; every one is closed (quickly) after the test."""
    made: list[ObjectStoreWriter] = []

    def make(**options: object) -> ObjectStoreWriter:
        options.setdefault("pipelinerun", "run-1")
        options.setdefault("task", "task-a")
        target = options.pop("store", store)
        writer = ObjectStoreWriter(target, **options)  # type: ignore[arg-type]
        made.append(writer)
        return writer

    yield make
    for writer in made:
        with contextlib.suppress(Exception):  # a test may have left a hanging store
            writer.close(timeout=2)
