"""StoreConfig: URL forms, precedence, validation messages, secret redaction."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objlog.config import (
    StoreConfig,
    default_store_dir,
    parse_store_url,
    validate_bucket_name,
)
from objlog.errors import ConfigError, MissingBackendError
from objlog.stores import open_store
from objlog.stores.memory import MemoryStore

MIB = 1024**2
SECRET = "s3cr3t-Value-That-Must-Not-Leak-0123456789"
TOKEN = "tok3n-Value-That-Must-Not-Leak-9876543210"


# -- URL forms ----------------------------------------------------------------------


def test_s3_url_with_prefix() -> None:
    """s3://BUCKET/PREFIX gives the bucket and the prefix without edge slashes."""
    config = StoreConfig.resolve("s3://my-bucket/team/logs/", environ={})
    assert (
        config.kind,
        config.bucket,
        config.prefix,
        config.client,
    ) == ("s3", "my-bucket", "team/logs", "boto3")
    assert config.url == "s3://my-bucket/team/logs"


@pytest.mark.parametrize(
    "url", ["s3+minio://b-1/p", "s3://b-1/p?client=minio", "s3+minio://b-1/p?client=minio"]
)
def test_client_from_url(url: str) -> None:
    """The client can be chosen by the scheme (s3+minio) or the query (?client=minio)."""
    config = StoreConfig.resolve(url, environ={})
    assert (config.client, config.bucket, config.prefix) == ("minio", "b-1", "p")


def test_url_query_settings() -> None:
    """region, endpoint_url, addressing_style, create_bucket and verify_tls may be in the query."""
    config = StoreConfig.resolve(
        "s3://b-1?region=eu-west-1&endpoint=http://127.0.0.1:9000&addressing_style=virtual"
        "&create_bucket=true&verify_tls=0",
        environ={},
    )
    assert (
        config.region,
        config.endpoint_url,
        config.addressing_style,
        config.create_bucket,
        config.verify_tls,
    ) == ("eu-west-1", "http://127.0.0.1:9000", "virtual", True, False)


def test_default_bucket_fills_an_empty_s3_url() -> None:
    """s3:// and s3:///PREFIX take the bucket from AWS_DEFAULT_BUCKET."""
    env = {"AWS_DEFAULT_BUCKET": "from-env"}
    assert _loc(StoreConfig.resolve("s3://", environ=env)) == ("from-env", "")
    assert _loc(StoreConfig.resolve("s3:///pre", environ=env)) == ("from-env", "pre")
    assert _loc(StoreConfig.resolve("s3://named", environ=env)) == ("named", "")


def _loc(config: StoreConfig) -> tuple[str, str]:
    return (config.bucket, config.prefix)


def test_file_urls_and_plain_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """file:///DIR, file://localhost/DIR, an absolute and a relative path are local stores."""
    monkeypatch.chdir(tmp_path)
    expected = str(tmp_path / "d")
    for url in (f"file://{expected}", f"file://localhost{expected}", expected, "d", "./d/"):
        config = StoreConfig.resolve(url, environ={})
        assert ("file", expected) == (config.kind, str(Path(config.directory)))


def test_embedded_default(tmp_path: Path) -> None:
    """Nothing configured: a local store at $OBJLOG_HOME/store."""
    config = StoreConfig.resolve(environ={"OBJLOG_HOME": str(tmp_path)})
    assert ("file", str(tmp_path / "store")) == (config.kind, config.directory)


def test_stray_s3_variables_do_not_break_a_local_store(tmp_path: Path) -> None:
    """A bad AWS_CA_BUNDLE or half a key pair in the environment is no concern of file stores."""
    env = {
        "OBJLOG_HOME": str(tmp_path),
        "AWS_CA_BUNDLE": "/no/such/ca.pem",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ENDPOINT_URL": "not a url",
    }
    config = StoreConfig.resolve(environ=env)
    assert ("file", None, None) == (config.kind, config.ca_bundle, config.secret_key)


