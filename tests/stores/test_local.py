"""LocalStore specifics: key safety, atomic writes, sidecars, the embedded default."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from objlog import errors
from objlog.errors import ObjectNotFoundError, PermanentStoreError
from objlog.stores import open_store
from objlog.stores.local import InvalidKeyError, LocalStore, _split_key
from objlog.stores.memory import MemoryStore


@pytest.mark.parametrize(
    "key", ["../escape", "a/../../b", "/etc/passwd", "a//b", "./a", "a/.", ".objlog/meta/x", ""]
)
def test_key_escaping_the_directory_is_refused(tmp_path: Path, key: str) -> None:
    """Keys with '..', '.', empty segments, a leading '/' or .objlog/ raise InvalidKeyError."""
    store = LocalStore(tmp_path / "store")
    with pytest.raises(InvalidKeyError) as info:
        store.put_object(key, b"x")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, PermanentStoreError)
    assert list(tmp_path.parent.glob("escape")) == []


def test_invalid_key_error_is_in_the_error_tree() -> None:
    """InvalidKeyError lives in objlog.errors, drawn and exported there; local re-exports it."""
    assert errors.InvalidKeyError is InvalidKeyError
    assert "InvalidKeyError" in errors.__all__
    assert "InvalidKeyError (ValueError)" in (errors.__doc__ or "")
    assert issubclass(InvalidKeyError, (errors.PermanentStoreError, ValueError))


@given(
    key=st.text(
        alphabet=st.sampled_from(["a", "b", ".", "/", "\x00", "\u00e9", "-"]),
        min_size=0,
        max_size=20,
    )
)
def test_split_key_accepts_exactly_the_keys_inside_the_directory(key: str) -> None:
    """An accepted key splits into its own segments, none of which leaves or aliases the root."""
    try:
        segments = _split_key(key)
    except InvalidKeyError:
        safe = False
    else:
        safe = True
        assert key == "/".join(segments)
    parts = key.split("/")
    expected = (
        bool(key)
        and "\x00" not in key
        and all(p not in {"", ".", ".."} for p in parts)
        and parts[0] != ".objlog"
    )
    assert expected == safe


def test_objects_are_plain_files(tmp_path: Path) -> None:
    """An object is readable at DIR/<key> with ordinary tools."""
    store = LocalStore(tmp_path)
    store.put_object("logs/run/task/b-1.jsonl", b"line\n")
    assert (tmp_path / "logs" / "run" / "task" / "b-1.jsonl").read_bytes() == b"line\n"


def test_temp_and_sidecar_files_are_never_listed(tmp_path: Path) -> None:
    """The .objlog area (temp files, sidecars) stays out of listings."""
    store = LocalStore(tmp_path)
    store.put_object("a", b"1", metadata={"k": "v"})
    (tmp_path / ".objlog" / "tmp").mkdir(parents=True, exist_ok=True)
    (tmp_path / ".objlog" / "tmp" / "x.tmp").write_bytes(b"partial")
    assert [o.key for o in store.list_objects()] == ["a"]
    assert list(store.list_prefixes()) == []


def test_stale_sidecar_is_ignored(tmp_path: Path) -> None:
    """A file replaced behind the store's back does not inherit the old sidecar's metadata."""
    store = LocalStore(tmp_path)
    store.put_object("k", b"old", content_type="text/plain", metadata={"a": "b"})
    replacement = tmp_path / "new"
    replacement.write_bytes(b"new!")
    replacement.replace(tmp_path / "k")
    info = store.head_object("k")
    assert dict(info.metadata) == {}
    assert info.size == 4


@pytest.mark.parametrize("prefix", [".objlog/", ".objlog/meta/", ".obj", "../", "//", "/"])
def test_listing_never_shows_internal_or_outside_files(tmp_path: Path, prefix: str) -> None:
    """No prefix lists sidecars, temp files or anything outside the directory."""
    store = LocalStore(tmp_path / "s")
    store.put_object("k", b"1", metadata={"a": "b"})
    (tmp_path / "outside").write_bytes(b"x")
    assert [] == [o.key for o in store.list_objects(prefix)]
    assert [] == list(store.list_prefixes(prefix))


def test_key_conflict_is_permanent(tmp_path: Path) -> None:
    """'a' and 'a/b' cannot both exist in a directory: a clear PermanentStoreError."""
    store = LocalStore(tmp_path)
    store.put_object("a/b", b"1")
    with pytest.raises(PermanentStoreError) as info:
        store.put_object("a", b"2")
    assert info.value.reason == "KeyConflict"


def test_delete_prunes_empty_directories(tmp_path: Path) -> None:
    """Deleting the last object under a prefix removes the prefix too."""
    store = LocalStore(tmp_path)
    store.put_object("x/y/z", b"1")
    store.delete_object("x/y/z")
    assert list(store.list_prefixes()) == []
    assert not (tmp_path / "x").exists()


def test_missing_directory_lists_nothing(tmp_path: Path) -> None:
    """A store whose directory does not exist yet is empty, not an error."""
    store = LocalStore(tmp_path / "not-yet")
    assert list(store.list_objects()) == []
    with pytest.raises(ObjectNotFoundError):
        store.get_object("k")


def test_embedded_default_store_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing configured, open_store() is a local store at $OBJLOG_HOME/store."""
    monkeypatch.setenv("OBJLOG_HOME", str(tmp_path / "home"))
    store = open_store()
    assert isinstance(store, LocalStore)
    assert tmp_path / "home" / "store" == store.directory
    assert store.directory.is_dir()


