"""
Object store backends behind the `objlog.typing.ObjectStore` seam.

`open_store` turns a store URL (or nothing: the embedded default) into a
store object; see `objlog.config` for the URL forms and the precedence of
arguments, ``OBJLOG_*`` and ``AWS_*`` variables.
"""

from __future__ import annotations

# `open_store` is implemented by the store layer (issue 2); placeholder until then.
__all__ = ["open_store"]


def open_store(store: object = None, **overrides: object) -> object:  # pragma: no cover
    """Placeholder: replaced by the store layer."""
    raise NotImplementedError
