"""Writer settings: an explicit argument, else ``OBJLOG_*``, else the default."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog import _settings
from objlog._engine.budget import WhenFull
from objlog._settings import (
    DEFAULT_COMPRESSION,
    DEFAULT_COMPRESSLEVEL,
    DEFAULT_MAX_AGE,
    DEFAULT_MAX_BUFFER_BYTES,
    DEFAULT_MAX_SIZE_BYTES,
    WriterSettings,
    parse_bytes,
    parse_level,
    parse_seconds,
    resolve_writer_settings,
)
from objlog.errors import ConfigError

UNITS = {"": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}
SIZES = st.integers(min_value=1, max_value=2**30)
AGES = st.floats(min_value=0.001, max_value=1e6, allow_nan=False, allow_infinity=False)


def _options(settings: WriterSettings) -> tuple[object, ...]:
    """The seven resolved options, in the writer's signature order."""
    return (
        settings.policy.max_size_bytes,
        settings.policy.max_age,
        settings.max_buffer_bytes,
        settings.when_full,
        settings.codec.name,
        settings.compresslevel,
        settings.spool_dir,
    )


@given(
    st.integers(min_value=0, max_value=2**40),
    st.sampled_from(sorted(UNITS)),
    st.booleans(),
    st.sampled_from(["", " "]),
)
def test_parse_bytes_reads_numbers_with_units(
    number: int, unit: str, upper: bool, gap: str
) -> None:
    """Whole bytes with an optional IEC unit (any case, optional space, _ groups) parse exactly."""
    text = f"{number:_}{gap if unit else ''}{unit.upper() if upper else unit}"
    assert number * UNITS[unit] == parse_bytes(text, "OBJLOG_MAX_SIZE_BYTES")


@given(st.text(alphabet="abcxyz!?.-", min_size=1))
def test_parse_bytes_refuses_words_naming_the_variable(text: str) -> None:
    """Text that is no number of bytes is a ConfigError naming the variable."""
    with pytest.raises(ConfigError) as info:
        parse_bytes(text, "OBJLOG_MAX_BUFFER_BYTES")
    assert "OBJLOG_MAX_BUFFER_BYTES" in str(info.value)


@given(AGES, st.sampled_from(["", " "]))
def test_parse_seconds_round_trips(seconds: float, pad: str) -> None:
    """A float's repr, padded or not, parses back to the same number of seconds."""
    assert seconds == parse_seconds(f"{pad}{seconds!r}{pad}", "OBJLOG_MAX_AGE")


@given(st.integers(min_value=-100, max_value=100))
def test_parse_level_round_trips(level: int) -> None:
    """A whole number parses back to itself (range checks are the codec's)."""
    assert level == parse_level(f" {level} ", "OBJLOG_COMPRESSLEVEL")


@given(st.text(alphabet="abcxyz!?.", min_size=1))
def test_parse_level_refuses_words_naming_the_variable(text: str) -> None:
    """A level that is no whole number is a ConfigError naming the variable."""
    with pytest.raises(ConfigError) as info:
        parse_level(text, "OBJLOG_COMPRESSLEVEL")
    assert "OBJLOG_COMPRESSLEVEL" in str(info.value)


def test_defaults_without_arguments_or_environment() -> None:
    """Nothing given and nothing set: the documented defaults, no spool."""
    settings = resolve_writer_settings(environ={})
    expected = (
        DEFAULT_MAX_SIZE_BYTES,
        DEFAULT_MAX_AGE,
        DEFAULT_MAX_BUFFER_BYTES,
        WhenFull.BLOCK,
        DEFAULT_COMPRESSION,
        DEFAULT_COMPRESSLEVEL,
        None,
    )
    actual = _options(settings)
    assert expected == actual


@given(SIZES, AGES, st.sampled_from(["block", "drop"]), st.integers(min_value=0, max_value=9))
def test_environment_sets_every_option(size: int, age: float, mode: str, level: int) -> None:
    """Each OBJLOG_* variable sets its option when no argument is given."""
    environ = {
        "OBJLOG_MAX_SIZE_BYTES": str(size),
        "OBJLOG_MAX_AGE": repr(age),
        "OBJLOG_MAX_BUFFER_BYTES": f"{size * 2}",
        "OBJLOG_WHEN_FULL": f" {mode.upper()} ",
        "OBJLOG_COMPRESSION": "none",
        "OBJLOG_COMPRESSLEVEL": str(level),
    }
    settings = resolve_writer_settings(environ=environ)
    expected = (size, age, size * 2, WhenFull(mode), "none", level, None)
    actual = _options(settings)
    assert expected == actual


