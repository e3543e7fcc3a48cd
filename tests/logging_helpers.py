"""
Helpers for the logging adapters' tests: a list-backed stand-in writer, a strategy of values.
"""

from __future__ import annotations

import threading

from hypothesis import strategies as st

from objlog.errors import WriterClosedError


class ListWriter:
    """A writer stand-in keeping lines in a list (for handler logic, not I/O)."""

    prefix = "logs/run/task/"

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.closed = False
        self.sync_timeouts: list[float | None] = []
        self.close_timeouts: list[float | None] = []
        self.sync_error: BaseException | None = None
        self._lock = threading.Lock()

    def write(self, data: str | bytes) -> int:
        """Append one line; refuse after close as the real writer does."""
        if self.closed:
            raise WriterClosedError("write() after close()")
        text = data.decode() if isinstance(data, bytes) else data
        with self._lock:
            self.lines.append(text.rstrip("\n"))
        return len(data)

    def sync(self, timeout: float | None = None) -> None:
        """Record the timeout; raise `sync_error` when set."""
        self.sync_timeouts.append(timeout)
        if self.sync_error is not None:
            raise self.sync_error

    def close(self, timeout: float | None = None) -> None:
        """Record the timeout and refuse further writes."""
        self.close_timeouts.append(timeout)
        self.closed = True


class BrokenRepr:
    """An object whose repr raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


#: Any value a log call may carry: JSON scalars and containers, bytes, sets, NaN, int keys.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=3)
        | st.frozensets(st.integers(), max_size=3)
    ),
    max_leaves=10,
)