def test_default_store_dir_honours_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without OBJLOG_HOME the default is $XDG_DATA_HOME/objlog/store."""
    monkeypatch.delenv("OBJLOG_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert tmp_path / "objlog" / "store" == default_store_dir()


# -- precedence -------------------------------------------------------------------------


def test_explicit_beats_objlog_beats_aws() -> None:
    """Explicit arguments > OBJLOG_* > AWS_* for every setting."""
    env = {
        "AWS_ENDPOINT_URL": "http://aws-var:1",
        "AWS_REGION": "eu-west-1",
        "OBJLOG_ENDPOINT_URL": "http://objlog-var:2",
        "OBJLOG_CLIENT": "minio",
    }
    config = StoreConfig.resolve("s3://b-1", environ=env)
    assert (
        config.endpoint_url,
        config.region,
        config.client,
    ) == ("http://objlog-var:2", "eu-west-1", "minio")
    config = StoreConfig.resolve(
        "s3://b-1", environ=env, endpoint_url="http://explicit:3", client="boto3"
    )
    assert (config.endpoint_url, config.client) == ("http://explicit:3", "boto3")


def test_objlog_store_is_used_without_a_url_and_loses_to_one() -> None:
    """OBJLOG_STORE is the URL when none is passed; a passed URL replaces it whole."""
    env = {"OBJLOG_STORE": "s3+minio://env-bucket/env-prefix"}
    config = StoreConfig.resolve(environ=env)
    assert (config.bucket, config.prefix, config.client) == ("env-bucket", "env-prefix", "minio")
    config = StoreConfig.resolve("s3://arg-bucket", environ=env)
    assert (config.bucket, config.prefix, config.client) == ("arg-bucket", "", "boto3")


def test_endpoint_variable_order() -> None:
    """AWS_ENDPOINT_URL_S3 > AWS_ENDPOINT_URL > AWS_ENDPOINT_OVERRIDE."""
    env = {"AWS_ENDPOINT_OVERRIDE": "http://override:1"}
    assert StoreConfig.resolve("s3://b-1", environ=env).endpoint_url == "http://override:1"
    env["AWS_ENDPOINT_URL"] = "http://url:2"
    assert StoreConfig.resolve("s3://b-1", environ=env).endpoint_url == "http://url:2"
    env["AWS_ENDPOINT_URL_S3"] = "http://url-s3:3"
    assert StoreConfig.resolve("s3://b-1", environ=env).endpoint_url == "http://url-s3:3"


def test_region_variables() -> None:
    """AWS_REGION wins over AWS_DEFAULT_REGION; us-east-1 is the default."""
    assert StoreConfig.resolve("s3://b-1", environ={}).region == "us-east-1"
    env = {"AWS_DEFAULT_REGION": "eu-central-1"}
    assert StoreConfig.resolve("s3://b-1", environ=env).region == "eu-central-1"
    env["AWS_REGION"] = "ap-south-1"
    assert StoreConfig.resolve("s3://b-1", environ=env).region == "ap-south-1"


def test_credentials_come_as_one_group() -> None:
    """A higher level's access key is never paired with a lower level's secret."""
    env = {
        "AWS_ACCESS_KEY_ID": "AKIAAWS",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": TOKEN,
    }
    config = StoreConfig.resolve("s3://b-1", environ=env)
    assert (
        config.access_key,
        config.secret_key,
        config.session_token,
    ) == ("AKIAAWS", SECRET, TOKEN)
    config = StoreConfig.resolve("s3://b-1", environ=env, access_key="AK2", secret_key="S2")
    assert (config.access_key, config.secret_key, config.session_token) == ("AK2", "S2", None)


_LEVELS = ("aws", "objlog", "explicit")
_CREDENTIAL_VARS = {
    "aws": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
    "objlog": ("OBJLOG_ACCESS_KEY", "OBJLOG_SECRET_KEY", "OBJLOG_SESSION_TOKEN"),
}


@given(
    sets=st.fixed_dictionaries(
        {level: st.sampled_from(("none", "pair", "pair+token")) for level in _LEVELS}
    )
)
def test_credentials_come_from_the_highest_level_that_sets_any(sets: dict[str, str]) -> None:
    """Whatever levels set keys, the config holds exactly the highest such level's group."""
    env: dict[str, str] = {}
    explicit: dict[str, object] = {}
    expected: tuple[str | None, str | None, str | None] = (None, None, None)
    for level in _LEVELS:  # lowest first
        if sets[level] == "none":
            continue
        group = (f"AK{level}", f"SK{level}", f"ST{level}" if "token" in sets[level] else None)
        expected = group
        if level == "explicit":
            explicit = dict(zip(("access_key", "secret_key", "session_token"), group, strict=True))
        else:
            env.update(
                (var, value)
                for var, value in zip(_CREDENTIAL_VARS[level], group, strict=True)
                if value is not None
            )
    config = StoreConfig.resolve("s3://b-1", environ=env, **explicit)
    assert expected == (config.access_key, config.secret_key, config.session_token)


