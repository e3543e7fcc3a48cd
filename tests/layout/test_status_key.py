"""objlog._layout status keys: beside logs and results, never taken for a log batch."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog._layout import (
    artifact_key,
    batch_key,
    logs_prefix,
    parse_batch_key,
    parse_key,
    parse_status_key,
    status_key,
    status_prefix,
)
from objlog.errors import ConfigError

names = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp"), blacklist_characters="/\\"
    ),
    min_size=1,
    max_size=40,
).filter(lambda s: s not in {".", ".."} and len(s.encode()) <= 256)
prefixes = st.sampled_from(["", "p", "team/a", "/x/y/"])


def test_status_key_layout() -> None:
    """The status lives at [PREFIX/]status/<pr>/<task>/status.json."""
    assert "status/pr-1/train/status.json" == status_key("", "pr-1", "train")
    assert "team/a/status/pr-1/train/status.json" == status_key("/team/a/", "pr-1", "train")
    assert "team/a/status/" == status_prefix("team/a")
    assert "status/pr-1/" == status_prefix("", "pr-1")


@given(prefix=prefixes, pr=names, task=names)
def test_status_key_round_trips(prefix: str, pr: str, task: str) -> None:
    """parse_status_key gives back exactly the names status_key was given."""
    assert (pr, task) == parse_status_key(prefix, status_key(prefix, pr, task))


@given(prefix=prefixes, pr=names, task=names)
def test_status_key_is_no_log_batch(prefix: str, pr: str, task: str) -> None:
    """A status key is outside the task's logs prefix and is no batch key."""
    key = status_key(prefix, pr, task)
    assert not key.startswith(logs_prefix(prefix))
    assert parse_batch_key(key) is None
    assert parse_key(prefix, key) is None


@given(prefix=prefixes, pr=names, task=names, us=st.integers(0, 2**50))
def test_other_keys_are_no_status_keys(prefix: str, pr: str, task: str, us: int) -> None:
    """Batch and result keys of the same task never parse as status keys."""
    batch = batch_key(logs_prefix(prefix, pr, task), us, "w1", 0, ".jsonl.gz")
    assert parse_status_key(prefix, batch) is None
    assert parse_status_key(prefix, artifact_key(prefix, pr, task, "status")) is None


@pytest.mark.parametrize(
    "key",
    [
        "status/pr/t/other.json",
        "status/pr/status.json",
        "status/pr/t/x/status.json",
        "status/pr/t\x1b/status.json",
        "x/status/pr/t/status.json",
    ],
)
def test_parse_status_key_refuses_other_shapes(key: str) -> None:
    """Wrong name, depth, area or an invalid name segment: None."""
    assert parse_status_key("", key) is None


def test_status_key_refuses_bad_names_and_long_keys() -> None:
    """Names are checked as segments; a key over S3's 1,024 bytes is refused."""
    with pytest.raises(ConfigError):
        status_key("", "pr", "a/b")
    with pytest.raises(ConfigError, match="1024"):
        status_key("p" * 900, "pr", "t" * 200)