@given(SIZES, AGES, st.integers(min_value=0, max_value=9))
def test_explicit_arguments_win_over_the_environment(size: int, age: float, level: int) -> None:
    """An argument given is used even when its variable holds another (or a bad) value."""
    environ = {
        "OBJLOG_MAX_SIZE_BYTES": "not a size",
        "OBJLOG_MAX_AGE": "77",
        "OBJLOG_MAX_BUFFER_BYTES": "1",
        "OBJLOG_WHEN_FULL": "drop",
        "OBJLOG_COMPRESSION": "none",
        "OBJLOG_COMPRESSLEVEL": "x",
        "OBJLOG_SPOOL_DIR": "/never/used",
    }
    settings = resolve_writer_settings(
        size, age, size, "block", "gzip", level, False, environ=environ
    )
    expected = (size, age, size, WhenFull.BLOCK, "gzip", level, None)
    actual = _options(settings)
    assert expected == actual


def test_blank_variables_count_as_unset() -> None:
    """An empty or blank variable leaves the default in place."""
    environ = {_settings.variable(option): " " for option in _settings.OPTIONS}
    assert resolve_writer_settings(environ={}) == resolve_writer_settings(environ=environ)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OBJLOG_MAX_SIZE_BYTES", "8XB"),
        ("OBJLOG_MAX_SIZE_BYTES", "0"),
        ("OBJLOG_MAX_AGE", "soon"),
        ("OBJLOG_MAX_AGE", "0"),
        ("OBJLOG_MAX_BUFFER_BYTES", "1KiB"),
        ("OBJLOG_WHEN_FULL", "sometimes"),
        ("OBJLOG_COMPRESSION", "brotli"),
        ("OBJLOG_COMPRESSLEVEL", "12"),
        ("OBJLOG_COMPRESSLEVEL", "fast"),
    ],
)
def test_a_bad_variable_is_a_config_error_naming_it(name: str, value: str) -> None:
    """A value the writer would refuse raises ConfigError naming the variable and the value."""
    with pytest.raises(ConfigError) as info:
        resolve_writer_settings(environ={name: value})
    assert f"{name}={value!r}" in str(info.value)


def test_a_bad_argument_does_not_blame_the_environment() -> None:
    """An explicit bad value is reported as before, without naming a variable."""
    with pytest.raises(ConfigError) as info:
        resolve_writer_settings(max_age=0, environ={"OBJLOG_MAX_SIZE_BYTES": "1MiB"})
    assert "OBJLOG_" not in str(info.value)


def test_environment_spool_is_a_shared_root_with_a_directory_per_store(tmp_path: Path) -> None:
    """OBJLOG_SPOOL_DIR is a root: each store URL spools in its own subdirectory."""
    settings = resolve_writer_settings(environ={"OBJLOG_SPOOL_DIR": str(tmp_path)})
    digest = hashlib.sha256(b"s3://bucket/team").hexdigest()[:16]
    assert tmp_path / digest == settings.spool_root("s3://bucket/team")
    assert settings.spool_root("s3://bucket/team") != settings.spool_root("s3://other")


def test_explicit_spool_dir_is_used_as_given_and_false_means_none(tmp_path: Path) -> None:
    """spool_dir given is the directory itself; False turns the spool off despite the variable."""
    environ = {"OBJLOG_SPOOL_DIR": str(tmp_path / "env")}
    given_dir = resolve_writer_settings(spool_dir=tmp_path / "mine", environ=environ)
    off = resolve_writer_settings(spool_dir=False, environ=environ)
    assert tmp_path / "mine" == given_dir.spool_root("s3://bucket")
    assert None is off.spool_root("s3://bucket")


def test_env_spool_root_expands_the_home_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """``~`` in OBJLOG_SPOOL_DIR is the user's home; blank is unset."""
    monkeypatch.setenv("HOME", "/home/someone")
    assert Path("/home/someone/spool") == _settings.env_spool_root({"OBJLOG_SPOOL_DIR": "~/spool"})
    assert None is _settings.env_spool_root({"OBJLOG_SPOOL_DIR": "  "})
