"""
The logging examples run as documented, against the embedded default store.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from objlog.reader import read_records
from objlog.stores import open_store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.process
@pytest.mark.parametrize(
    ("script", "tasks", "expected"),
    [
        ("logging_handler.py", ["logging-handler"], "evaluation failed"),
        ("dictconfig.py", ["dictconfig"], "disk almost full"),
        ("structlog_sink.py", ["structlog-tee", "structlog-sink"], "model saved"),
    ],
)
def test_example_stores_its_records(
    script: str, tasks: list[str], expected: str, tmp_path: Path
) -> None:
    """Each example exits 0 and its records can be read back from the default store."""
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OBJLOG_HOME": str(home)},
        cwd=tmp_path,
    )
    assert 0 == done.returncode, done.stderr
    store = open_store(str(home / "store"))
    texts = [
        str(r.get("message", r.get("event")))
        for task in tasks
        for r in read_records(store, "example-run", task)
    ]
    assert expected in texts
