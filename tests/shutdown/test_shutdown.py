"""Lifecycle machinery in-process: signal hand-off, registry, handler installation rules."""

from __future__ import annotations

import contextlib
import io
import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from types import FrameType

import pytest

from objlog import _shutdown
from objlog.errors import ConfigError
from objlog.stores.memory import MemoryStore
from objlog.writer import ObjectStoreWriter, install_signal_handlers
from writer_helpers import Gate, stored_lines, wait_until

MakeWriter = Callable[..., ObjectStoreWriter]
FAKE_SIGNUM = 1000  # never delivered: the handler is called directly


@pytest.fixture
def fake_signal(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Register objlog's handler config for a fake signal whose 'previous' handler records calls."""
    calls: list[int] = []

    def previous(signum: int, frame: FrameType | None) -> None:
        calls.append(signum)

    # The watcher "sends the signal again" by calling the handler directly.
    monkeypatch.setattr(_shutdown, "_resend", lambda signum: _shutdown._handle(signum, None))
    _shutdown._start_watcher()
    _shutdown._INSTALLED[FAKE_SIGNUM] = _shutdown._SignalConfig(previous, None, 30.0)
    yield calls
    try:
        wait_until(lambda: not _shutdown._syncing)
    finally:  # never leave writes paused for the next tests
        _shutdown._INSTALLED.pop(FAKE_SIGNUM, None)
        _shutdown.paused = _shutdown._syncing = _shutdown._synced = False
        _shutdown._pending.clear()


def test_handler_syncs_then_chains(
    store: MemoryStore, make_writer: MakeWriter, fake_signal: list[int]
) -> None:
    """The handler syncs every live writer, then calls the previous handler."""
    writer = make_writer()
    writer.write("before the signal")
    seen: list[list[bytes]] = []
    _shutdown._INSTALLED[FAKE_SIGNUM].previous = lambda s, f: seen.append(stored_lines(store))
    _shutdown._handle(FAKE_SIGNUM, None)
    wait_until(lambda: bool(seen))
    assert [[b"before the signal\n"]] == seen


def test_handler_inside_critical_section_returns_at_once(
    store: MemoryStore, make_writer: MakeWriter, fake_signal: list[int]
) -> None:
    """A signal arriving while the main thread holds a writer's lock syncs once it lets go."""
    writer = make_writer()
    writer.write("a")
    with writer._buffer._lock:
        _shutdown._handle(FAKE_SIGNUM, None)
        assert [] == fake_signal
    wait_until(lambda: bool(fake_signal))
    assert [FAKE_SIGNUM] == fake_signal
    assert [b"a\n"] == stored_lines(store)


def test_handler_while_a_logging_lock_is_held(
    store: MemoryStore, make_writer: MakeWriter, fake_signal: list[int]
) -> None:
    """A signal arriving inside a console handler's emit, while uploads log, loses nothing."""
    console = logging.StreamHandler(io.StringIO())
    root = logging.getLogger()
    root.addHandler(console)
    try:
        store.fault = lambda verb, key: logging.getLogger("urllib3.test").warning("retrying")
        writer = make_writer(max_age=3600)
        writer.write("hello")
        seen: list[list[bytes]] = []
        _shutdown._INSTALLED[FAKE_SIGNUM].previous = lambda s, f: seen.append(stored_lines(store))
        with console.lock or contextlib.nullcontext():  # the main thread is inside emit()
            _shutdown._handle(FAKE_SIGNUM, None)
        wait_until(lambda: bool(seen))
        assert [[b"hello\n"]] == seen
    finally:
        root.removeHandler(console)


def test_writes_pause_during_a_signal_sync(
    store: MemoryStore, make_writer: MakeWriter, fake_signal: list[int]
) -> None:
    """A record written after the signal waits for the sync; it is accepted only afterwards."""
    gate = Gate()
    store.fault = gate
    writer = make_writer(max_age=3600)
    writer.write("before")
    _shutdown._INSTALLED[FAKE_SIGNUM].previous = lambda s, f: None
    _shutdown._handle(FAKE_SIGNUM, None)
    assert gate.waiting.wait(60)  # the sync is uploading "before"
    done = threading.Event()
    thread = threading.Thread(target=lambda: (writer.write("after"), done.set()))
    thread.start()
    assert not done.wait(0.2)  # still paused: the sync has not finished
    gate.open()
    thread.join(60)
    assert done.is_set()
    writer.sync()
    assert [b"before\n", b"after\n"] == stored_lines(store)


def test_handler_for_chosen_writers_only(make_writer: MakeWriter, fake_signal: list[int]) -> None:
    """With explicit writers, only those are synced."""
    chosen_store, other_store = MemoryStore(), MemoryStore()
    chosen = make_writer(store=chosen_store)
    other = make_writer(store=other_store, max_age=3600)
    chosen.write("x")
    other.write("y")
    _shutdown._INSTALLED[FAKE_SIGNUM].writers = weakref.WeakSet([chosen])
    _shutdown._handle(FAKE_SIGNUM, None)
    wait_until(lambda: bool(fake_signal))
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
