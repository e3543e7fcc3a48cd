"""The core alone, installed from this checkout into a fresh virtualenv, logs and reads back."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 600  # seconds for the venv and the pip install (PyPI, a 2-core box)

# Runs inside the fresh venv: logs through the stdlib handler to a file:// store,
# then reports the version, what open_store("s3://bkt") says and which SDKs exist.
CHILD = textwrap.dedent(
    """
    import importlib.util, json, logging, sys
    import objlog
    from objlog import MissingBackendError, ObjectStoreHandler, open_store

    handler = ObjectStoreHandler(sys.argv[1], pipelinerun="fresh", task="venv")
    log = logging.getLogger("fresh")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.info("hello from the core")
    handler.close()
    try:
        open_store("s3://bkt")  # "s3://b" would fail first: S3 bucket names have 3+ characters
        hint = ""
    except MissingBackendError as exc:
        hint = str(exc)
    sdks = ("boto3", "botocore", "minio", "structlog", "tqdm")
    print(json.dumps({
        "version": objlog.__version__,
        "hint": hint,
        "sdks": sorted(m for m in sdks if importlib.util.find_spec(m)),
    }))
    """
)


def _clean_env(home: Path) -> dict[str, str]:
    """The environment without objlog's or AWS settings and without this checkout on sys.path."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "OBJLOG_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["OBJLOG_HOME"] = str(home)
    return env


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run `argv`, assert it succeeded (showing its stderr if not) and return its stdout."""
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=cwd, check=False
    )
    assert 0 == proc.returncode, proc.stderr
    return proc.stdout


def test_core_install_logs_to_a_local_store_and_reads_back(tmp_path: Path) -> None:
    """pip install of the checkout with no extras: the handler, `objlog cat` and the hint work."""
    env = _clean_env(tmp_path / "home")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], env, tmp_path)
    python, objlog_cmd = str(venv / "bin" / "python"), str(venv / "bin" / "objlog")
    _run([python, "-m", "pip", "install", "-q", str(ROOT)], env, tmp_path)
    store = (tmp_path / "store").as_uri()
    report = json.loads(_run([python, "-c", CHILD, store], env, tmp_path))
    cat = _run([objlog_cmd, "cat", store, "fresh", "venv"], env, tmp_path)
    declared = re.search(
        r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE
    )
    assert declared is not None
    assert declared.group(1) == report["version"]
    assert [] == report["sdks"]
    assert "pip install 'objlog-s3[s3]'" in report["hint"]
    assert "hello from the core" in cat
