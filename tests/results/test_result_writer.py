"""ResultWriter against the in-memory and local stores: format, determinism, names, retries."""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import subprocess
import threading
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from result_helpers import FakeSleep, first_payload, members

from objlog.errors import (
    ConfigError,
    ObjectNotFoundError,
    PermanentStoreError,
    TransientStoreError,
)
from objlog.results import DIR_MODE, FILE_MODE, RESULT_MTIME, ResultWriter
from objlog.retry import RetryPolicy
from objlog.stores.memory import MemoryStore
from objlog.typing import ObjectRef, ObjectStore

MIB = 1024 * 1024


def _tree(root: Path) -> Path:
    """Create a small directory tree and return its root."""
    (root / "z-last").mkdir(parents=True)
    (root / "z-last" / "inner.txt").write_text("inner")
    (root / "a.txt").write_text("alpha")
    (root / "b.bin").write_bytes(bytes(range(256)))
    (root / "empty").mkdir()
    return root


def _producers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "objlog-result-producer"]


# -- format -------------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"\x00\x01 payload \xff", b""])
def test_bytes_round_trip(store: ObjectStore, payload: bytes) -> None:
    """Bytes, an empty payload included (one empty member), come back from read() unchanged."""
    writer = ResultWriter(store)
    writer.write("run-1", "train", "metrics", payload)
    assert payload == writer.read("run-1", "train", "metrics")


def test_str_is_content_encoded_as_utf8(store: ObjectStore) -> None:
    """A str is the payload itself (UTF-8), never taken for a path."""
    writer = ResultWriter(store)
    writer.write("run-1", "train", "note", "some/path ✓")
    assert "some/path ✓".encode() == writer.read("run-1", "train", "note")


def test_first_member_is_named_after_the_result(store: ObjectStore) -> None:
    """For bytes the archive's first and only member is named `name` and holds the payload."""
    writer = ResultWriter(store)
    ref = writer.write("run-1", "train", "accuracy", b"0.97")
    data = store.get_object(ref.key)
    assert ("accuracy", b"0.97") == first_payload(data)
    assert ["accuracy"] == [m.name for m in members(data)]


def test_member_attributes_are_deterministic(store: ObjectStore) -> None:
    """Members carry mode 0o644/0o755, the fixed mtime, uid/gid 0 and empty owner names."""
    writer = ResultWriter(store)
    ref = writer.write("r", "t", "out", b"x")
    info = members(store.get_object(ref.key))[0]
    assert (FILE_MODE, RESULT_MTIME, 0, 0, "", "") == (
        info.mode,
        info.mtime,
        info.uid,
        info.gid,
        info.uname,
        info.gname,
    )


def test_gzip_header_has_no_time_and_no_name(store: ObjectStore) -> None:
    """The gzip header's mtime is 0 and it carries no file name (FNAME flag clear)."""
    ref = ResultWriter(store).write("r", "t", "out", b"x")
    data = store.get_object(ref.key)
    assert b"\x1f\x8b" == data[:2]
    assert 0 == data[3] & 0x08
    assert b"\x00\x00\x00\x00" == data[4:8]


def test_file_member_is_the_basename(store: ObjectStore, tmp_path: Path) -> None:
    """A path to a file is stored under its base name with its bytes."""
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights" * 1000)
    writer = ResultWriter(store)
    ref = writer.write("r", "t", "model", source)
    assert ("model.bin", b"weights" * 1000) == first_payload(store.get_object(ref.key))
    assert b"weights" * 1000 == writer.read("r", "t", "model")


def test_directory_is_a_sorted_tree_under_its_basename(store: ObjectStore, tmp_path: Path) -> None:
    """A directory becomes <basename>/ then its entries, sorted, depth first, with fixed modes."""
    root = _tree(tmp_path / "outputs")
    ref = ResultWriter(store).write("r", "t", "outputs", root)
    found = members(store.get_object(ref.key))
    expected = [
        ("outputs", DIR_MODE),
        ("outputs/a.txt", FILE_MODE),
        ("outputs/b.bin", FILE_MODE),
        ("outputs/empty", DIR_MODE),
        ("outputs/z-last", DIR_MODE),
        ("outputs/z-last/inner.txt", FILE_MODE),
    ]
    assert expected == [(m.name, m.mode) for m in found]


