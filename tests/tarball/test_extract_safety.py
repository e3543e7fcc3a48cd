"""extract() refuses archives that would write outside dest or create devices."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from objlog.errors import PermanentStoreError
from objlog.results import ResultWriter
from objlog.stores.memory import MemoryStore

Entries = list[tuple[tarfile.TarInfo, "bytes | None"]]


def make_tgz(entries: Entries) -> bytes:
    """Build a tar.gz from hand-made members (for malicious archives)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return gzip.compress(raw.getvalue())


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info


def _special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o644
    return info


MALICIOUS: dict[str, Callable[[], Entries]] = {
    "absolute path": lambda: [(_file("/tmp/objlog-evil"), b"x")],
    "dot-dot": lambda: [(_file("../evil"), b"x")],
    "dot-dot inside": lambda: [(_file("a/../../evil"), b"x")],
    "harmless dot-dot": lambda: [(_file("a/../b"), b"x")],
    "symlink outside": lambda: [(_special("link", tarfile.SYMTYPE, "../../outside"), None)],
    "absolute symlink": lambda: [(_special("link", tarfile.SYMTYPE, "/etc/passwd"), None)],
    "hardlink outside": lambda: [(_special("hard", tarfile.LNKTYPE, "../outside"), None)],
    "char device": lambda: [(_special("null", tarfile.CHRTYPE), None)],
    "block device": lambda: [(_special("disk", tarfile.BLKTYPE), None)],
    "fifo": lambda: [(_special("pipe", tarfile.FIFOTYPE), None)],
    "write through a link": lambda: [
        (_special("d", tarfile.SYMTYPE, "."), None),
        (_file("d/payload"), b"x"),
    ],
    "good member first": lambda: [(_file("fine.txt"), b"ok"), (_file("../evil"), b"x")],
}


@pytest.fixture(params=["data_filter", "fallback"])
def filter_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run with tarfile's data filter and with objlog's own checks (Pythons without it)."""
    if request.param == "fallback":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python has no tarfile.data_filter")
    return str(request.param)


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_archive_is_refused(case: str, filter_mode: str, tmp_path: Path) -> None:
    """An unsafe member raises PermanentStoreError(UnsafeArchive) and nothing is extracted."""
    store = MemoryStore()
    writer = ResultWriter(store)
    store.put_object(writer.key("r", "t", "evil"), make_tgz(MALICIOUS[case]()))
    dest = tmp_path / "a" / "b" / "dest"
    with pytest.raises(PermanentStoreError) as info:
        writer.extract("r", "t", "evil", dest)
    assert "UnsafeArchive" == info.value.reason
    assert "artifacts/r/t/evil.tgz" == info.value.key
    assert [] == list(dest.iterdir())
    assert not Path("/tmp/objlog-evil").exists()
    assert [] == [p for p in tmp_path.rglob("*") if p.name in {"evil", "outside", "payload"}]


def test_safe_links_inside_dest_are_extracted(filter_mode: str, tmp_path: Path) -> None:
    """Relative links that stay inside dest are extracted as links."""
    store = MemoryStore()
    writer = ResultWriter(store)
    entries: Entries = [
        (_special("out", tarfile.DIRTYPE), None),
        (_file("out/data.txt"), b"data"),
        (_special("out/sub", tarfile.DIRTYPE), None),
        (_special("out/sub/up", tarfile.SYMTYPE, "../data.txt"), None),
        (_special("out/hard", tarfile.LNKTYPE, "out/data.txt"), None),
    ]
    store.put_object(writer.key("r", "t", "ok"), make_tgz(entries))
    dest = tmp_path / "dest"
    paths = writer.extract("r", "t", "ok", dest)
    assert [dest / "out", dest / "out/data.txt", dest / "out/sub", dest / "out/sub/up"] == paths[:4]
    assert b"data" == (dest / "out" / "sub" / "up").read_bytes()
    assert b"data" == (dest / "out" / "hard").read_bytes()
    assert (dest / "out" / "sub" / "up").is_symlink()


def test_extracted_modes_are_limited(filter_mode: str, tmp_path: Path) -> None:
    """Set-uid and group/other-write bits of a member are dropped on extraction."""
    store = MemoryStore()
    writer = ResultWriter(store)
    info = _file("tool")
    info.mode = 0o4777
    store.put_object(writer.key("r", "t", "m"), make_tgz([(info, b"#!/bin/sh\n")]))
    writer.extract("r", "t", "m", tmp_path)
    assert 0o755 == (tmp_path / "tool").stat().st_mode & 0o7777


def test_corrupt_archive_extract_is_a_permanent_error(tmp_path: Path) -> None:
    """A tar.gz cut short raises PermanentStoreError(CorruptResult) from extract()."""
    store = MemoryStore()
    writer = ResultWriter(store)
    data = make_tgz([(_file("a"), b"x" * 100_000)])
    store.put_object(writer.key("r", "t", "cut"), data[: len(data) // 2])
    with pytest.raises(PermanentStoreError) as info:
        writer.extract("r", "t", "cut", tmp_path)
    assert "CorruptResult" == info.value.reason
