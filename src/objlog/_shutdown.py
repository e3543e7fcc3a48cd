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
may interrupt that thread inside a writer's critical section. Syncing then
would deadlock (or see half-updated state), so the handler is deferred until
the section ends (the writer calls `run_deferred` on the way out); while the
main thread waits inside a writer (blocked write, sync) the lock is released
and the handler runs at once.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from types import FrameType
from typing import TYPE_CHECKING, Protocol

from objlog.errors import ConfigError

__all__ = [
    "DEFAULT_SIGNALS",
    "in_objlog_thread",
    "install_signal_handlers",
    "live_writers",
    "mark_objlog_thread",
    "register",
    "run_deferred",
    "unregister",
]


class Managed(Protocol):
    """What the lifecycle machinery needs from a writer."""

    @property
    def sync_timeout(self) -> float: ...

    def sync(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...

    def flush(self) -> None: ...

    def _lock_held_here(self) -> bool: ...

    def _after_fork_in_child(self) -> None: ...


_LIVE: weakref.WeakSet[Managed] = weakref.WeakSet()
# Reentrant: a signal handler may interrupt the main thread while it holds it.
_REGISTRY_LOCK = threading.RLock()
_TLS = threading.local()

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
    _TLS.active = active


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
    return bool(getattr(_TLS, "active", False))


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
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except Exception:  # noqa: BLE001, S110 - stderr may be closed at shutdown; nothing to do
        pass


# -- atexit --------------------------------------------------------------------------
def _at_exit() -> None:
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
    _TLS.active = False
    _DEFERRED.clear()
    _HANDLING.clear()
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
class _SignalConfig:
    __slots__ = ("previous", "timeout", "writers")

    def __init__(
        self, previous: _Handler, writers: weakref.WeakSet[Managed] | None, timeout: float
    ) -> None:
        self.previous = previous
        self.writers = writers
        self.timeout = timeout


_INSTALLED: dict[int, _SignalConfig] = {}
_DEFERRED: list[tuple[int, FrameType | None]] = []
_HANDLING: set[int] = set()


def _targets(config: _SignalConfig) -> list[Managed]:
    return list(config.writers) if config.writers is not None else live_writers()


def _handle(signum: int, frame: FrameType | None) -> None:
    config = _INSTALLED.get(signum)
    if config is None:  # pragma: no cover - only installed together with a config
        return
    writers = _targets(config)
    if any(w._lock_held_here() for w in writers):
        # Interrupted inside a writer's critical section: finish it first.
        _DEFERRED.append((signum, frame))
        return
    if signum not in _HANDLING:
        _HANDLING.add(signum)
        try:
            _sync_all(writers, config.timeout, close=False)
        finally:
            _HANDLING.discard(signum)
    _chain(signum, frame, config.previous)


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


def run_deferred() -> None:
    """Run signal handlers deferred while this thread was inside a writer; writers call this."""
    if not _DEFERRED or threading.current_thread() is not threading.main_thread():
        return
    pending = list(_DEFERRED)
    _DEFERRED.clear()
    for signum, frame in pending:
        _handle(signum, frame)


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
