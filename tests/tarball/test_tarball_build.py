"""
Properties of `objlog._tarball`'s archive build: deterministic bytes, payload first, sorted trees.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from objlog._tarball import DIR_MODE, FILE_MODE, RESULT_MTIME, plan, write_archive

# Names a file system and a tar member both take: no "/", NUL, "." or "..".
segments = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
    min_size=1,
    max_size=12,
).filter(lambda name: name not in {".", ".."} and len(name.encode()) <= 100)


def _build(name: str, data: bytes, compresslevel: int = 6) -> bytes:
    """Return the tar.gz `write_archive` makes of `data` stored as `name`."""
    sink = io.BytesIO()
    write_archive(plan(name, data), sink, compresslevel, None)
    return sink.getvalue()


@settings(max_examples=50, deadline=None)
@given(name=segments, data=st.binary(max_size=2048), level=st.integers(0, 9))
def test_payload_is_the_first_member_with_fixed_attributes(
    name: str, data: bytes, level: int
) -> None:
    """Any payload is the archive's first member, with mtime 0, owner 0 and mode 0644."""
    with tarfile.open(fileobj=io.BytesIO(_build(name, data, level)), mode="r:gz") as tar:
        first = tar.next()
        assert first is not None
        extracted = tar.extractfile(first)
        assert extracted is not None
        expected = (name, data, RESULT_MTIME, 0, 0, "", "", FILE_MODE)
        actual = (
            first.name,
            extracted.read(),
            first.mtime,
            first.uid,
            first.gid,
            first.uname,
            first.gname,
            first.mode,
        )
        assert expected == actual


@settings(max_examples=50, deadline=None)
@given(name=segments, data=st.binary(max_size=2048))
def test_same_input_gives_the_same_bytes(name: str, data: bytes) -> None:
    """Building the same payload twice gives byte-identical archives."""
    assert _build(name, data) == _build(name, data)


@settings(max_examples=25, deadline=None)
@given(
    tree=st.dictionaries(segments, st.dictionaries(segments, st.binary(max_size=16), max_size=3))
)
def test_directory_members_are_sorted_depth_first(tree: dict[str, dict[str, bytes]]) -> None:
    """A directory is stored under its base name, then each child by name, depth first."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "outputs")
        root.mkdir()
        for directory, files in tree.items():
            (root / directory).mkdir()
            for name, data in files.items():
                (root / directory / name).write_bytes(data)
        expected = [("outputs", DIR_MODE)]
        for directory in sorted(tree):
            expected.append((f"outputs/{directory}", DIR_MODE))
            expected += [
                (f"outputs/{directory}/{name}", FILE_MODE) for name in sorted(tree[directory])
            ]
        sink = io.BytesIO()
        write_archive(plan("ignored", root), sink, 1, None)
    with tarfile.open(fileobj=io.BytesIO(sink.getvalue()), mode="r:gz") as tar:
        assert expected == [(member.name, member.mode) for member in tar.getmembers()]