def test_directory_extract_round_trip(store: ObjectStore, tmp_path: Path) -> None:
    """extract() recreates the tree and returns the created paths in archive order."""
    root = _tree(tmp_path / "outputs")
    writer = ResultWriter(store)
    writer.write("r", "t", "outputs", root)
    dest = tmp_path / "dest"
    paths = writer.extract("r", "t", "outputs", dest)
    assert dest / "outputs" / "z-last" / "inner.txt" == paths[-1]
    assert b"inner" == (dest / "outputs" / "z-last" / "inner.txt").read_bytes()
    assert bytes(range(256)) == (dest / "outputs" / "b.bin").read_bytes()
    assert (dest / "outputs" / "empty").is_dir()


def test_symlink_inside_a_directory_is_stored_as_a_link(store: ObjectStore, tmp_path: Path) -> None:
    """A symbolic link in a directory result is stored as a link and extracts as one."""
    root = tmp_path / "out"
    root.mkdir()
    (root / "data.txt").write_text("d")
    (root / "latest").symlink_to("data.txt")
    writer = ResultWriter(store)
    ref = writer.write("r", "t", "out", root)
    link = members(store.get_object(ref.key))[2]
    assert ("out/latest", True, "data.txt") == (link.name, link.issym(), link.linkname)
    writer.extract("r", "t", "out", tmp_path / "dest")
    assert "d" == (tmp_path / "dest" / "out" / "latest").read_text()


def test_read_of_a_directory_result_is_refused(store: ObjectStore, tmp_path: Path) -> None:
    """read() of a result whose first member is a directory points to extract()."""
    writer = ResultWriter(store)
    writer.write("r", "t", "tree", _tree(tmp_path / "tree"))
    with pytest.raises(PermanentStoreError) as info:
        writer.read("r", "t", "tree")
    assert "ResultNotAFile" == info.value.reason


def test_tar_command_extracts_the_result(store: ObjectStore, tmp_path: Path) -> None:
    """`tar -xzf` (the system tar) unpacks the stored object."""
    writer = ResultWriter(store)
    ref = writer.write("r", "t", "outputs", _tree(tmp_path / "outputs"))
    archive = tmp_path / "result.tgz"
    archive.write_bytes(store.get_object(ref.key))
    dest = tmp_path / "by-tar"
    dest.mkdir()
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(dest)], check=True, timeout=60)
    assert "inner" == (dest / "outputs" / "z-last" / "inner.txt").read_text()


def test_long_and_unicode_names_round_trip(store: ObjectStore) -> None:
    """A name over 100 bytes or with non-ASCII characters is still the first member's name."""
    writer = ResultWriter(store)
    for name in ["résumé-✓", "n" * 150]:
        ref = writer.write("r", "t", name, name.encode())
        assert (name, name.encode()) == first_payload(store.get_object(ref.key))
        assert name.encode() == writer.read("r", "t", name)


def test_open_streams_the_payload(store: ObjectStore) -> None:
    """open() returns a stream of the payload that can be read in pieces."""
    payload = os.urandom(3 * MIB + 17)
    writer = ResultWriter(store, compresslevel=1)
    writer.write("r", "t", "blob", payload)
    pieces = []
    with writer.open("r", "t", "blob") as stream:
        while piece := stream.read(100_000):
            pieces.append(piece)
    assert payload == b"".join(pieces)


@pytest.mark.parametrize("level", [0, 1, 9])
def test_compression_levels_round_trip(store: ObjectStore, level: int) -> None:
    """Every compression level gives a readable archive; level 0 stores without shrinking."""
    payload = b"abc" * 10_000
    writer = ResultWriter(store, compresslevel=level)
    ref = writer.write("r", "t", "x", payload)
    assert payload == writer.read("r", "t", "x")
    assert (ref.size > len(payload)) == (level == 0)


# -- determinism ------------------------------------------------------------------


def test_same_input_gives_identical_objects(store: ObjectStore, tmp_path: Path) -> None:
    """Writing the same tree twice, with touched mtimes in between, stores identical bytes."""
    writer = ResultWriter(store)
    root = _tree(tmp_path / "outputs")
    first = writer.write("r", "t", "outputs", root)
    first_bytes = store.get_object(first.key)
    os.utime(root / "a.txt", (1_000_000_000, 1_000_000_000))
    (root / "b.bin").chmod(0o600)
    second = writer.write("r", "t", "outputs", root)
    assert first_bytes == store.get_object(second.key)
    assert first.sha256 == second.sha256


