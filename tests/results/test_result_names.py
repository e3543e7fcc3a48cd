"""ResultWriter checks names and S3's key limit before any request to the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from objlog.errors import ConfigError
from objlog.results import ResultWriter
from objlog.stores.memory import MemoryStore

BAD_NAMES = ["\ud800", "report\u202efdp.exe", "zero\u200bwidth", "line\u2028sep", "bell\x07"]


def _writer(prefix: str = "") -> tuple[ResultWriter, list[tuple[str, str]]]:
    """A result writer on a memory store that records every request."""
    store = MemoryStore(prefix=prefix)
    requests: list[tuple[str, str]] = []
    store.fault = lambda verb, key: requests.append((verb, key))
    return ResultWriter(store), requests


@pytest.mark.parametrize("bad", BAD_NAMES)
@pytest.mark.parametrize("position", [0, 1, 2])
def test_bad_names_are_refused_by_every_method_before_a_request(
    bad: str, position: int, tmp_path: Path
) -> None:
    """write, read, open, extract and key raise ConfigError and send nothing."""
    writer, requests = _writer()
    names = ["run", "task", "result"]
    names[position] = bad
    pr, task, name = names
    calls = [
        lambda: writer.key(pr, task, name),
        lambda: writer.write(pr, task, name, b"payload"),
        lambda: writer.read(pr, task, name),
        lambda: writer.open(pr, task, name),
        lambda: writer.extract(pr, task, name, tmp_path / "out"),
    ]
    for call in calls:
        with pytest.raises(ConfigError):
            call()
    assert [] == requests


def test_result_key_over_the_limit_is_refused_before_upload() -> None:
    """A key past 1,024 UTF-8 bytes fails in write, before the payload is read or sent."""
    writer, requests = _writer(prefix="p" * 400)
    wide = "é" * 127  # 254 bytes each, valid names on their own
    with pytest.raises(ConfigError, match="result key would be"):
        writer.write(wide, wide, wide, b"payload")
    assert [] == requests


def test_result_key_at_the_limit_is_stored() -> None:
    """A key of exactly 1,024 bytes is accepted and stored under that key."""
    writer, requests = _writer(prefix="p" * 251)
    name = "n" * 252  # 251 + len("/artifacts/") + 3 * 252 + 2 + len(".tgz") = 1024
    ref = writer.write(name, name, name, b"payload")
    assert 1024 == len(ref.key.encode())
    assert b"payload" == writer.read(name, name, name)
    assert ref.key in {key for _, key in requests}
