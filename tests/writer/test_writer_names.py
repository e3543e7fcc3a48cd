"""ObjectStoreWriter refuses bad names and over-long keys when it is built, not at upload."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from objlog._layout import MAX_KEY_BYTES, longest_batch_key
from objlog.errors import ConfigError
from objlog.stores.memory import MemoryStore
from objlog.writer import ObjectStoreWriter

if TYPE_CHECKING:
    from s3harness import S3Target  # tests/s3harness.py, for annotations only

# The batch name after the prefix: 23 (time) + 1 + 80 (widest id) + 1 + 8 (seq) + suffix.
WIDEST_NAME = 23 + 1 + 80 + 1 + 8


def _prefix_for(total_bytes: int, suffix: str) -> str:
    """A store prefix whose writer's widest batch key is exactly `total_bytes` long."""
    fixed = len("/logs/run/task/") + WIDEST_NAME + len(suffix)
    return "p" * (total_bytes - fixed)


@pytest.mark.parametrize(("compression", "suffix"), [("gzip", ".jsonl.gz"), ("none", ".jsonl")])
def test_widest_batch_key_at_the_limit_is_accepted(
    make_writer: Callable[..., ObjectStoreWriter], compression: str, suffix: str
) -> None:
    """A prefix that leaves the widest key at exactly 1,024 bytes builds, and its keys fit."""
    store = MemoryStore(prefix=_prefix_for(MAX_KEY_BYTES, suffix))
    writer = make_writer(store=store, pipelinerun="run", task="task", compression=compression)
    assert MAX_KEY_BYTES == len(longest_batch_key(writer.prefix, suffix).encode())
    writer.write("one")
    writer.sync()
    (key,) = store.keys()
    assert len(key.encode()) <= MAX_KEY_BYTES


@pytest.mark.parametrize(("compression", "suffix"), [("gzip", ".jsonl.gz"), ("none", ".jsonl")])
def test_one_byte_over_the_limit_fails_at_construction(compression: str, suffix: str) -> None:
    """One byte more and the writer is not built: ConfigError, no object, no thread."""
    store = MemoryStore(prefix=_prefix_for(MAX_KEY_BYTES + 1, suffix))
    with pytest.raises(ConfigError, match="1025 bytes"):
        ObjectStoreWriter(store, pipelinerun="run", task="task", compression=compression)
    assert [] == list(store.keys())


def test_multibyte_names_count_in_bytes() -> None:
    """Names are measured in UTF-8 bytes: 3-byte characters reach the limit three times sooner."""
    store = MemoryStore(prefix="p" * 400)  # 1,040 bytes in all, 700 characters
    wide = "あ" * 85  # 255 bytes, a valid segment on its own
    with pytest.raises(ConfigError, match="S3 allows at most 1024"):
        ObjectStoreWriter(store, pipelinerun=wide, task=wide)


@pytest.mark.parametrize(
    "name", ["\ud800", "run\u202eexe", "a\u200bb", "line\u2028two", "nul\x00", "del\x7f"]
)
@pytest.mark.parametrize("field", ["pipelinerun", "task"])
def test_bad_names_fail_before_the_store_is_touched(name: str, field: str) -> None:
    """Unencodable and spoofing names raise ConfigError and nothing is written."""
    store = MemoryStore()
    names = {"pipelinerun": "run", "task": "task", field: name}
    with pytest.raises(ConfigError, match=field):
        ObjectStoreWriter(store, **names)
    assert [] == list(store.keys())


def test_long_prefix_url_fails_before_any_request(
    s3_target: S3Target, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against a real S3 server: the URL's prefix makes keys too long; nothing is sent, no leak."""
    for name, value in s3_target.env().items():
        monkeypatch.setenv(name, value)
    url = f"s3://{s3_bucket}/{'d' * 500}"  # the URL's own limit is 512 bytes
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unclosed client would warn here
        with pytest.raises(ConfigError, match="batch key would be"):
            ObjectStoreWriter(url, pipelinerun="r" * 200, task="t" * 200)  # 1,030 bytes
        gc.collect()
    listing = s3_target.boto3_client().list_objects_v2(Bucket=s3_bucket)
    assert 0 == listing["KeyCount"]
