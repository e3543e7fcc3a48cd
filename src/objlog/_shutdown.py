"""
Process lifecycle for writers: the live-writer registry, atexit, signals, fork.

* Every live `ObjectStoreWriter` is in a `weakref.WeakSet`; a writer that is
  closed or garbage-collected leaves it.
* ``atexit`` closes every live writer within one total deadline.
* `install_signal_handlers` syncs writers on SIGTERM/SIGINT/SIGHUP, then chains
  to the previous Python handler, or restores the default action and sends the
  signal again so the process ends with the status the signal gives.
* ``os.register_at_fork(after_in_child=...)`` resets every writer in a child.
* A thread-local flag marks objlog's own threads (`in_objlog_thread`) so that
  logging adapters can drop records produced by the SDK while objlog uploads.

A Python signal handler runs in the main thread between two bytecodes, so it
may interrupt that thread while it holds any lock (a writer's, a logging
handler's, stderr's). Syncing there could wait for that very lock, so the
handler only wakes a watcher thread and returns; the watcher syncs, then
sends the signal again, and on that delivery the handler chains to the
previous disposition. Writes pause meanwhile (see `writes_paused`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from types import FrameType
from typing import TYPE_CHECKING, Protocol

from objlog._report import write_stderr
from objlog.errors import ConfigError

__all__ = [
    "DEFAULT_SIGNALS",
    "OWN_THREAD",
    "in_objlog_thread",
    "install_signal_handlers",
    "live_writers",
    "mark_objlog_thread",
    "paused",
    "register",
    "unregister",
    "wait_while_paused",
    "writes_paused",
]


class Managed(Protocol):
    """What the lifecycle machinery needs from a writer."""

    @property
    def sync_timeout(self) -> float: ...

    def sync(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...

    def flush(self) -> None: ...

    def _after_fork_in_child(self) -> None: ...


_LIVE: weakref.WeakSet[Managed] = weakref.WeakSet()
# Reentrant: a signal handler may interrupt the main thread while it holds it.
_REGISTRY_LOCK = threading.RLock()
#: The thread-local behind `in_objlog_thread`, for hot paths that cannot pay a
#: call: ``OWN_THREAD.__dict__.get("active")`` is true on objlog's own threads.
#: Read-only outside this module.
OWN_THREAD = threading.local()

DEFAULT_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name)
)

if TYPE_CHECKING:
    _Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


def register(writer: Managed) -> None:
    """Add a writer to the live set."""
    with _REGISTRY_LOCK:
        _LIVE.add(writer)


def unregister(writer: Managed) -> None:
    """Remove a writer from the live set (missing is fine)."""
    with _REGISTRY_LOCK:
        _LIVE.discard(writer)


def live_writers() -> list[Managed]:
    """Return a snapshot of the live writers."""
    with _REGISTRY_LOCK:
        return list(_LIVE)


# -- own-thread flag -----------------------------------------------------------
def mark_objlog_thread(active: bool = True) -> None:
    """Mark (or unmark) the current thread as one of objlog's own."""
    OWN_THREAD.active = active


def in_objlog_thread() -> bool:
    """
    Tell whether the current thread is one of objlog's uploader threads.

    Logging adapters drop records emitted on such a thread (by botocore,
    urllib3, minio or objlog itself), which would otherwise feed back into
    the writer that is uploading.

    Returns:
        True on an objlog uploader thread.

    Thread safety: safe from any thread (the flag is thread-local).
    """
    # The thread-local's __dict__ lookup avoids the AttributeError that
    # getattr(default) raises and catches on every application thread.
    return bool(OWN_THREAD.__dict__.get("active", False))


# -- deadline helper -------------------------------------------------------------
def _sync_all(writers: list[Managed], timeout: float, *, close: bool) -> None:
    deadline = time.monotonic() + timeout
    for writer in writers:  # start every upload first, then wait for each
        try:
            writer.flush()
        except Exception:  # noqa: BLE001, S112 - the sync below reports
            continue
    for writer in writers:
        remaining = max(0.0, deadline - time.monotonic())
        try:
            if close:
                writer.close(remaining)
            else:
                writer.sync(remaining)
        except Exception as exc:  # noqa: BLE001 - shutdown must go on for the other writers
            _stderr(f"objlog: {'close' if close else 'sync'} at shutdown: {exc}")


def _stderr(line: str) -> None:
    write_stderr(line)


# -- atexit --------------------------------------------------------------------------
def _at_exit() -> None:
    _wait_for_signal_sync()
    writers = live_writers()
    if not writers:
        return
    timeout = max(w.sync_timeout for w in writers)
    _sync_all(writers, timeout, close=True)


atexit.register(_at_exit)