def test_xdg_default_store_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without OBJLOG_HOME the default follows XDG_DATA_HOME."""
    monkeypatch.delenv("OBJLOG_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    store = open_store()
    assert isinstance(store, LocalStore)
    assert tmp_path / "xdg" / "objlog" / "store" == store.directory


def test_plain_path_and_file_url(tmp_path: Path) -> None:
    """A plain path and a file:// URL open the same local store."""
    a = open_store(str(tmp_path / "s"))
    b = open_store((tmp_path / "s").as_uri())
    assert isinstance(a, LocalStore)
    assert a.url == b.url


def test_store_object_passes_through(tmp_path: Path) -> None:
    """open_store(store) returns that very store."""
    store = LocalStore(tmp_path)
    assert store is open_store(store)


def test_stale_temp_files_are_removed_at_open(tmp_path: Path) -> None:
    """ensure_bucket (run by open_store) removes temp files a crashed writer left behind."""
    tmp_dir = tmp_path / ".objlog" / "tmp"
    tmp_dir.mkdir(parents=True)
    stale, fresh = tmp_dir / "old.tmp", tmp_dir / "new.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(stale, (0, 0))
    open_store(str(tmp_path))
    assert [fresh] == list(tmp_dir.iterdir())


def test_list_prefixes_skips_directories_without_objects(tmp_path: Path) -> None:
    """An empty directory left in the store is not a prefix (S3 has no empty prefixes)."""
    store = LocalStore(tmp_path)
    store.put_object("logs/run-a/t/0", b"")
    (tmp_path / "logs" / "run-empty" / "t").mkdir(parents=True)
    assert list(store.list_prefixes("logs/")) == ["logs/run-a/"]
    assert list(store.list_prefixes("logs/run")) == ["logs/run-a/"]


_seg = st.text(alphabet="ab-_~Zé", min_size=1, max_size=3)
_key = st.lists(_seg, min_size=1, max_size=3).map("/".join)


def _no_conflicts(keys: list[str]) -> bool:
    return not any(other.startswith(k + "/") for k in keys for other in keys)


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(_key, min_size=0, max_size=12, unique=True).filter(_no_conflicts),
    prefix=st.text(alphabet="ab-_~Zé/.", max_size=4),
    start_after=st.none() | _key,
)
def test_listing_agrees_with_the_memory_store(
    keys: list[str], prefix: str, start_after: str | None
) -> None:
    """For any keys, prefix and start_after, LocalStore lists exactly what MemoryStore lists."""
    memory = MemoryStore()
    with tempfile.TemporaryDirectory() as tmp:
        local = LocalStore(tmp)
        for k in keys:
            memory.put_object(k, k.encode())
            local.put_object(k, k.encode())
        assert [o.key for o in memory.list_objects(prefix, start_after=start_after)] == [
            o.key for o in local.list_objects(prefix, start_after=start_after)
        ]
        assert list(memory.list_prefixes(prefix)) == list(local.list_prefixes(prefix))
        assert list(memory.list_prefixes(prefix, delimiter="-")) == list(
            local.list_prefixes(prefix, delimiter="-")
        )
