"""Key layout templates: presets, format/parse round trips, validation, partitions."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog._engine.policy import FlushPolicy
from objlog._layout import (
    PRESETS,
    SEQ_DIGITS,
    Layout,
    batch_key,
    logs_prefix,
    parse_batch_key,
    parse_layout,
)
from objlog.errors import ConfigError

_MAX_US = 253402300799999999  # 9999-12-31T23:59:59.999999Z
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

epochs_us = st.integers(min_value=0, max_value=_MAX_US)
names = st.text(
    alphabet=st.characters(
        codec="utf-8", categories=("L", "N", "P", "S", "Zs"), exclude_characters="/\\"
    ),
    min_size=1,
    max_size=40,
).filter(lambda s: s not in {".", ".."})
writer_ids = st.text(alphabet="abcXYZ019_", min_size=1, max_size=80)
seqs = st.integers(min_value=0, max_value=10**SEQ_DIGITS - 1)
exts = st.sampled_from([".jsonl", ".jsonl.gz", ".jsonl.zst"])
prefixes = st.sampled_from(["", "team", "a/b"])

# Valid templates built from parts: a literal area, optional date (and hour)
# segments in either of two spellings, the names in either order, and a batch
# name with time first.
_time_segments = st.sampled_from(
    [[], ["dt={date}"], ["{date}"], ["dt={date}", "hour={hour}"], ["{date}", "h{hour}"]]
)
_name_segments = st.sampled_from(
    [
        ["{pipelinerun}", "{task}"],
        ["pipelinerun={pipelinerun}", "task={task}"],
        ["{task}", "run-{pipelinerun}"],
    ]
)
_batch_names = st.sampled_from(
    [
        "{time}-{writer_id}-{seq}{ext}",
        "{time}_{writer_id}_{seq}{ext}",
        "b-{time}.{writer_id}.{seq}{ext}",
        "{time}-{seq}-{writer_id}{ext}",
    ]
)


@st.composite
def templates(draw: st.DrawFn) -> str:
    area = draw(st.sampled_from(["logs", "raw-logs", "x"]))
    middle = draw(_time_segments) + draw(_name_segments)
    if draw(st.booleans()):
        middle = draw(_name_segments) + draw(_time_segments)
    head = ["{prefix}"] if draw(st.booleans()) else []
    return "/".join([*head, area, *middle, draw(_batch_names)])


def _format(
    layout: Layout, prefix: str, pr: str, task: str, us: int, w: str, n: int, e: str
) -> str:
    return layout.format(prefix, pipelinerun=pr, task=task, epoch_us=us, writer_id=w, seq=n, ext=e)


def test_presets_are_named_and_kfp_is_the_default() -> None:
    """``kfp`` and ``hive`` are presets (any case, trimmed); None means kfp."""
    assert {"kfp", "hive"} == set(PRESETS)
    assert "kfp" == parse_layout(None).name
    assert "hive" == parse_layout(" HIVE ").name
    assert parse_layout("hive") == Layout(PRESETS["hive"])


def test_hive_key_is_the_documented_one() -> None:
    """hive: ``[PREFIX/]logs/dt=<date>/hour=<HH>/pipelinerun=<pr>/task=<task>/<name>``."""
    us = (dt.datetime(2026, 11, 21, 9, 40, 30, 123456, tzinfo=dt.timezone.utc) - _EPOCH) // (
        dt.timedelta(microseconds=1)
    )
    key = _format(parse_layout("hive"), "team", "run-1", "train", us, "w1", 7, ".jsonl.gz")
    expected = (
        "team/logs/dt=2026-11-21/hour=09/pipelinerun=run-1/task=train/"
        "20261121T094030.123456Z-w1-00000007.jsonl.gz"
    )
    assert expected == key


@given(prefixes, names, names, epochs_us, writer_ids, seqs, exts)
def test_kfp_is_todays_layout(
    prefix: str, pr: str, task: str, us: int, w: str, n: int, e: str
) -> None:
    """kfp keys are exactly the keys objlog always wrote (`batch_key`)."""
    key = _format(parse_layout("kfp"), prefix, pr, task, us, w, n, e)
    assert batch_key(logs_prefix(prefix, pr, task), us, w, n, e) == key
    assert parse_batch_key(key) is not None


@given(st.sampled_from(sorted(PRESETS)), prefixes, names, names, epochs_us, writer_ids, seqs, exts)
def test_presets_round_trip(
    name: str, prefix: str, pr: str, task: str, us: int, w: str, n: int, e: str
) -> None:
    """parse(format(x)) == x for both presets and any valid names and times."""
    layout = parse_layout(name)
    parsed = layout.parse(prefix, _format(layout, prefix, pr, task, us, w, n, e))
    assert parsed is not None
    assert (pr, task, w, n, e, us) == (
        parsed.pipelinerun,
        parsed.task,
        parsed.writer_id,
        parsed.seq,
        parsed.suffix,
        parsed.epoch_us,
    )


@given(templates(), prefixes, names, names, epochs_us, writer_ids, seqs, exts)
def test_random_templates_round_trip(
    template: str, prefix: str, pr: str, task: str, us: int, w: str, n: int, e: str
) -> None:
    """Every valid template formats keys that parse back to the same parts."""
    layout = Layout(template)
    key = _format(layout, prefix, pr, task, us, w, n, e)
    parsed = layout.parse(prefix, key)
    assert parsed is not None, key
    assert (pr, task, w, n, e, us) == (
        parsed.pipelinerun,
        parsed.task,
        parsed.writer_id,
        parsed.seq,
        parsed.suffix,
        parsed.epoch_us,
    )
    assert key.startswith(layout.bind(prefix, pr, task).fixed_prefix())


@given(templates(), names, names, writer_ids, st.lists(epochs_us, min_size=2, max_size=6))
def test_one_writers_keys_sort_in_write_order(
    template: str, pr: str, task: str, w: str, times: list[int]
) -> None:
    """Keys of one writer (times never going back, seq rising) sort in the order written."""
    layout = Layout(template)
    times.sort()
    keys = [_format(layout, "", pr, task, us, w, n, ".jsonl.gz") for n, us in enumerate(times)]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_parse_refuses_other_keys() -> None:
    """Keys of another layout, prefix or shape, or whose date disagrees with the time, are None."""
    hive, kfp = parse_layout("hive"), parse_layout("kfp")
    key = _format(hive, "", "pr", "t", 0, "w1", 0, ".jsonl")
    assert kfp.parse("", key) is None
    assert hive.parse("other", key) is None
    assert hive.parse("", key.replace("dt=1970-01-01", "dt=1970-01-02")) is None
    assert hive.parse("", key.replace("hour=00", "hour=24")) is None
    assert hive.parse("", "logs/dt=1970-01-01/hour=00/pipelinerun=pr/task=t/status.json") is None


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{prefix}/logs/{pipelinerun}/{task}/{time}-{seq}{ext}", "writer_id"),
        ("{prefix}/logs/{pipelinerun}/{task}/{time}-{writer_id}{ext}", "seq"),
        ("{prefix}/logs/{pipelinerun}/{time}-{writer_id}-{seq}{ext}", "task"),
        ("{prefix}/logs/{pipelinerun}/{task}/{time}-{writer_id}-{seq}{ext}-{day}", "unknown"),
        ("{prefix}/logs/{pipelinerun}/{task}/{writer_id}-{seq}-{time}{ext}", "before"),
        ("{prefix}/logs/{pipelinerun}/{task}/{time}-{writer_id}{ext}-{seq}", "end"),
        ("{prefix}/logs/{pipelinerun}/{task}/{time}{writer_id}-{seq}{ext}", "literal text"),
        ("{prefix}/logs/{pipelinerun}-{task}/{time}-{writer_id}-{seq}{ext}", "segment each"),
        ("{prefix}/logs/hour={hour}/{pipelinerun}/{task}/{time}-{writer_id}-{seq}{ext}", "date"),
        ("{prefix}/logs/{hour}/{date}/{pipelinerun}/{task}/{time}-{writer_id}-{seq}{ext}", "date"),
        ("{prefix}/status/{pipelinerun}/{task}/{time}-{writer_id}-{seq}{ext}", "area"),
        ("{prefix}/{pipelinerun}/{task}/{time}-{writer_id}-{seq}{ext}", "literal area"),
        ("{prefix}/logs//{pipelinerun}/{task}/{time}-{writer_id}-{seq}{ext}", "empty"),
        ("{prefix}/logs/../{pipelinerun}/{task}/{time}-{writer_id}-{seq}{ext}", ".."),
        ("{prefix}/logs/{pipelinerun}/{task}/{time:x}-{writer_id}-{seq}{ext}", "format spec"),
        ("{prefix}/logs/{task}/{task}/{time}-{writer_id}-{seq}{ext}", "twice"),
        ("logs/{prefix}/{pipelinerun}/{task}/{time}-{writer_id}-{seq}{ext}", "first segment"),
        ("{prefix}/logs/{pipelinerun}/{task}/{time}-{writer_id}-{seq}{ext", "malformed"),
        ("{prefix}/lo\u202egs/{pipelinerun}/{task}/{time}-{writer_id}-{seq}{ext}", "character"),
        ("nope", "unknown layout"),
    ],
)
def test_bad_templates_raise_config_error(template: str, words: str) -> None:
    """A template that could lose, clash or misorder keys is refused, and the message says why."""
    with pytest.raises(ConfigError, match=words):
        Layout(template)


def test_partitions_and_spans() -> None:
    """hive partitions by the hour, a date-only layout by the day, kfp not at all."""
    assert 3600 * 10**6 == parse_layout("hive").partition_us
    assert parse_layout("kfp").partition_us is None
    daily = Layout("{prefix}/logs/{date}/{pipelinerun}/{task}/{time}-{writer_id}-{seq}{ext}")
    assert 86400 * 10**6 == daily.partition_us
    hive = parse_layout("hive")
    start = 86400 * 10**6 + 5 * 3600 * 10**6
    assert (start, start + 3600 * 10**6) == hive.partition_span(
        {"date": "1970-01-02", "hour": "05"}
    )
    assert hive.partition_span({"pipelinerun": "x"}) is None
    assert start + 3600 * 10**6 == hive.partition_end_us(start + 1)


@given(epochs_us, st.floats(min_value=0.001, max_value=7200), st.floats(min_value=0, max_value=1e6))
def test_policy_deadline_is_max_age_or_the_hour_end(
    key_us: int, max_age: float, started: float
) -> None:
    """With hour partitions a batch is due at max_age or at its key hour's end, if sooner."""
    plain = FlushPolicy(max_size_bytes=1, max_age=max_age)
    hourly = FlushPolicy(max_size_bytes=1, max_age=max_age, partition_us=3600 * 10**6)
    assert started + max_age == plain.deadline(started, key_us)
    left = (3600 * 10**6 - key_us % (3600 * 10**6)) / 1e6
    assert started + min(max_age, left) == hourly.deadline(started, key_us)
    deadline = hourly.deadline(started, key_us)
    assert hourly.due(started, deadline, deadline=deadline)
    assert not hourly.seal_before(0, 1, started, deadline - 0.001, deadline=deadline) or (
        deadline - 0.001 < started
    )


def test_listing_start_sorts_before_later_keys() -> None:
    """listing_start(dir, t) sorts after keys keyed before t and before keys keyed at or after t."""
    layout = Layout("{prefix}/logs/{pipelinerun}/{task}/b-{time}.{writer_id}.{seq}{ext}")
    keys = layout.bind("", "pr", "t")
    t = dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone.utc)
    at = (t - _EPOCH) // dt.timedelta(microseconds=1)
    start = layout.listing_start(keys.fixed_prefix(), t)
    assert keys.key(at - 1, "w", 0, ".jsonl") < start < keys.key(at, "w", 0, ".jsonl")
