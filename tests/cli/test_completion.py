"""``objlog completion bash|zsh``: scripts generated from the parser by shtab."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from objlog.cli import completion_script, main
from objlog.errors import ConfigError, MissingBackendError

pytest.importorskip("shtab", reason="the completion extra (shtab) is not installed")


def _print(capsys: pytest.CaptureFixture[str], shell: str) -> str:
    assert 0 == main(["completion", shell])
    return capsys.readouterr().out


def _bash_complete(script: Path, words: list[str]) -> list[str]:
    """Return what the bash completion function offers for the command line `words`."""
    line = " ".join(words)
    program = (
        f'source "{script}"; COMP_WORDS=({" ".join(words)}); COMP_CWORD={len(words) - 1};'
        f' COMP_LINE="{line}"; COMP_POINT={len(line)}; _shtab_objlog;'
        ' printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        ["bash", "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_script_is_valid_and_completes_commands_and_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The bash script passes ``bash -n`` and completes commands, options and choices."""
    script = tmp_path / "objlog.bash"
    script.write_text(_print(capsys, "bash"))
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=60)
    assert ["result"] == _bash_complete(script, ["objlog", "res"])
    assert {"get", "put", "ls", "extract"} <= set(_bash_complete(script, ["objlog", "result", ""]))
    assert ["--compresslevel"] == _bash_complete(script, ["objlog", "run", "--compressl"])
    assert ["bash"] == _bash_complete(script, ["objlog", "completion", "ba"])


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_is_valid(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The zsh script is a ``#compdef objlog`` function that ``zsh -n`` accepts."""
    script = tmp_path / "_objlog"
    text = _print(capsys, "zsh")
    script.write_text(text)
    assert text.startswith("#compdef objlog")
    subprocess.run(["zsh", "-n", str(script)], check=True, timeout=60)


def test_paths_complete_as_files_and_directories() -> None:
    """Options naming a file or directory (``-o PATH``, ``--spool-dir DIR``) complete as such."""
    script = completion_script("bash")
    assert "_shtab_objlog_result_get__o_COMPGEN=_shtab_compgen_files" in script
    assert "_shtab_objlog_spool_ls___spool_dir_COMPGEN=_shtab_compgen_dirs" in script


def test_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unsupported shell is refused by the parser (exit 2) and by the function."""
    with pytest.raises(SystemExit) as exited:
        main(["completion", "fish"])
    assert 2 == exited.value.code
    assert "invalid choice: 'fish'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="fish"):
        completion_script("fish")


def test_without_shtab_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without shtab: one error line naming ``pip install 'objlog-s3[completion]'``, exit 1."""
    monkeypatch.setitem(sys.modules, "shtab", None)  # import shtab now raises ImportError
    with pytest.raises(MissingBackendError):
        completion_script("bash")
    assert 1 == main(["completion", "bash"])
    captured = capsys.readouterr()
    assert "" == captured.out
    assert [
        "objlog: error: shell completion needs shtab: pip install 'objlog-s3[completion]'"
    ] == captured.err.splitlines()
