"""objlog._layout: names that spoof listings, names that cannot be encoded, S3's key limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog._layout import (
    ARTIFACTS,
    LOGS,
    MAX_KEY_BYTES,
    BatchNamer,
    KeyParts,
    artifact_key,
    check_key_length,
    logs_prefix,
    longest_batch_key,
    parse_batch_key,
    parse_key,
    validate_segment,
)
from objlog.errors import ConfigError

# Every character the layout refuses in a name, listed here independently of the regex.
BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
ZERO_WIDTH = [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF]
SEPARATORS = [0x2028, 0x2029]
CONTROLS = [*range(0x00, 0x20), *range(0x7F, 0xA0)]
REFUSED = [chr(c) for c in BIDI + ZERO_WIDTH + SEPARATORS + CONTROLS]

# Names the layout accepts: no refused character, no slash or backslash, no surrogate.
name_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters=["/", "\\", *REFUSED])
names = st.text(alphabet=name_chars, min_size=1, max_size=40).filter(
    lambda s: s not in {".", ".."} and len(s.encode()) <= 256
)
prefixes = st.lists(st.text(alphabet="abc-_", min_size=1, max_size=8), max_size=3).map("/".join)


@pytest.mark.parametrize("char", REFUSED, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("what", ["pipelinerun", "task", "result name"])
def test_each_spoofing_character_is_refused(char: str, what: str) -> None:
    """Every control, bidi, zero-width and separator character makes a ConfigError."""
    with pytest.raises(ConfigError, match=what):
        validate_segment(f"run{char}1", what)


@given(
    before=st.text(alphabet=name_chars, max_size=10),
    bad=st.sampled_from(REFUSED),
    after=st.text(alphabet=name_chars, max_size=10),
)
def test_any_name_with_a_refused_character_is_refused(before: str, bad: str, after: str) -> None:
    """Wherever the character sits in the name, every door refuses it with ConfigError."""
    name = before + bad + after
    with pytest.raises(ConfigError):
        validate_segment(name, "task")
    with pytest.raises(ConfigError):
        logs_prefix("p", name, "t")
    with pytest.raises(ConfigError):
        logs_prefix("p", "r", name)
    with pytest.raises(ConfigError):
        artifact_key("p", "r", "t", name)


@pytest.mark.parametrize("name", ["\ud800", "a\udfffb", "\udc80"])
def test_lone_surrogate_is_config_error_not_unicode_error(name: str) -> None:
    """A name UTF-8 cannot encode raises ConfigError (a ValueError), never UnicodeEncodeError."""
    with pytest.raises(ConfigError, match="cannot be encoded") as info:
        validate_segment(name, "pipelinerun")
    assert not isinstance(info.value, UnicodeError)


def test_refusal_message_escapes_the_character() -> None:
    """The message names the code point and shows no raw bidi control (it would spoof a log)."""
    with pytest.raises(ConfigError) as info:
        validate_segment("invoice\u202egpj.exe", "result name")
    message = str(info.value)
    assert "U+202E" in message
    assert "\u202e" not in message


@pytest.mark.parametrize("name", ["naïve", "日本語", "emoji-🙂", "a b", "run.1", "A_Z-09"])
def test_ordinary_unicode_names_are_accepted(name: str) -> None:
    """Letters of any script, emoji, spaces and dots stay allowed."""
    assert name == validate_segment(name, "task")


@given(prefix=prefixes, pr=names, task=names, name=names)
def test_accepted_names_round_trip_through_artifact_keys(
    prefix: str, pr: str, task: str, name: str
) -> None:
    """parse_key gives back exactly the names artifact_key was built from."""
    key = artifact_key(prefix, pr, task, name)
    assert KeyParts(ARTIFACTS, pr, task, name + ".tgz") == parse_key(prefix, key)


@given(prefix=prefixes, pr=names, task=names, epoch_us=st.integers(0, 2**52))
def test_accepted_names_round_trip_through_batch_keys(
    prefix: str, pr: str, task: str, epoch_us: int
) -> None:
    """A batch key splits back into its names, and its last segment into the batch parts."""
    namer = BatchNamer(logs_prefix(prefix, pr, task), "w1", ".jsonl.gz", wall_us=lambda: epoch_us)
    key = namer.next_key()
    parts = parse_key(prefix, key)
    assert parts is not None
    assert (LOGS, pr, task) == parts[:3]
    batch = parse_batch_key(parts.name)
    assert batch is not None
    assert (epoch_us, "w1", 0) == (batch.epoch_us, batch.writer_id, batch.seq)


@pytest.mark.parametrize(
    "key",
    ["other/logs/r/t/x", "pre/logs/r/t", "pre/logs/r/t/x/y", "pre/blobs/r/t/x", "pre/logs/r/t/"],
)
def test_parse_key_refuses_keys_outside_the_layout(key: str) -> None:
    """Keys of another prefix, area or depth are not the layout's."""
    assert parse_key("pre", key) is None


def test_parse_key_refuses_a_spoofing_name_in_a_key() -> None:
    """A key holding a refused name (written by someone else) does not parse."""
    assert parse_key("", "logs/r\u202e/t/x.jsonl") is None


def test_check_key_length_counts_utf8_bytes_not_characters() -> None:
    """1,024 bytes pass; 1,025 fail, also when fewer characters (3-byte 'あ')."""
    assert "k" * MAX_KEY_BYTES == check_key_length("k" * MAX_KEY_BYTES)
    with pytest.raises(ConfigError, match="1025 bytes"):
        check_key_length("k" * (MAX_KEY_BYTES + 1))
    wide = "あ" * 342  # 342 characters, 1,026 bytes
    with pytest.raises(ConfigError, match="1026 bytes"):
        check_key_length(wide)


def test_check_key_length_refuses_an_unencodable_key() -> None:
    """A lone surrogate in a key is a ConfigError."""
    with pytest.raises(ConfigError, match="cannot be encoded"):
        check_key_length("logs/\ud800")


def test_longest_batch_key_bounds_every_key_the_namer_makes() -> None:
    """No key of a namer (widest id, sequence about to wrap, wrapped) is longer than the bound."""
    prefix = logs_prefix("p", "run", "task")
    bound = len(longest_batch_key(prefix, ".jsonl.gz"))
    namer = BatchNamer(prefix, "w" * 80, ".jsonl.gz", wall_us=lambda: 1_800_000_000_000_000)
    namer._seq = 10**8 - 2
    lengths = [len(namer.next_key()) for _ in range(4)]
    assert max(lengths) <= bound
    assert bound == max(lengths)  # the bound is tight: the widest key really is that long


@given(prefix_bytes=st.integers(0, 1100))
def test_longest_batch_key_is_checked_against_the_limit(prefix_bytes: int) -> None:
    """The check refuses exactly the prefixes whose widest batch key passes 1,024 bytes."""
    prefix = logs_prefix("x" * prefix_bytes, "run", "task")
    key = longest_batch_key(prefix, ".jsonl")
    if len(key) <= MAX_KEY_BYTES:
        assert key == check_key_length(key)
    else:
        with pytest.raises(ConfigError):
            check_key_length(key)


def test_artifact_key_over_the_limit_is_refused() -> None:
    """A result key longer than 1,024 bytes is refused before any request."""
    long_prefix = "/".join(["p" * 200] * 3)
    with pytest.raises(ConfigError, match="result key would be"):
        artifact_key(long_prefix, "r" * 200, "t" * 200, "n" * 200)
