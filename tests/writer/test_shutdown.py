"""Lifecycle machinery in-process: signal deferral, registry, handler installation rules."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from types import FrameType

import pytest
from writer_helpers import stored_lines

from objlog import _shutdown
from objlog.errors import ConfigError
from objlog.stores.memory import MemoryStore
from objlog.writer import ObjectStoreWriter, install_signal_handlers

MakeWriter = Callable[..., ObjectStoreWriter]
FAKE_SIGNUM = 1000  # never delivered: the handler is called directly


@pytest.fixture
def fake_signal() -> Iterator[list[int]]:
    """Register objlog's handler config for a fake signal whose 'previous' handler records calls."""
    calls: list[int] = []

    def previous(signum: int, frame: FrameType | None) -> None:
        calls.append(signum)

    _shutdown._INSTALLED[FAKE_SIGNUM] = _shutdown._SignalConfig(previous, None, 30.0)
    yield calls
    _shutdown._INSTALLED.pop(FAKE_SIGNUM, None)
    _shutdown._DEFERRED.clear()


def test_handler_syncs_then_chains(
    store: MemoryStore, make_writer: MakeWriter, fake_signal: list[int]
) -> None:
    """The handler syncs every live writer, then calls the previous handler."""
    writer = make_writer()
    writer.write("before the signal")
    seen: list[list[bytes]] = []
    _shutdown._INSTALLED[FAKE_SIGNUM].previous = lambda s, f: seen.append(stored_lines(store))
    _shutdown._handle(FAKE_SIGNUM, None)
    assert [[b"before the signal\n"]] == seen


def test_handler_inside_critical_section_is_deferred(
    store: MemoryStore, make_writer: MakeWriter, fake_signal: list[int]
) -> None:
    """A signal arriving while the main thread holds a writer's lock runs when it lets go."""
    writer = make_writer()
    writer.write("a")
    with writer._lock:
        _shutdown._handle(FAKE_SIGNUM, None)
        assert [] == fake_signal
        assert [(FAKE_SIGNUM, None)] == _shutdown._DEFERRED
    writer.stats  # noqa: B018 - any public method runs the deferred handler on its way out
    assert [FAKE_SIGNUM] == fake_signal
    assert [b"a\n"] == stored_lines(store)


def test_handler_for_chosen_writers_only(make_writer: MakeWriter, fake_signal: list[int]) -> None:
    """With explicit writers, only those are synced."""
    chosen_store, other_store = MemoryStore(), MemoryStore()
    chosen = make_writer(store=chosen_store)
    other = make_writer(store=other_store, max_age=3600)
    chosen.write("x")
    other.write("y")
    _shutdown._INSTALLED[FAKE_SIGNUM].writers = weakref.WeakSet([chosen])
    _shutdown._handle(FAKE_SIGNUM, None)
    assert ([b"x\n"], []) == (stored_lines(chosen_store), stored_lines(other_store))


def test_registry_tracks_live_writers(make_writer: MakeWriter) -> None:
    """A writer is live until closed."""
    writer = make_writer()
    assert writer in _shutdown.live_writers()
    writer.close()
    assert writer not in _shutdown.live_writers()


def test_install_outside_main_thread_is_refused() -> None:
    """install_signal_handlers from another thread is a ConfigError."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            install_signal_handlers()
        except ConfigError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert [ConfigError] == [type(e) for e in errors]


def test_negative_timeout_is_refused() -> None:
    """A negative total timeout is a ConfigError."""
    with pytest.raises(ConfigError):
        install_signal_handlers(timeout=-1)
