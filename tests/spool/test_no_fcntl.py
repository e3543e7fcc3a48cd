"""Where ``fcntl`` is missing (Windows), objlog imports and logs; only the spool says no."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

# Runs in a child whose ``import fcntl`` fails, as on Windows.
CHILD = textwrap.dedent(
    """
    import json, sys
    sys.modules["fcntl"] = None
    import objlog, objlog.reader, objlog.stdlib, objlog.structlog, objlog.writer
    from objlog import ConfigError, ObjectStoreWriter, open_store

    store = open_store(sys.argv[1])
    with ObjectStoreWriter(store, pipelinerun="pr", task="t") as writer:
        writer.write('{"message": "no fcntl here"}')
    messages = [r["message"] for r in objlog.reader.read_records(store, "pr", "t")]
    try:
        ObjectStoreWriter(store, pipelinerun="pr", task="t", spool_dir=sys.argv[2]).close()
        error = ""
    except ConfigError as exc:
        error = str(exc)
    print(json.dumps({"messages": messages, "error": error}))
    """
)


def run_without_fcntl(tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    """Run `CHILD` on a file:// store under `tmp_path` and return its report."""
    child = subprocess.run(
        [sys.executable, "-c", CHILD, (tmp_path / "store").as_uri(), str(tmp_path / "spool")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, **env},
    )
    report: dict[str, object] = json.loads(child.stdout)
    return report


def test_import_and_local_store_work_without_fcntl(tmp_path: Path) -> None:
    """Import, write and read back work without fcntl; a spool_dir is a ConfigError."""
    report = run_without_fcntl(tmp_path, {})
    assert ["no fcntl here"] == report["messages"]
    assert "fcntl" in str(report["error"])
    assert not (tmp_path / "spool").exists()


def test_env_spool_without_fcntl_names_the_variable(tmp_path: Path) -> None:
    """OBJLOG_SPOOL_DIR where fcntl is missing: ConfigError naming it, before a store opens."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["fcntl"] = None
        from objlog import ConfigError, ObjectStoreWriter
        try:
            ObjectStoreWriter(sys.argv[1], pipelinerun="pr", task="t")
        except ConfigError as exc:
            print(exc)
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", code, (tmp_path / "store").as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "OBJLOG_SPOOL_DIR": str(tmp_path / "spool")},
    )
    assert f"OBJLOG_SPOOL_DIR={str(tmp_path / 'spool')!r}" in child.stdout
    assert not (tmp_path / "store").exists()
    assert not (tmp_path / "spool").exists()
