"""Object options in `StoreConfig`: URL query, OBJLOG_* variables, keyword arguments."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog.config import STORAGE_CLASSES, StoreConfig, parse_tags
from objlog.errors import ConfigError
from objlog.stores import open_store


def test_from_the_url_query() -> None:
    """Every option is read from the store URL query, normalized."""
    config = StoreConfig.resolve(
        "s3://bkt/p?storage_class=standard_ia&sse=AWS:KMS&sse_kms_key_id=alias/logs"
        "&tags=team:ml,env:prod",
        environ={},
    )
    assert ("STANDARD_IA", "aws:kms", "alias/logs", (("team", "ml"), ("env", "prod"))) == (
        config.storage_class,
        config.sse,
        config.sse_kms_key_id,
        config.tags,
    )


def test_from_objlog_variables_and_keywords_win() -> None:
    """OBJLOG_<NAME> sets an option; a keyword argument beats it."""
    env = {"OBJLOG_STORAGE_CLASS": "GLACIER_IR", "OBJLOG_SSE": "AES256", "OBJLOG_TAGS": "a:1"}
    config = StoreConfig.resolve("s3://bkt", environ=env, tags={"b": "2"})
    assert ("GLACIER_IR", "AES256", (("b", "2"),)) == (
        config.storage_class,
        config.sse,
        config.tags,
    )


def test_open_store_keyword_arguments(tmp_path: object) -> None:
    """open_store takes the options as keyword arguments (no request is made)."""
    store = open_store("s3://bkt", endpoint_url="http://127.0.0.1:9", storage_class="STANDARD")
    try:
        assert "STANDARD" == store.config.storage_class  # type: ignore[attr-defined]
    finally:
        store.close()


def test_defaults_are_none() -> None:
    """No option is set by default and has_object_options says so."""
    config = StoreConfig(kind="s3", bucket="bkt")
    assert (None, None, None, ()) == (
        config.storage_class,
        config.sse,
        config.sse_kms_key_id,
        config.tags,
    )
    assert not config.has_object_options
    assert StoreConfig(kind="s3", bucket="bkt", tags="a:b").has_object_options


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"storage_class": "coldest"}, "storage_class"),
        ({"storage_class": "COLD STORE"}, "storage_class"),
        ({"storage_class": ""}, "storage_class"),
        ({"sse": "aws:kms:dsse"}, "sse"),
        ({"sse_kms_key_id": "k"}, "sse_kms_key_id"),
        ({"sse": "AES256", "sse_kms_key_id": "k"}, "sse_kms_key_id"),
        ({"tags": "no-colon"}, "tags"),
        ({"tags": ",".join(f"k{i}:v" for i in range(11))}, "at most 10"),
        ({"tags": "k" * 129 + ":v"}, "1 to 128"),
        ({"tags": "k:" + "v" * 257}, "256"),
        ({"tags": "a:1,a:2"}, "twice"),
        ({"tags": "a:x;y"}, "may only hold"),
        ({"tags": 5}, "tags"),
    ],
)
def test_bad_options_name_themselves(settings: dict[str, object], named: str) -> None:
    """A bad option is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=named):
        StoreConfig(kind="s3", bucket="bkt", **settings)  # type: ignore[arg-type]


def test_reserved_tag_prefix_refused() -> None:
    """Tag keys starting aws: are S3's."""
    with pytest.raises(ConfigError, match="reserves"):
        StoreConfig(kind="s3", bucket="bkt", tags=(("aws:x", "1"),))


def test_kms_key_is_allowed_in_the_url_but_credentials_are_not() -> None:
    """sse_kms_key_id is not a credential; other *key* query names still are refused."""
    assert (
        "k1"
        == StoreConfig.resolve("s3://bkt?sse=aws:kms&sse_kms_key_id=k1", environ={}).sse_kms_key_id
    )
    with pytest.raises(ConfigError, match="credentials"):
        StoreConfig.resolve("s3://bkt?secret_key=abc", environ={})


def test_repr_shows_options_and_hides_secrets() -> None:
    """repr/str show the options and still hide every secret."""
    config = StoreConfig(
        kind="s3",
        bucket="bkt",
        access_key="AKIAEXAMPLE",
        secret_key="s3cr3t-value",
        session_token="t0k3n-value",
        sse="aws:kms",
        sse_kms_key_id="alias/logs",
        tags="team:ml",
    )
    for text in (repr(config), str(config)):
        assert "s3cr3t-value" not in text and "t0k3n-value" not in text
        assert "sse='aws:kms'" in text and "alias/logs" in text


def test_local_store_ignores_options_from_the_environment(tmp_path: object) -> None:
    """A stray OBJLOG_SSE does not concern a local store."""
    config = StoreConfig.resolve(str(tmp_path), environ={"OBJLOG_SSE": "AES256"})
    assert "file" == config.kind and config.sse is None


def test_every_documented_storage_class_is_accepted() -> None:
    """The whole AWS list is accepted, in any case."""
    for name in STORAGE_CLASSES:
        assert (
            name == StoreConfig(kind="s3", bucket="bkt", storage_class=name.lower()).storage_class
        )


@pytest.mark.parametrize("name", ["COLD", "LUKEWARM", "ARCHIVE_2"])
def test_a_server_defined_storage_class_is_kept_as_written(name: str) -> None:
    """Ceph RGW placement classes (upper case, not AWS's) pass; the server judges them."""
    assert name == StoreConfig(kind="s3", bucket="bkt", storage_class=name).storage_class


_TAG_CHARS = st.sampled_from("abcXYZ019 +-=._/@")


@given(
    st.dictionaries(
        st.text(_TAG_CHARS, min_size=1, max_size=20).map(str.strip).filter(bool),
        st.text(_TAG_CHARS | st.just(":"), max_size=30).map(str.strip),
        max_size=10,
    )
)
def test_tags_round_trip(tags: dict[str, str]) -> None:
    """Tags written k:v,k2:v2 parse back to the same pairs, in order."""
    text = ",".join(f"{k}:{v}" for k, v in tags.items())
    assert tuple(tags.items()) == parse_tags(text)
