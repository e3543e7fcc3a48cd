"""The CLI's progress bar is an optional nicety (the ``progress`` extra)."""

from __future__ import annotations

import io
import sys

import pytest

from objlog import cli


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_no_tqdm_means_no_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without tqdm a large transfer on a terminal gets no bar instead of an error."""
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert None is cli._progress(cli.PROGRESS_MIN_BYTES * 4, "big")
