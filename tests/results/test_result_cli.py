"""
``objlog result ls|extract|get`` against a real S3 server, and `ResultWriter.list_results`.

The CLI runs in-process (``objlog.cli.main``) with the environment a user
would set: ``OBJLOG_STORE`` naming a fresh bucket, ``AWS_*`` pointing at the
server. The listing rule, which objects count as results, is pure logic and
gets a property test on the in-memory store.
"""

from __future__ import annotations

import io
import json
import string
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from objlog.cli import main
from objlog.results import ResultWriter
from objlog.stores import open_store
from objlog.stores.memory import MemoryStore
from objlog.typing import ObjectStore

if TYPE_CHECKING:
    from s3harness import S3Target  # tests/s3harness.py, for annotations only

SECRET = "s3cr3t-VALUE-never-printed"


@pytest.fixture
def cli_store(
    s3_target: S3Target, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ObjectStore]:
    """Point the CLI at a fresh bucket through the environment; yield a store on it."""
    for name, value in s3_target.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OBJLOG_STORE", f"s3://{s3_bucket}")
    store = open_store(f"s3://{s3_bucket}")
    yield store
    store.close()


@pytest.fixture
def produced(tmp_path: Path) -> Path:
    """What a step produced: ``out/model.bin`` and the tree ``out/`` (with a sub-directory)."""
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "model.bin").write_bytes(bytes(range(256)) * 40)
    (out / "plots" / "loss.csv").write_text("epoch,loss\n1,0.5\n2,0.25\n")
    (out / "README").write_text("what this run made\n")
    return out


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(list(argv))
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    return status, out, err


def _store_three(store: ObjectStore, produced: Path) -> None:
    with ResultWriter(store) as results:
        results.write("pr", "t", "metrics", '{"accuracy": 0.97}')
        results.write("pr", "t", "model", produced / "model.bin")
        results.write("pr", "t", "outputs", produced)


