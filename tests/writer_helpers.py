"""
Helpers for the writer and engine tests: a fake clock, a gate for hanging stores,
read-back, and the `store`/`make_writer` fixtures (re-exported by the conftest of
each folder that uses them).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from objlog._codec import decode_batch
from objlog._spool import is_batch_file
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


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


class Gate:
    """A store fault that holds every request until opened."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.waiting = threading.Event()

    def __call__(self, verb: str, key: str) -> None:
        self.waiting.set()
        self.opened.wait(120)

    def open(self) -> None:
        """Let requests through."""
        self.opened.set()


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll until `predicate()` holds; fail after a generous timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def stored_lines(store: MemoryStore, prefix: str = "") -> list[bytes]:
    """Every record in the store under `prefix`, in key order."""
    lines: list[bytes] = []
    for key in store.keys():  # noqa: SIM118 - a method, not dict.keys()
        if key.startswith(prefix):
            lines.extend(decode_batch(store.get_object(key), key).splitlines(keepends=True))
    return lines


def spool_files(root: Path, pattern: str = "*") -> list[Path]:
    """The batch files (either spool format) in the writer directories matching `pattern`."""
    return sorted(
        p
        for p in root.glob(f"{pattern}/*")
        if not p.parent.name.startswith(".") and is_batch_file(p.name)
    )