# -- fork --------------------------------------------------------------------------------
def _after_fork_in_child() -> None:
    global _REGISTRY_LOCK  # the parent's lock may have been held by another thread
    _REGISTRY_LOCK = threading.RLock()
    OWN_THREAD.active = False
    _reset_signals_after_fork()
    for writer in list(_LIVE):
        try:
            writer._after_fork_in_child()
        except Exception as exc:  # noqa: BLE001 - one bad writer must not break the child
            _stderr(f"objlog: resetting a writer after fork failed: {exc}")
    # multiprocessing ends forked children with os._exit(): atexit never runs
    # there, its finalizers do, and it clears them right after the fork; its
    # after-fork callbacks run after that clearing, so hook in through one.
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None and _LIVE:
        try:
            mp_util.register_after_fork(_MP_ANCHOR, _register_mp_finalizer)
        except Exception as exc:  # noqa: BLE001 - best effort
            _stderr(f"objlog: cannot hook multiprocessing exit: {exc}")


class _Anchor:
    """A weak-referenceable object for ``multiprocessing.util.register_after_fork``."""


_MP_ANCHOR = _Anchor()


def _register_mp_finalizer(_: object) -> None:
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        mp_util.Finalize(None, _at_exit, exitpriority=0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -- signals ------------------------------------------------------------------------------
# A Python signal handler runs on the main thread between two bytecodes, in
# the middle of whatever that thread was doing: it may hold a writer's lock, a
# logging handler's lock or the stderr buffer, all of which the sync needs
# (the uploader logs through the same handlers). So the handler only hands
# the signal to a watcher thread through a pipe (no lock taken) and returns;
# the watcher syncs, then sends the same signal again; on that second delivery
# the handler chains to the previous disposition. Meanwhile `write` pauses
# (`writes_paused`): records it would accept after the sync sealed the
# current batch would be lost when the process ends.
class _SignalConfig:
    __slots__ = ("previous", "timeout", "writers")

    def __init__(
        self, previous: _Handler, writers: weakref.WeakSet[Managed] | None, timeout: float
    ) -> None:
        self.previous = previous
        self.writers = writers
        self.timeout = timeout


_INSTALLED: dict[int, _SignalConfig] = {}
# State shared by the handler (main thread) and the watcher; plain values
# only: the handler must never wait for a lock (it may interrupt its holder).
#: True while a signal's sync runs: writes wait (see `writes_paused`). Public so that
#: the writer's hot path can read it inline (one load); only this module sets it.
paused = False
_syncing = False  # a signal's sync was started and not yet chained
_synced = False  # that sync is over; its signals are being sent again
_trigger = 0  # the signal that started the sync (its config applies)
_pending: set[int] = set()  # signals delivered for this sync, to send again
_wake: tuple[int, int] | None = None  # the watcher's pipe (read end, write end)
_watcher: threading.Thread | None = None
#: Seconds between checks of a write paused by a signal's sync.
_PAUSE_POLL = 0.05


def _targets(config: _SignalConfig) -> list[Managed]:
    return list(config.writers) if config.writers is not None else live_writers()


def writes_paused() -> bool:
    """True while a signal's sync runs and the current thread must not add records."""
    return paused and not in_objlog_thread()


def wait_while_paused() -> None:
    """Wait until a signal's sync is over (the process usually ends first)."""
    while writes_paused():
        time.sleep(_PAUSE_POLL)  # interruptible: the re-sent signal's handler runs here


def _handle(signum: int, frame: FrameType | None) -> None:
    global paused, _syncing, _synced, _trigger
    config = _INSTALLED.get(signum)
    if config is None:  # pragma: no cover - only installed together with a config
        return
    if _syncing:
        if not _synced:
            _pending.add(signum)  # a sync is running: it sends this one again when done
            return
        _pending.discard(signum)
        if not _pending:
            _syncing = _synced = False
            paused = False
        _chain(signum, frame, config.previous)
        return
    wake = _wake
    if wake is None or _watcher is None or not _watcher.is_alive():
        # No watcher (it could not be started): sync here, as a last resort.
        _sync_all(_targets(config), config.timeout, close=False)
        _chain(signum, frame, config.previous)
        return
    paused = _syncing = True
    _synced = False
    _trigger = signum
    _pending.add(signum)
    try:
        os.write(wake[1], b"\x01")
    except OSError:  # pragma: no cover - the pipe is ours and never full
        paused = _syncing = False
        _pending.clear()
        _sync_all(_targets(config), config.timeout, close=False)
        _chain(signum, frame, config.previous)


def _resend(signum: int) -> None:
    """Send `signum` to this process again (tests replace this)."""
    os.kill(os.getpid(), signum)


def _watch(read_fd: int) -> None:
    """The watcher thread: sync on each wake-up from the handler, then resend the signals."""
    global _synced
    mark_objlog_thread()  # never paused; adapters drop what is logged here
    while True:
        try:
            if not os.read(read_fd, 64):
                return
        except OSError:
            return
        if not _syncing or _synced:
            continue
        config = _INSTALLED.get(_trigger)
        try:
            if config is not None:
                _sync_all(_targets(config), config.timeout, close=False)
        except BaseException as exc:  # noqa: BLE001 - the signals must be sent again
            _stderr(f"objlog: sync at signal failed: {exc}")
        _synced = True
        for signum in sorted(_pending):
            try:
                _resend(signum)
            except OSError as exc:  # pragma: no cover - sending to ourselves
                _stderr(f"objlog: cannot re-send signal {signum}: {exc}")


def _start_watcher() -> None:
    """Start the watcher thread and its pipe, once per process (main thread, not a handler)."""
    global _wake, _watcher
    if _watcher is not None and _watcher.is_alive():
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    thread = threading.Thread(
        target=_watch, args=(read_fd,), name="objlog-signal-sync", daemon=True
    )
    try:
        thread.start()
    except RuntimeError:  # interpreter shutting down
        os.close(read_fd)
        os.close(write_fd)
        return
    _wake, _watcher = (read_fd, write_fd), thread


def _reset_signals_after_fork() -> None:
    """In a forked child: forget the parent's sync and pipe; start our own watcher."""
    global paused, _syncing, _synced, _wake, _watcher
    paused = _syncing = _synced = False
    _pending.clear()
    if _wake is not None:
        for fd in _wake:  # the parent's pipe: writing to it would wake the parent's watcher
            with contextlib.suppress(OSError):
                os.close(fd)
    _wake = _watcher = None
    if _INSTALLED:
        try:
            _start_watcher()
        except OSError as exc:
            _stderr(f"objlog: cannot start the signal watcher after fork: {exc}")


def _wait_for_signal_sync() -> None:
    """At exit: let a signal's sync under way finish (its signal then ends the process)."""
    watcher = _watcher
    if not _syncing or _synced or watcher is None:
        return
    config = _INSTALLED.get(_trigger)
    deadline = time.monotonic() + (config.timeout if config is not None else 0.0) + 1.0
    while _syncing and not _synced and time.monotonic() < deadline:
        time.sleep(_PAUSE_POLL)
    # The re-sent signal is handled on this (main) thread at the next bytecode.
    end = time.monotonic() + 1.0
    while _syncing and time.monotonic() < end:
        time.sleep(_PAUSE_POLL)


def _chain(signum: int, frame: FrameType | None, previous: _Handler) -> None:
    if callable(previous):
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    # SIG_DFL, or a handler installed outside Python (None): die by the signal.
    signal.signal(signum, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    os.kill(os.getpid(), signum)
    # The kernel may deliver it to another thread a moment later: do not let
    # this thread run on (and accept records nobody will sync) meanwhile.
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        time.sleep(0.01)


def install_signal_handlers(
    writers: Iterable[Managed] | None = None,
    *,
    signals: Iterable[int] = DEFAULT_SIGNALS,
    timeout: float = 10.0,
) -> None:
    """
    Sync writers when the process gets a termination signal, then let it end as usual.

    On each signal, every writer is synced within one total deadline, then
    the previous Python handler is called (SIGINT's default raises
    KeyboardInterrupt), or, when the previous disposition was the default
    action, the default is restored and the signal sent again, so the exit
    status is the signal's (what Kubernetes and shells expect). A signal
    that is ignored (SIG_IGN, e.g. SIGHUP under nohup) stays ignored.
    Calling it again replaces the writers and timeout, not the chain.

    The sync runs on a watcher thread started here, never inside the
    handler, so it works whatever lock the interrupted main thread holds
    (a console handler's, stderr's); the main thread runs on meanwhile, but
    `write` on any thread but objlog's own waits until the sync is over, so
    every record whose `write` returned is stored or spooled. A signal
    arriving during the sync does not start another one. If the program
    ends normally during the sync, the atexit hook lets it finish first.

    Args:
        writers: The writers to sync (held weakly); None (default) means
            every live writer at the time of the signal.
        signals: Signal numbers (default SIGTERM, SIGINT, SIGHUP).
        timeout: Total seconds for syncing all writers (default 10.0; keep it
            below the platform's grace period, 30 s on Kubernetes).

    Raises:
        ConfigError: Not called from the main thread, or `timeout` < 0.

    Thread safety: main thread only (a Python rule for signal handlers).
    """
    if threading.current_thread() is not threading.main_thread():
        raise ConfigError("install_signal_handlers must be called from the main thread")
    if timeout < 0:
        raise ConfigError(f"timeout must be >= 0 seconds, got {timeout}")
    _start_watcher()
    chosen: weakref.WeakSet[Managed] | None = None
    if writers is not None:
        chosen = weakref.WeakSet(writers)
    for raw in signals:
        signum = int(raw)
        if signum in _INSTALLED and signal.getsignal(signum) is _handle:
            previous = _INSTALLED[signum].previous
        else:
            previous = signal.getsignal(signum)
            if previous == signal.SIG_IGN:
                continue
        _INSTALLED[signum] = _SignalConfig(previous, chosen, timeout)
        signal.signal(signum, _handle)