def test_result_ls_lists_names_sizes_and_times(
    cli_store: ObjectStore, produced: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``result ls PR TASK`` shows each result's stored size, time and name, sorted by name."""
    _store_three(cli_store, produced)
    # Not results: another extension, and an object one level deeper.
    cli_store.put_object("artifacts/pr/t/notes.txt", b"n")
    cli_store.put_object("artifacts/pr/t/deeper/x.tgz", b"x")
    status, out, err = _run(capsys, "result", "ls", "pr", "t")
    assert (0, "") == (status, err)
    rows = [line.split() for line in out.splitlines()]
    assert ["metrics", "model", "outputs"] == [row[2] for row in rows]
    for size, when, name in rows:
        info = cli_store.head_object(f"artifacts/pr/t/{name}.tgz")
        assert str(info.size) == size
        assert info.last_modified.strftime("%Y-%m-%dT%H:%M:%SZ") == when


def test_result_ls_json(
    cli_store: ObjectStore, produced: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--json`` prints one object per result: name, key, size_bytes, last_modified."""
    _store_three(cli_store, produced)
    status, out, _ = _run(capsys, "result", "ls", "pr", "t", "--json")
    assert 0 == status
    lines = [json.loads(line) for line in out.splitlines()]
    assert ["metrics", "model", "outputs"] == [line["name"] for line in lines]
    first = lines[0]
    info = cli_store.head_object("artifacts/pr/t/metrics.tgz")
    assert {
        "name": "metrics",
        "key": "artifacts/pr/t/metrics.tgz",
        "size_bytes": info.size,
        "last_modified": info.last_modified.strftime("%Y-%m-%dT%H:%M:%SZ"),
    } == first


def test_result_ls_of_a_task_without_results_is_one_error(
    cli_store: ObjectStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """No results: exit 1 and one error line naming the run and task."""
    status, out, err = _run(capsys, "result", "ls", "pr", "nothing-here")
    assert (1, "") == (status, out)
    assert ["objlog: error: no results for run 'pr' task 'nothing-here' in s3://"] == [
        line[: line.index("s3://") + 5] for line in err.splitlines()
    ]


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path below `root`: file bytes, or None for a directory."""
    return {
        str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes())
        for p in sorted(root.rglob("*"))
    }


def test_result_extract_restores_a_directory_byte_exact(
    cli_store: ObjectStore, produced: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``result extract`` of a directory result recreates the tree under DEST, byte-exact."""
    _store_three(cli_store, produced)
    dest = tmp_path / "restored" / "here"  # created, parents included
    status, out, err = _run(capsys, "result", "extract", "pr", "t", "outputs", str(dest), "-v")
    assert (0, "") == (status, err)
    assert _tree(produced) == _tree(dest / "out")
    listed = set(out.splitlines())
    assert str(dest / "out" / "plots" / "loss.csv") in listed


def test_result_extract_of_a_file_result(
    cli_store: ObjectStore, produced: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file result extracts as DEST/<its file name>; a str result as DEST/<name>; silently."""
    _store_three(cli_store, produced)
    assert (0, "", "") == _run(capsys, "result", "extract", "pr", "t", "model", str(tmp_path / "d"))
    assert (produced / "model.bin").read_bytes() == (tmp_path / "d" / "model.bin").read_bytes()
    assert 0 == _run(capsys, "result", "extract", "pr", "t", "metrics", str(tmp_path / "d"))[0]
    assert b'{"accuracy": 0.97}' == (tmp_path / "d" / "metrics").read_bytes()


def test_result_get_of_a_directory_points_at_extract(
    cli_store: ObjectStore, produced: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``result get`` of a directory: exit 2, one line giving the extract command, no file."""
    _store_three(cli_store, produced)
    target = tmp_path / "got"
    for extra in ([], ["-o", str(target)]):
        status, out, err = _run(capsys, "result", "get", "pr", "t", "outputs", *extra)
        assert (2, "") == (status, out)
        assert [
            "objlog: error: result 'outputs' of run 'pr' task 't' is a directory, not one file:"
            " extract it with objlog result extract pr t outputs DEST"
        ] == err.splitlines()
    assert not target.exists()
    assert [] == [p.name for p in tmp_path.iterdir() if "objlog-tmp" in p.name]


def _hostile_archive(*members: tarfile.TarInfo) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for member in members:
            data = b"pwned\n" if member.isreg() else None
            if data is not None:
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    "members",
    [
        [_member("../escaped")],
        [_member("/tmp/objlog-absolute-escape")],
        [_member("ok/link", tarfile.SYMTYPE, "../../.."), _member("ok/link/escaped")],
        [_member("link", tarfile.SYMTYPE, "/etc")],
        [_member("dev", tarfile.CHRTYPE)],
    ],
    ids=["dotdot", "absolute", "through-a-link", "absolute-link", "device"],
)
def test_result_extract_refuses_unsafe_members(
    cli_store: ObjectStore,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    members: list[tarfile.TarInfo],
) -> None:
    """A hostile archive: exit 1, one error line, and nothing written in or out of DEST."""
    cli_store.put_object("artifacts/pr/t/evil.tgz", _hostile_archive(*members))
    dest = tmp_path / "box" / "dest"
    status, out, err = _run(capsys, "result", "extract", "pr", "t", "evil", str(dest))
    assert (1, "") == (status, out)
    (line,) = err.splitlines()
    assert line.startswith("objlog: error: ")
    assert "refusing to extract result" in line
    assert [] == list(dest.iterdir())
    assert ["dest"] == [p.name for p in (tmp_path / "box").iterdir()]
    assert not Path("/tmp/objlog-absolute-escape").exists()


def test_result_extract_usage_errors(
    cli_store: ObjectStore, produced: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DEST a file: exit 2; a missing result: exit 1; each one error line."""
    _store_three(cli_store, produced)
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    status, _, err = _run(capsys, "result", "extract", "pr", "t", "outputs", str(a_file))
    assert 2 == status
    assert [f"objlog: error: {a_file}: exists and is not a directory"] == err.splitlines()
    assert "keep me" == a_file.read_text()
    status, _, err = _run(capsys, "result", "extract", "pr", "t", "missing", str(tmp_path / "x"))
    assert 1 == status
    assert err.startswith("objlog: error: no result 'missing' for run 'pr' task 't' in s3://")
    assert 1 == len(err.splitlines())


# -- the listing rule, property-tested on the in-memory store ----------------------------

_NAME = st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=12).filter(
    lambda n: n not in {".", ".."}
)
_JUNK = st.one_of(
    _NAME.map(lambda n: f"{n}.txt"),  # another extension
    st.tuples(_NAME, _NAME).map(lambda p: f"{p[0]}/{p[1]}.tgz"),  # one level deeper
    st.just(".tgz"),  # an empty name
    _NAME.map(lambda n: f"{n}\x1b.tgz"),  # a name key() would refuse
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(names=st.sets(_NAME, max_size=8), junk=st.sets(_JUNK, max_size=5))
def test_list_results_is_exactly_the_valid_tgz_names(names: set[str], junk: set[str]) -> None:
    """list_results returns every valid ``<name>.tgz`` directly below the task, sorted, no more."""
    store = MemoryStore(prefix="team")
    for name in names:
        store.put_object(f"team/artifacts/pr/t/{name}.tgz", name.encode())
    for rest in junk:
        store.put_object(f"team/artifacts/pr/t/{rest}", b"j")
    store.put_object("team/artifacts/pr/other/x.tgz", b"o")  # another task
    found = ResultWriter(store).list_results("pr", "t")
    assert sorted(names) == list(found)
    assert all(found[n].key == f"team/artifacts/pr/t/{n}.tgz" for n in found)
    assert all(found[n].size == len(n.encode()) for n in found)