def test_no_credentials_leaves_the_sdk_chain_in_charge() -> None:
    """Without keys anywhere, the config holds None so the SDK's chain can find them."""
    config = StoreConfig.resolve("s3://b-1", environ={"AWS_PROFILE": "dev"})
    assert (config.access_key, config.secret_key, config.profile) == (None, None, "dev")


def test_objlog_variables_are_typed() -> None:
    """OBJLOG_* strings become booleans, byte counts (with MiB units) and seconds."""
    env = {
        "OBJLOG_CREATE_BUCKET": "yes",
        "OBJLOG_PART_SIZE_BYTES": "8MiB",
        "OBJLOG_MULTIPART_THRESHOLD_BYTES": "6291456",
        "OBJLOG_READ_TIMEOUT": "2.5",
        "OBJLOG_VERIFY_TLS": "false",
    }
    config = StoreConfig.resolve("s3://b-1", environ=env)
    assert (
        config.create_bucket,
        config.part_size_bytes,
        config.multipart_threshold_bytes,
        config.read_timeout,
        config.verify_tls,
    ) == (True, 8 * MIB, 6 * MIB, 2.5, False)


def test_addressing_style_defaults() -> None:
    """Path style with a custom endpoint (Ceph, MinIO), auto for AWS; explicit wins."""
    assert StoreConfig(kind="s3", bucket="b-1").addressing_style == "auto"
    custom = StoreConfig(kind="s3", bucket="b-1", endpoint_url="http://127.0.0.1:7480")
    assert custom.addressing_style == "path"
    explicit = StoreConfig(
        kind="s3", bucket="b-1", endpoint_url="http://h:1", addressing_style="virtual"
    )
    assert explicit.addressing_style == "virtual"


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("gs://bucket", "unsupported store URL scheme 'gs'"),
        ("s3://", "names no bucket"),
        ("s3:bucket", "write s3://BUCKET"),
        ("s3://Bad_Bucket", "lower-case letters"),
        ("s3://ab", "3 to 63 characters"),
        ("s3://a..b", "must not contain '..'"),
        ("s3://192.168.1.1", "IP address"),
        ("s3://bucket:9000", "must not carry a port"),
        ("s3://key:" + SECRET + "@bucket", "must not carry credentials"),
        ("s3://bucket?secret_key=" + SECRET, "must not carry credentials"),
        ("s3://bucket?colour=blue", "unknown store URL query key 'colour'"),
        ("s3://bucket#frag", "#fragment"),
        ("s3://bucket/a/../b", "'..' segments"),
        ("s3+minio://bucket?client=boto3", "pick one"),
        ("file://server/share", "file:///ABSOLUTE/DIR"),
        ("", "store URL is empty"),
    ],
)
def test_malformed_urls_say_what_to_fix(url: str, hint: str) -> None:
    """Malformed URLs raise ConfigError (a ValueError) whose message says what to fix."""
    with pytest.raises(ConfigError) as info:
        StoreConfig.resolve(url, environ={})
    assert isinstance(info.value, ValueError)
    assert hint in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("settings", "hint"),
    [
        ({"client": "s3cmd"}, "unknown client 's3cmd'; use one of: boto3, minio"),
        ({"part_size_bytes": 4 * MIB}, "outside S3's part limits"),
        ({"part_size_bytes": 6 * 1024**3}, "outside S3's part limits"),
        ({"multipart_threshold_bytes": 0}, "5 GiB, S3's single-PUT limit"),
        ({"multipart_threshold_bytes": 6 * 1024**3}, "single-PUT limit"),
        ({"connect_timeout": 0}, "positive number of seconds"),
        ({"read_timeout": float("nan")}, "positive number of seconds"),
        ({"max_pool_connections": 0}, "integer >= 1"),
        ({"endpoint_url": "127.0.0.1:9000"}, "http(s)://HOST[:PORT]"),
        ({"endpoint_url": "http://h:9000/bucket"}, "without a path"),
        ({"addressing_style": "dns"}, "path, virtual or auto"),
        ({"region": "Not A Region"}, "region name"),
        ({"ca_bundle": "/no/such/ca.pem"}, "not a readable file"),
        ({"secret_key": SECRET}, "set secret_key but not access_key"),
        ({"access_key": "AK"}, "set access_key but not secret_key"),
        ({"colour": "blue"}, "unknown store setting(s): colour"),
    ],
)
def test_bad_settings_say_what_to_fix(settings: dict[str, object], hint: str) -> None:
    """Bad settings raise ConfigError naming the fix, never the secret."""
    with pytest.raises(ConfigError) as info:
        StoreConfig.resolve("s3://b-1", environ={}, **settings)
    assert hint in str(info.value)
    assert SECRET not in str(info.value)


