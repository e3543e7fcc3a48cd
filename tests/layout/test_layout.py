"""objlog._layout: name validation and the logs/artifacts key layout."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog._layout import artifact_key, artifacts_prefix, join_key, logs_prefix, validate_segment
from objlog.errors import ConfigError

names = st.text(
    # Cf holds the bidi and zero-width characters, Zl/Zp the separators: all refused.
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp"), blacklist_characters="/\\"
    ),
    min_size=1,
    max_size=40,
).filter(lambda s: s not in {".", ".."} and len(s.encode()) <= 256)


def test_artifact_key_follows_the_kfp_tekton_layout() -> None:
    """Results live at [PREFIX/]artifacts/<pr>/<task>/<name>.tgz."""
    assert "artifacts/pr-1/train/metrics.tgz" == artifact_key("", "pr-1", "train", "metrics")
    assert "team/a/artifacts/pr-1/train/model.tgz" == artifact_key(
        "/team/a/", "pr-1", "train", "model"
    )


def test_prefixes_end_with_a_slash() -> None:
    """Area prefixes always end in '/' so listings never match a sibling run."""
    assert "logs/" == logs_prefix("")
    assert "p/logs/run/" == logs_prefix("p", "run")
    assert "p/artifacts/run/t/" == artifacts_prefix("p", "run", "t")


def test_task_without_pipelinerun_is_refused() -> None:
    """A task alone cannot name a prefix."""
    with pytest.raises(ConfigError):
        logs_prefix("", None, "t")


@pytest.mark.parametrize(
    "bad", ["", ".", "..", "a/b", "a\\b", "tab\there", "nl\n", "\x7f", "x" * 300]
)
def test_bad_segments_raise_config_error(bad: str) -> None:
    """Slashes, dot segments, control characters, empty and over-long names are refused."""
    with pytest.raises(ValueError, match="must"):
        validate_segment(bad, "task")


@given(pr=names, task=names, name=names)
def test_valid_names_round_trip_through_the_key(pr: str, task: str, name: str) -> None:
    """Splitting an artifact key on '/' gives back exactly the names that built it."""
    key = artifact_key("pre/fix", pr, task, name)
    assert ["pre", "fix", "artifacts", pr, task, name + ".tgz"] == key.split("/")


@given(parts=st.lists(st.text(alphabet="ab/", max_size=6), max_size=5))
def test_join_key_never_doubles_or_trails_slashes(parts: list[str]) -> None:
    """join_key output has no '//' and no leading or trailing '/'."""
    key = join_key(*parts)
    assert "//" not in key
    assert not key.startswith("/")
    assert not key.endswith("/")
