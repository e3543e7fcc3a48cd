"""The package surface: exports, lazy SDK imports, typing marker."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import objlog
from objlog import _package

ROOT = Path(__file__).resolve().parents[1]


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


def test_version_comes_from_the_installed_metadata() -> None:
    """__version__ is the installed distribution's version, or 0+unknown from a bare tree."""
    try:
        expected = metadata.version("objlog-s3")
    except metadata.PackageNotFoundError:
        expected = _package.UNKNOWN_VERSION
    assert expected == objlog.__version__


def test_version_is_written_only_in_pyproject() -> None:
    """No module under src/ repeats the version pyproject.toml declares."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^version = "([^"]+)"$', pyproject, re.MULTILINE)
    assert match is not None
    repeats = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "src").rglob("*.py"))
        if match.group(1) in path.read_text(encoding="utf-8")
    ]
    assert [] == repeats


def test_license_is_the_apache_2_text() -> None:
    """LICENSE holds the Apache License 2.0 that pyproject.toml declares."""
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert text.lstrip().startswith("Apache License\n                           Version 2.0")
    assert "END OF TERMS AND CONDITIONS" in text


def test_install_hint_names_the_distribution_and_extra() -> None:
    """The hint is the exact, shell-quoted pip command for one extra."""
    assert "pip install 'objlog-s3[s3]'" == _package.install_hint("s3")
