"""Every door that builds a writer (the writer, the handler, ``objlog run``) follows OBJLOG_*."""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path

import pytest

from objlog import ObjectStoreHandler, ObjectStoreWriter, cli
from objlog._run import RunOptions, run_step
from objlog.errors import ConfigError
from objlog.stores.memory import MemoryStore

TUNED = {
    "OBJLOG_MAX_SIZE_BYTES": "1MiB",
    "OBJLOG_MAX_AGE": "2.5",
    "OBJLOG_MAX_BUFFER_BYTES": "4MiB",
    "OBJLOG_WHEN_FULL": "drop",
    "OBJLOG_COMPRESSION": "none",
    "OBJLOG_COMPRESSLEVEL": "3",
}


def _writer_options(writer: ObjectStoreWriter) -> tuple[object, ...]:
    return (
        writer.max_size_bytes,
        writer.max_age,
        writer.max_buffer_bytes,
        writer.when_full,
        writer.compresslevel,
    )


def test_writer_takes_its_options_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer built with no options uses OBJLOG_*; OBJLOG_COMPRESSION=none stores .jsonl."""
    for name, value in TUNED.items():
        monkeypatch.setenv(name, value)
    store = MemoryStore()
    with ObjectStoreWriter(store, pipelinerun="pr", task="t") as writer:
        writer.write('{"message": "tuned"}')
        actual = _writer_options(writer)
    keys = [info.key for info in store.list_objects("logs/")]
    assert (1024**2, 2.5, 4 * 1024**2, "drop", 3) == actual
    assert 1 == len(keys)
    assert keys[0].endswith(".jsonl")


def test_writer_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Options passed to the writer win over their variables."""
    for name, value in TUNED.items():
        monkeypatch.setenv(name, value)
    with ObjectStoreWriter(
        MemoryStore(),
        pipelinerun="pr",
        task="t",
        max_size_bytes=2048,
        max_age=1.0,
        max_buffer_bytes=4096,
        when_full="block",
        compression="gzip",
        compresslevel=6,
    ) as writer:
        actual = _writer_options(writer)
    assert (2048, 1.0, 4096, "block", 6) == actual


def test_writer_refuses_a_bad_variable_before_opening_a_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A bad OBJLOG_MAX_AGE is a ConfigError naming it, and no store directory is made."""
    monkeypatch.setenv("OBJLOG_MAX_AGE", "-1")
    with pytest.raises(ConfigError) as info:
        ObjectStoreWriter(str(tmp_path / "store"), pipelinerun="pr", task="t")
    assert "OBJLOG_MAX_AGE='-1'" in str(info.value)
    assert not (tmp_path / "store").exists()


def test_writer_spools_under_its_stores_directory_of_the_env_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With OBJLOG_SPOOL_DIR, a writer spools in the root's subdirectory for its store."""
    monkeypatch.setenv("OBJLOG_SPOOL_DIR", str(tmp_path))
    store = MemoryStore()
    own = tmp_path / hashlib.sha256(store.url.encode()).hexdigest()[:16]
    with ObjectStoreWriter(store, pipelinerun="pr", task="t") as writer:
        writer.write("spooled first")
        writer.sync()
        spool_dirs = [path.name.split(".")[0] for path in own.iterdir()]
        assert [writer.writer_id] == spool_dirs
    with ObjectStoreWriter(store, pipelinerun="pr", task="t", spool_dir=False) as writer:
        writer.write("never spooled")
    assert [] == list(own.iterdir())


def test_handler_writer_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """ObjectStoreHandler's own writer takes OBJLOG_* like any writer; its options win."""
    monkeypatch.setenv("OBJLOG_MAX_AGE", "2.5")
    monkeypatch.setenv("OBJLOG_WHEN_FULL", "drop")
    handler = ObjectStoreHandler(MemoryStore(), pipelinerun="pr", task="t", when_full="block")
    try:
        actual = (handler.writer.max_age, handler.writer.when_full)
    finally:
        handler.close()
    assert (2.5, "block") == actual


def test_run_step_follows_the_environment_but_not_into_a_spool(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """run_step's writer takes OBJLOG_COMPRESSION; spool_dir=None means no spool despite the env."""
    monkeypatch.setenv("OBJLOG_COMPRESSION", "none")
    monkeypatch.setenv("OBJLOG_SPOOL_DIR", str(tmp_path / "env-spool"))
    store = MemoryStore()
    options = RunOptions(command=[sys.executable, "-c", "print('a')"], pipelinerun="pr", task="t")
    report = run_step(store, options, stdout=io.BytesIO(), stderr=io.BytesIO())
    keys = [info.key for info in store.list_objects("logs/")]
    assert 0 == report.exit_status
    assert [] != keys
    assert [] == [key for key in keys if not key.endswith(".jsonl")]
    assert not (tmp_path / "env-spool").exists()


def test_objlog_run_leaves_compresslevel_to_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`objlog run` without --compresslevel uses OBJLOG_COMPRESSLEVEL; the flag wins over it."""
    monkeypatch.setenv("OBJLOG_COMPRESSLEVEL", "12")
    argv = ["run", "--store", (tmp_path / "store").as_uri(), "--pipelinerun", "pr", "-q"]
    command = ["--", sys.executable, "-c", "pass"]
    refused = cli.main([*argv, "--task", "a", *command])
    refusal = capsys.readouterr().err
    accepted = cli.main([*argv, "--task", "b", "--compresslevel", "3", *command])
    assert (2, 0) == (refused, accepted)
    assert "OBJLOG_COMPRESSLEVEL='12'" in refusal
