"""The package surface: exports, lazy SDK imports, typing marker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import objlog


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted and names every public, non-module attribute of the package."""
    public = {
        name
        for name, value in vars(objlog).items()
        if not name.startswith("_")
        and not isinstance(value, type(objlog))
        and name != "annotations"
    }
    assert sorted(objlog.__all__) == objlog.__all__
    assert public == set(objlog.__all__)


def test_importing_objlog_loads_no_sdk() -> None:
    """`import objlog` and the engine import neither boto3, minio nor structlog."""
    code = (
        "import sys, objlog, objlog.writer, objlog.stdlib, objlog.structlog, objlog.results;"
        "print(sorted(m for m in ('boto3','botocore','minio','structlog') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "[]" == out.strip()


def test_package_is_typed() -> None:
    """py.typed ships with the package (PEP 561)."""
    assert (Path(objlog.__file__).parent / "py.typed").is_file()