def test_ref_names_the_stored_object(store: ObjectStore) -> None:
    """The returned ObjectRef has the key, the size and the SHA-256 of the stored bytes."""
    ref = ResultWriter(store).write("r", "t", "x", b"payload")
    data = store.get_object(ref.key)
    assert ("artifacts/r/t/x.tgz", len(data), hashlib.sha256(data).hexdigest()) == (
        ref.key,
        ref.size,
        ref.sha256,
    )


@settings(max_examples=40, deadline=None)
@given(payload=st.binary(max_size=4096), name=st.text(min_size=1, max_size=40))
def test_any_payload_and_valid_name_round_trip(payload: bytes, name: str) -> None:
    """Any bytes under any valid result name come back as the first member's payload."""
    store = MemoryStore()
    writer = ResultWriter(store)
    try:
        ref = writer.write("r", "t", name, payload)
    except ConfigError:
        return  # an invalid name (slash, control character, '.' or '..')
    assert (name, payload) == first_payload(store.get_object(ref.key))
    assert payload == writer.read("r", "t", name)


# -- keys and names ----------------------------------------------------------------


def test_key_layout_with_prefix() -> None:
    """The key is [PREFIX/]artifacts/<pipelinerun>/<task>/<name>.tgz (KFP-on-Tekton)."""
    writer = ResultWriter(MemoryStore(prefix="team/a"))
    assert "team/a/artifacts/pr-7/step/out.tgz" == writer.key("pr-7", "step", "out")


BAD_NAMES = ["", ".", "..", "a/b", "a\\b", "a\x00b", "new\nline", "del\x7f", "x" * 257]


@pytest.mark.parametrize("bad", BAD_NAMES)
@pytest.mark.parametrize("field", ["pipelinerun", "task", "name"])
def test_invalid_names_are_refused(field: str, bad: str) -> None:
    """A name with '/', '..', a control character or too long raises ConfigError (a ValueError)."""
    store = MemoryStore()
    names = {"pipelinerun": "r", "task": "t", "name": "n"}
    names[field] = bad
    writer = ResultWriter(store)
    with pytest.raises(ConfigError) as info:
        writer.write(names["pipelinerun"], names["task"], names["name"], b"x")
    assert isinstance(info.value, ValueError)
    with pytest.raises(ConfigError):
        writer.read(names["pipelinerun"], names["task"], names["name"])
    assert [] == store.keys()


@pytest.mark.parametrize("level", [-1, 10, True, 1.5])
def test_invalid_compresslevel_is_refused(level: object) -> None:
    """compresslevel outside 0..9 (or not an int) raises ConfigError."""
    with pytest.raises(ConfigError):
        ResultWriter(MemoryStore(), compresslevel=level)  # type: ignore[arg-type]


def test_unsupported_data_type_is_refused() -> None:
    """Data that is neither bytes, str nor a path raises ConfigError."""
    with pytest.raises(ConfigError):
        ResultWriter(MemoryStore()).write("r", "t", "n", 42)  # type: ignore[arg-type]


def test_missing_source_path_is_refused(tmp_path: Path) -> None:
    """A path that does not exist raises ConfigError before any request."""
    store = MemoryStore()
    with pytest.raises(ConfigError, match="does not exist"):
        ResultWriter(store).write("r", "t", "n", tmp_path / "nope")
    assert {} == store.requests


def test_special_file_in_a_directory_is_refused(tmp_path: Path) -> None:
    """A FIFO inside a directory result raises ConfigError before any request."""
    root = tmp_path / "out"
    root.mkdir()
    os.mkfifo(root / "fifo")
    store = MemoryStore()
    with pytest.raises(ConfigError, match="special file"):
        ResultWriter(store).write("r", "t", "out", root)
    assert {} == store.requests


def test_missing_result_raises_not_found() -> None:
    """read() of a result never written raises ObjectNotFoundError."""
    with pytest.raises(ObjectNotFoundError):
        ResultWriter(MemoryStore()).read("r", "t", "absent")


# -- legacy and odd objects -----------------------------------------------------------