def test_bad_environment_value_names_the_variable() -> None:
    """A malformed OBJLOG_* value names the variable."""
    with pytest.raises(ConfigError) as info:
        StoreConfig.resolve("s3://b-1", environ={"OBJLOG_CREATE_BUCKET": "maybe"})
    assert "OBJLOG_CREATE_BUCKET='maybe' is not a boolean" in str(info.value)
    with pytest.raises(ConfigError) as info:
        StoreConfig.resolve(environ={"OBJLOG_STORE": "gs://x"})
    assert str(info.value).startswith("OBJLOG_STORE: unsupported store URL scheme")


def test_half_credential_pair_from_environment_is_refused() -> None:
    """AWS_SECRET_ACCESS_KEY without AWS_ACCESS_KEY_ID says where the key is missing."""
    with pytest.raises(ConfigError) as info:
        StoreConfig.resolve("s3://b-1", environ={"AWS_SECRET_ACCESS_KEY": SECRET})
    assert "the AWS_* variables set secret_key but not access_key" in str(info.value)
    assert SECRET not in str(info.value)


def test_credentials_are_not_mixed_across_levels() -> None:
    """An explicit secret is not paired with AWS_ACCESS_KEY_ID; the message says why."""
    with pytest.raises(ConfigError) as info:
        StoreConfig.resolve("s3://b-1", environ={"AWS_ACCESS_KEY_ID": "AKIA1"}, secret_key=SECRET)
    assert str(info.value).startswith("the explicit arguments set secret_key but not access_key")
    assert SECRET not in str(info.value)


# -- redaction --------------------------------------------------------------------------------


def test_repr_and_str_redact_secrets() -> None:
    """repr and str say a secret is set, never what it is."""
    config = StoreConfig(
        kind="s3", bucket="b-1", access_key="AKIA1", secret_key=SECRET, session_token=TOKEN
    )
    for text in (repr(config), str(config), config.url):
        assert SECRET not in text
        assert TOKEN not in text
    assert "secret_key=<set>" in repr(config)
    assert "session_token=<set>" in repr(config)


