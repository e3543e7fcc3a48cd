"""The engine's boundary: its parts import no logging, no SDK, no config and no stores."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import objlog._engine

ENGINE = Path(objlog._engine.__file__).parent
FORBIDDEN = ("logging", "boto3", "botocore", "minio", "structlog", "objlog.config", "objlog.stores")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", sorted(ENGINE.glob("*.py")), ids=lambda p: p.name)
def test_engine_module_stays_inside_its_layer(path: Path) -> None:
    """No engine module imports logging, an SDK, structlog, objlog.config or objlog.stores."""
    crossing = sorted(
        name
        for name in _imports(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    )
    assert [] == crossing