def test_legacy_plain_gzip_is_read(store: ObjectStore, tmp_path: Path) -> None:
    """A plain-gzip .tgz (the Go original's) reads back decompressed; extract writes dest/name."""
    writer = ResultWriter(store)
    store.put_object(writer.key("r", "t", "old"), gzip.compress(b"legacy payload"))
    assert b"legacy payload" == writer.read("r", "t", "old")
    assert [tmp_path / "d" / "old"] == writer.extract("r", "t", "old", tmp_path / "d")
    assert b"legacy payload" == (tmp_path / "d" / "old").read_bytes()


def test_uncompressed_object_is_returned_as_stored(store: ObjectStore) -> None:
    """An object that is neither gzip nor tar comes back as stored."""
    writer = ResultWriter(store)
    store.put_object(writer.key("r", "t", "raw"), b"raw bytes")
    assert b"raw bytes" == writer.read("r", "t", "raw")


def test_corrupt_gzip_is_a_permanent_error(store: ObjectStore) -> None:
    """A truncated gzip object raises PermanentStoreError with reason CorruptResult."""
    writer = ResultWriter(store)
    data = gzip.compress(os.urandom(10_000))
    store.put_object(writer.key("r", "t", "bad"), data[: len(data) // 2])
    with pytest.raises(PermanentStoreError) as info:
        writer.read("r", "t", "bad")
    assert "CorruptResult" == info.value.reason


# -- progress, retries and failures -----------------------------------------------------


def test_progress_counts_payload_bytes(store: ObjectStore, tmp_path: Path) -> None:
    """progress receives increments summing to the payload size."""
    source = tmp_path / "f"
    source.write_bytes(os.urandom(2 * MIB + 5))
    seen: list[int] = []
    ResultWriter(store).write("r", "t", "f", source, progress=seen.append)
    assert 2 * MIB + 5 == sum(seen)


def test_transient_failures_are_retried_from_the_start(
    tmp_path: Path, fake_sleep: FakeSleep
) -> None:
    """Injected 503s are retried without real sleeping; the source is re-read; progress rewinds."""
    source = tmp_path / "f"
    source.write_bytes(os.urandom(MIB))
    store = MemoryStore()
    store.fail_next(2)
    seen: list[int] = []
    writer = ResultWriter(store, sleep=fake_sleep, clock=lambda: 0.0)
    ref = writer.write("r", "t", "f", source, progress=seen.append)
    assert (3, 2, MIB) == (store.requests["put"], len(fake_sleep.waits), sum(seen))
    assert source.read_bytes() == writer.read("r", "t", "f")
    assert ref.sha256 == ResultWriter(MemoryStore()).write("r", "t", "f", source).sha256


def test_retries_give_up_with_the_transient_error(fake_sleep: FakeSleep) -> None:
    """When every attempt fails, the last TransientStoreError escapes after max_attempts."""
    store = MemoryStore()
    store.fail_next(100)
    writer = ResultWriter(store, retry=RetryPolicy(max_attempts=3), sleep=fake_sleep)
    with pytest.raises(TransientStoreError):
        writer.write("r", "t", "x", b"x")
    assert 3 == store.requests["put"]


def test_permanent_failure_is_not_retried(fake_sleep: FakeSleep) -> None:
    """A PermanentStoreError escapes at once."""
    store = MemoryStore()
    store.fail_next(1, lambda key: PermanentStoreError("denied", bucket="memory", key=key))
    writer = ResultWriter(store, sleep=fake_sleep)
    with pytest.raises(PermanentStoreError):
        writer.write("r", "t", "x", b"x")
    assert ([], 1) == (fake_sleep.waits, store.requests["put"])


class MidStreamFailure(MemoryStore):
    """A memory store whose first `fails` put_stream calls read 1 MiB, then fail transiently."""

    def __init__(self, fails: int) -> None:
        super().__init__()
        self.fails = fails

    def put_stream(self, key: str, stream: BinaryIO, **options: Any) -> ObjectRef:
        """Fail after one read while `fails` lasts, else store."""
        if self.fails:
            self.fails -= 1
            stream.read(MIB)
            raise TransientStoreError("connection reset", bucket=self.bucket, key=key)
        return super().put_stream(key, stream, **options)


def test_upload_failing_mid_stream_stops_the_producer(fake_sleep: FakeSleep) -> None:
    """An upload that fails after reading part of a large archive leaves no producer blocked."""
    payload = os.urandom(12 * MIB)  # more than the pipe holds: the producer must be unblocked
    store = MidStreamFailure(2)
    writer = ResultWriter(store, compresslevel=0, sleep=fake_sleep)
    writer.write("r", "t", "big", payload)
    assert [] == _producers()
    assert payload == writer.read("r", "t", "big")
    assert 2 == len(fake_sleep.waits)


def test_source_failure_fails_the_write_and_stores_nothing(store: ObjectStore) -> None:
    """An error while producing the archive escapes as itself and no object is stored."""

    class Boom(RuntimeError):
        pass

    def progress(n: int) -> None:
        raise Boom("source went away")

    writer = ResultWriter(store)
    with pytest.raises(Boom):
        writer.write("r", "t", "x", os.urandom(2 * MIB), progress=progress)
    with pytest.raises(ObjectNotFoundError):
        writer.read("r", "t", "x")
    assert [] == _producers()


def test_url_store_is_opened_and_closed(tmp_path: Path) -> None:
    """A store URL is opened by the writer and closed by close(); repr shows no secret."""
    with ResultWriter(f"file://{tmp_path / 'store'}") as writer:
        writer.write("r", "t", "x", b"x")
        assert "ResultWriter(store='file://" in repr(writer)
    assert (tmp_path / "store" / "artifacts" / "r" / "t" / "x.tgz").is_file()


def test_regular_files_in_tree_are_not_executable(tmp_path: Path) -> None:
    """File modes are fixed at 0o644 even for an executable source file."""
    source = tmp_path / "run.sh"
    source.write_text("#!/bin/sh\n")
    source.chmod(0o755)
    store = MemoryStore()
    ref = ResultWriter(store).write("r", "t", "script", source)
    info = members(store.get_object(ref.key))[0]
    assert FILE_MODE == stat.S_IMODE(info.mode)


# -- edges ----------------------------------------------------------------------------------


def test_current_directory_is_stored_under_its_real_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Path('.') is stored under the directory's own name, not '.'."""
    root = _tree(tmp_path / "outputs")
    monkeypatch.chdir(root)
    store = MemoryStore()
    ref = ResultWriter(store).write("r", "t", "outputs", Path())
    assert "outputs" == members(store.get_object(ref.key))[0].name


def test_root_directory_has_no_base_name() -> None:
    """A path without a base name ('/') raises ConfigError."""
    with pytest.raises(ConfigError, match="no base name"):
        ResultWriter(MemoryStore()).write("r", "t", "n", Path("/"))


def test_plain_tar_without_gzip_is_read_and_extracted(tmp_path: Path) -> None:
    """An uncompressed tar under the .tgz key is still read and extracted."""
    store = MemoryStore()
    writer = ResultWriter(store)
    compressed = store.get_object(writer.write("r", "t", "p", b"plain").key)
    store.put_object(writer.key("r", "t", "p"), gzip.decompress(compressed))
    assert b"plain" == writer.read("r", "t", "p")
    assert [tmp_path / "p"] == writer.extract("r", "t", "p", tmp_path)
    assert b"plain" == (tmp_path / "p").read_bytes()


def test_damaged_tar_header_is_a_permanent_error() -> None:
    """A gzip whose content looks like tar but has a broken header raises CorruptResult."""
    store = MemoryStore()
    writer = ResultWriter(store)
    fake = bytearray(1024)
    fake[0:4] = b"junk"
    fake[257:262] = b"ustar"
    store.put_object(writer.key("r", "t", "d"), gzip.compress(bytes(fake)))
    with pytest.raises(PermanentStoreError) as info:
        writer.read("r", "t", "d")
    assert "CorruptResult" == info.value.reason


def test_payload_stream_supports_readinto_and_read_all(store: ObjectStore) -> None:
    """The stream from open() fills buffers with readinto() and reads to the end with read()."""
    writer = ResultWriter(store)
    writer.write("r", "t", "x", b"0123456789abcdef")
    store.put_object(writer.key("r", "t", "raw"), b"raw object")
    with writer.open("r", "t", "x") as stream:
        buf = bytearray(10)
        assert 10 == stream.readinto(buf)
        assert (b"0123456789", b"abcdef") == (bytes(buf), stream.read())
    with writer.open("r", "t", "raw") as stream:
        assert b"raw object" == stream.read()