@given(secret=st.text(alphabet=st.characters(codec="ascii", categories=["L", "N"]), min_size=12))
def test_errors_never_hold_the_secret(secret: str) -> None:
    """Whatever the secret, errors raised while validating never contain it."""
    for settings in (
        {"secret_key": secret},
        {"access_key": "AK", "secret_key": secret, "part_size_bytes": 1},
        {"access_key": "AK", "secret_key": secret, "bucket": "Bad_Bucket"},
        {"session_token": secret},
    ):
        with pytest.raises(ConfigError) as info:
            StoreConfig(kind="s3", **{"bucket": "b-1", **settings})  # type: ignore[arg-type]
        assert secret not in str(info.value)


# -- properties of the pure parts ----------------------------------------------------------------

_segment = st.text(
    alphabet=st.characters(blacklist_categories=["Cc", "Cs"], blacklist_characters="/"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in {".", ".."})
_bucket = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]", fullmatch=True).filter(
    lambda b: (
        ".." not in b
        and ".-" not in b
        and "-." not in b
        and not b.startswith("xn--")
        and not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", b)
    )
)


@given(bucket=_bucket, segments=st.lists(_segment, max_size=4))
def test_s3_url_round_trip(bucket: str, segments: list[str]) -> None:
    """parse_store_url(config.url) gives back the bucket and prefix, whatever the characters."""
    config = StoreConfig(kind="s3", bucket=bucket, prefix="/".join(segments))
    parsed = parse_store_url(config.url)
    assert (bucket, "/".join(segments)) == (parsed["bucket"], parsed["prefix"])


@given(name=st.text(alphabet="abcXYZ019.-_ ", max_size=70))
def test_bucket_validation_matches_the_s3_rules(name: str) -> None:
    """validate_bucket_name accepts exactly the names S3's rules allow."""
    allowed = (
        3 <= len(name) <= 63
        and re.fullmatch(r"[a-z0-9.-]+", name) is not None
        and name[0].isalnum()
        and name[-1].isalnum()
        and ".." not in name
        and ".-" not in name
        and "-." not in name
        and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name) is None
    )
    try:
        validate_bucket_name(name)
        accepted = True
    except ConfigError:
        accepted = False
    assert allowed == accepted


# -- open_store --------------------------------------------------------------------------------


def test_open_store_refuses_settings_for_a_store_object() -> None:
    """Settings cannot be applied to an already opened store object."""
    with pytest.raises(ConfigError):
        open_store(MemoryStore(), client="minio")


def test_open_store_applies_overrides_to_a_config(tmp_path: Path) -> None:
    """open_store(config, **overrides) applies the overrides on top."""
    config = StoreConfig(kind="file", directory=str(tmp_path / "a"))
    store = open_store(config, directory=str(tmp_path / "b"))
    assert (tmp_path / "b").as_uri() == store.url


def test_missing_sdk_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing boto3 or minio raises MissingBackendError (an ImportError) naming the fix."""
    for module, client, extra in (("boto3", "boto3", "s3"), ("minio", "minio", "minio")):
        monkeypatch.setitem(sys.modules, module, None)
        with pytest.raises(MissingBackendError) as info:
            open_store("s3://b-1", client=client, endpoint_url="http://127.0.0.1:1")
        assert isinstance(info.value, ImportError)
        assert f"pip install 'objlog-s3[{extra}]'" in str(info.value)


def test_store_layer_imports_no_sdk() -> None:
    """Importing objlog.stores and opening a local store loads neither boto3 nor minio."""
    code = (
        "import sys, tempfile, objlog.stores, objlog.config;"
        "objlog.stores.open_store(tempfile.mkdtemp());"
        "print(sorted(m for m in ('boto3', 'botocore', 'minio') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
