"""
Store configuration: the store URL, its settings, and where they come from.

Store URLs, as users write them::

    s3://BUCKET[/PREFIX]            S3-compatible storage, boto3 client
    s3+minio://BUCKET[/PREFIX]      the same with the minio client (also s3+boto3://)
    s3://BUCKET/PREFIX?client=minio the same, as a query (also region, endpoint_url,
                                    addressing_style, create_bucket, verify_tls, layout,
                                    and the object options below)
    s3:///PREFIX  or  s3://         the bucket comes from AWS_DEFAULT_BUCKET
    file:///DIR[?layout=hive]       a local directory store (``layout`` its only query key)
    DIR  (a plain path)             a local directory store (relative to the cwd)

Precedence, highest first (`StoreConfig.resolve`):

1. explicit arguments (the ``url`` argument and keyword overrides);
2. ``OBJLOG_*`` environment variables: ``OBJLOG_STORE`` (the URL), and
   ``OBJLOG_<FIELD>`` for every field, e.g. ``OBJLOG_CLIENT``,
   ``OBJLOG_ENDPOINT_URL``, ``OBJLOG_REGION``, ``OBJLOG_ADDRESSING_STYLE``,
   ``OBJLOG_CREATE_BUCKET``, ``OBJLOG_VERIFY_TLS``, ``OBJLOG_PART_SIZE_BYTES``,
   ``OBJLOG_PART_CONCURRENCY``;
3. the standard AWS variables: ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``,
   ``AWS_ENDPOINT_OVERRIDE``, ``AWS_DEFAULT_BUCKET`` (only when the URL has no
   bucket), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
   ``AWS_SESSION_TOKEN``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``,
   ``AWS_PROFILE``, ``AWS_CA_BUNDLE``;
4. the SDK's own credential chain (shared config files, web identity,
   instance profile): credentials left unset here are found by boto3's chain,
   or by minio's ``EnvAWSProvider`` / ``AWSConfigProvider`` / ``IamAwsProvider``;
5. defaults.

Credentials (access key, secret key, session token) are taken as one group
from the highest level that sets any of them, so a key and a secret from
different sources are never mixed.

Object options, applied to every object objlog writes to an S3 store (log
batches, results, status objects; on CreateMultipartUpload for multipart
uploads, as S3 takes them there and not per part), set like any field (URL
query ``?storage_class=STANDARD_IA&sse=aws:kms&tags=team:ml,env:prod``,
``OBJLOG_STORAGE_CLASS`` / ``OBJLOG_SSE`` / ``OBJLOG_SSE_KMS_KEY_ID`` /
``OBJLOG_TAGS``, or keyword arguments of ``open_store``), the same options
Vector's and Fluent Bit's S3 sinks set:

``storage_class``  one of `STORAGE_CLASSES` (AWS's PutObject ``StorageClass``,
                   any case), or another upper-case name a server defines
``sse``            ``AES256`` (SSE-S3) or ``aws:kms`` (SSE-KMS)
``sse_kms_key_id`` the KMS key (id, ARN or alias) for ``aws:kms``; default
                   the bucket's or account's ``aws/s3`` key
``tags``           ``KEY:VALUE,KEY2:VALUE2`` (or a mapping): at most 10 tags,
                   keys 1-128 and values 0-256 characters (S3 object tag limits)

A local (``file://``) store ignores them.

With no store configured anywhere, the embedded default is a local directory
store at ``$OBJLOG_HOME/store``, else ``$XDG_DATA_HOME/objlog/store``, else
``~/.local/share/objlog/store`` (`default_store_dir`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from objlog import _layout
from objlog.errors import ConfigError
from objlog.typing import MAX_PART_BYTES, MAX_SINGLE_PUT_BYTES, MIN_PART_BYTES

#: The largest `StoreConfig.part_concurrency` (parts of one object at once).
MAX_PART_CONCURRENCY = 64

__all__ = [
    "CLIENTS",
    "MAX_PART_CONCURRENCY",
    "SSE_MODES",
    "STORAGE_CLASSES",
    "StoreConfig",
    "default_home",
    "default_store_dir",
    "parse_store_url",
    "parse_tags",
    "store_layout",
    "validate_bucket_name",
]

Kind = Literal["s3", "file"]
Client = Literal["boto3", "minio"]
AddressingStyle = Literal["path", "virtual", "auto"]

#: The S3 clients objlog can drive.
CLIENTS: tuple[str, ...] = ("boto3", "minio")
_KINDS = ("s3", "file")
_STYLES = ("path", "virtual", "auto")
_SECRET_FIELDS = ("access_key", "secret_key", "session_token")
_S3_ONLY_FIELDS = (
    *_SECRET_FIELDS,
    "endpoint_url",
    "ca_bundle",
    "profile",
    "region",
    "addressing_style",
    "client",
    "storage_class",
    "sse",
    "sse_kms_key_id",
    "tags",
)
_MIB = 1024**2

#: Storage classes objlog accepts: the ``StorageClass`` values of AWS's
#: PutObject API reference (S3 general-purpose buckets, 2025). Ceph RGW
#: takes the ones its zone defines (STANDARD always) and refuses the others
#: with ``InvalidStorageClass``.
STORAGE_CLASSES: tuple[str, ...] = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
)
#: Any other storage class a server defines (Ceph RGW zonegroup placement
#: storage classes, e.g. ``COLD``), written in upper case as S3 names are; a
#: server that lacks it refuses with ``InvalidStorageClass``.
_CUSTOM_STORAGE_CLASS = re.compile(r"[A-Z][A-Z0-9_-]{0,63}")
#: Server-side encryption modes (``x-amz-server-side-encryption``): SSE-S3 and SSE-KMS.
SSE_MODES: tuple[str, ...] = ("AES256", "aws:kms")
# S3 object tag limits ("Categorizing your storage using tags"): 10 tags,
# keys 1-128 and values 0-256 Unicode characters of letters, digits, spaces
# and + - = . _ : / @; keys starting "aws:" are reserved.
_MAX_TAGS = 10
_TAG_TEXT = re.compile(r"^[\w\s+\-=._:/@]*$")

# Query keys a store URL may carry (credentials never: URLs end up in logs).
_QUERY_KEYS = (
    "client",
    "region",
    "endpoint_url",
    "addressing_style",
    "create_bucket",
    "verify_tls",
    "layout",
    "storage_class",
    "sse",
    "sse_kms_key_id",
    "tags",
)
# Query keys that hold "key" in their name but no credential.
_NOT_SECRET = frozenset({"sse_kms_key_id"})
_QUERY_ALIASES = {"endpoint": "endpoint_url"}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """
    Return objlog's data home: ``$OBJLOG_HOME``, else ``$XDG_DATA_HOME/objlog``,
    else ``~/.local/share/objlog``.

    Args:
        environ: Variables to read instead of `os.environ` (tests).

    Returns:
        An absolute path (not created).

    Thread safety: reads the environment only; safe from any thread.
    """
    env = os.environ if environ is None else environ
    home = env.get("OBJLOG_HOME")
    if home:
        return Path(home).expanduser().absolute()
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return (base / "objlog").absolute()


def default_store_dir(environ: Mapping[str, str] | None = None) -> Path:
    """
    Return the embedded default store directory, ``default_home() / "store"``.

    Args:
        environ: Variables to read instead of `os.environ` (tests).

    Returns:
        An absolute path (not created).

    Thread safety: reads the environment only; safe from any thread.
    """
    return default_home(environ) / "store"


def validate_bucket_name(name: str) -> str:
    """
    Check `name` against S3's general-purpose bucket naming rules and return it.

    Rules (AWS "Bucket naming rules"): 3 to 63 characters; lower-case letters,
    digits, dots and hyphens; begins and ends with a letter or digit; no two
    adjacent dots, no ``.-`` or ``-.``; not an IPv4 address; not starting with
    ``xn--`` or ``sthree-``; not ending with ``-s3alias`` or ``--ol-s3``.

    Args:
        name: The bucket name.

    Returns:
        `name` unchanged.

    Raises:
        ConfigError: The name breaks a rule; the message says which.

    Thread safety: pure function.
    """
    if not isinstance(name, str):
        raise ConfigError(f"bucket name must be a string, got {type(name).__name__}")
    if not 3 <= len(name) <= 63:
        raise ConfigError(f"bucket name {name!r} must be 3 to 63 characters long (S3 rule)")
    if not _BUCKET.match(name):
        raise ConfigError(
            f"bucket name {name!r} may only hold lower-case letters, digits, '.' and '-', "
            "and must begin and end with a letter or digit (S3 rule)"
        )
    if ".." in name or ".-" in name or "-." in name:
        raise ConfigError(f"bucket name {name!r} must not contain '..', '.-' or '-.' (S3 rule)")
    if _IPV4.match(name):
        raise ConfigError(f"bucket name {name!r} must not look like an IP address (S3 rule)")
    if name.startswith(("xn--", "sthree-")) or name.endswith(("-s3alias", "--ol-s3")):
        raise ConfigError(f"bucket name {name!r} uses a prefix or suffix S3 reserves")
    return name


def _normalize_prefix(prefix: str) -> str:
    if not isinstance(prefix, str):
        raise ConfigError(f"prefix must be a string, got {type(prefix).__name__}")
    prefix = prefix.strip("/")
    if not prefix:
        return ""
    if _CONTROL.search(prefix):
        raise ConfigError(f"prefix {prefix!r} must not contain control characters")
    for segment in prefix.split("/"):
        if segment in {"", ".", ".."}:
            raise ConfigError(
                f"prefix {prefix!r} must not contain empty, '.' or '..' segments; "
                "write it like logs/team-a"
            )
    if len(prefix.encode("utf-8")) > 512:
        raise ConfigError("prefix is longer than 512 bytes (S3 keys hold at most 1024)")
    return prefix


def _parse_bool(value: str, source: str) -> bool:
    low = value.strip().lower()
    if low in {"1", "true", "yes", "on"}:
        return True
    if low in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{source}={value!r} is not a boolean; use true/false or 1/0")


def _parse_int(value: str, source: str) -> int:
    text = value.strip().replace("_", "")
    units = {"KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            number = text[: -len(unit)].strip()
            try:
                return int(number) * factor
            except ValueError:
                break
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"{source}={value!r} is not a whole number of bytes (e.g. 16777216 or 16MiB)"
        ) from None


def _parse_float(value: str, source: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{source}={value!r} is not a number of seconds") from None


def _field_types() -> dict[str, str]:
    return {
        "create_bucket": "bool",
        "verify_tls": "bool",
        "multipart_threshold_bytes": "int",
        "part_size_bytes": "int",
        "part_concurrency": "int",
        "max_pool_connections": "int",
        "connect_timeout": "float",
        "read_timeout": "float",
        "tags": "tags",
    }


def _coerce(name: str, value: str, source: str) -> object:
    """Turn a string from the environment or a URL query into the field's type."""
    kind = _field_types().get(name, "str")
    if kind == "bool":
        return _parse_bool(value, source)
    if kind == "int":
        return _parse_int(value, source)
    if kind == "float":
        return _parse_float(value, source)
    if kind == "tags":
        return parse_tags(value, source)
    return value


def parse_tags(text: str, source: str = "tags") -> tuple[tuple[str, str], ...]:
    """
    Parse object tags written ``KEY:VALUE,KEY2:VALUE2`` (Vector's and Fluent Bit's form).

    Each pair splits at its first ``:`` (a value may hold more); blanks
    around keys and values are dropped; an empty `text` is no tags.

    Args:
        text: The tags.
        source: Where `text` came from, for the message (default ``"tags"``).

    Returns:
        ``((key, value), ...)`` in the order written, checked against S3's
        tag limits (see `StoreConfig`).

    Raises:
        ConfigError: A pair without ``:``, a key given twice, or a limit broken.

    Thread safety: pure function.
    """
    if not isinstance(text, str):
        raise ConfigError(f"{source} must be a string like team:ml,env:prod")
    pairs: list[tuple[str, str]] = []
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition(":")
        if not sep:
            raise ConfigError(
                f"{source}: {item.strip()!r} is not KEY:VALUE (write team:ml,env:prod)"
            )
        pairs.append((name.strip(), value.strip()))
    return _check_tags(tuple(pairs), source)


def _check_tags(pairs: tuple[tuple[str, str], ...], source: str) -> tuple[tuple[str, str], ...]:
    if len(pairs) > _MAX_TAGS:
        raise ConfigError(f"{source}: {len(pairs)} tags; S3 allows at most {_MAX_TAGS} per object")
    seen: set[str] = set()
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigError(f"{source}: tag keys and values must be strings")
        if not 1 <= len(name) <= 128:
            raise ConfigError(f"{source}: tag key {name!r} must be 1 to 128 characters (S3 limit)")
        if len(value) > 256:
            raise ConfigError(f"{source}: tag {name!r} has a value over 256 characters (S3 limit)")
        if not _TAG_TEXT.match(name) or not _TAG_TEXT.match(value):
            raise ConfigError(
                f"{source}: tag {name!r} may only hold letters, digits, spaces and "
                "+ - = . _ : / @ (S3 rule)"
            )
        if name.lower().startswith("aws:"):
            raise ConfigError(f"{source}: tag key {name!r} uses the prefix aws:, which S3 reserves")
        if name in seen:
            raise ConfigError(f"{source}: tag key {name!r} is given twice")
        seen.add(name)
    return pairs


def parse_store_url(url: str, *, default_bucket: str | None = None) -> dict[str, object]:
    """
    Split a store URL into `StoreConfig` fields.

    Args:
        url: ``s3://BUCKET[/PREFIX]``, ``s3+minio://...``, ``s3+boto3://...``,
            ``file:///DIR`` or a plain directory path (see the module docstring).
        default_bucket: Bucket used when an ``s3`` URL names none (the
            caller passes ``AWS_DEFAULT_BUCKET``); default None.

    Returns:
        A dict of field names to values: always ``kind``; ``bucket`` and
        ``prefix`` for s3 URLs, ``directory`` for local ones; ``client``
        and other settings when the scheme or query carries them.

    Raises:
        ConfigError: Malformed URL, unknown scheme or query key, credentials
            in the URL, a bucket S3 rejects, or no bucket at all. Secrets are
            never echoed.

    Thread safety: pure function.
    """
    if not isinstance(url, str):
        raise ConfigError(f"store URL must be a string, got {type(url).__name__}")
    url = url.strip()
    if not url:
        raise ConfigError("store URL is empty; use s3://BUCKET[/PREFIX] or file:///DIR")
    if _CONTROL.search(url):
        raise ConfigError("store URL must not contain control characters")
    match = _SCHEME.match(url)
    # A one-letter "scheme" is a Windows drive (C:\...); treat it as a path.
    if match is None or len(match.group(1)) == 1:
        return {"kind": "file", "directory": str(Path(url).expanduser().absolute())}
    scheme = match.group(1).lower()
    if scheme == "file":
        return _parse_file_url(url)
    client: str | None = None
    if scheme in {"s3+boto3", "s3+minio"}:
        client = scheme.split("+", 1)[1]
    elif scheme != "s3":
        raise ConfigError(
            f"unsupported store URL scheme {scheme!r}; use s3://BUCKET[/PREFIX], "
            "s3+minio://BUCKET[/PREFIX] or file:///DIR"
        )
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError(
            "malformed store URL; use s3://BUCKET[/PREFIX] (no user, password or port)"
        ) from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ConfigError(
            "store URL must not carry credentials; set AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY or pass access_key/secret_key"
        )
    if port is not None or ":" in parts.netloc:
        raise ConfigError(
            "store URL must not carry a port; the bucket goes after s3:// and the "
            "server in endpoint_url (OBJLOG_ENDPOINT_URL / AWS_ENDPOINT_URL)"
        )
    if parts.fragment:
        raise ConfigError("store URL must not have a #fragment")
    if not url.startswith(f"{match.group(1)}://"):
        raise ConfigError(f"malformed store URL; write {scheme}://BUCKET[/PREFIX]")
    bucket = urllib.parse.unquote(parts.netloc)
    if not bucket:
        if not default_bucket:
            raise ConfigError(
                "store URL names no bucket; write s3://BUCKET[/PREFIX] or set AWS_DEFAULT_BUCKET"
            )
        bucket = default_bucket
    validate_bucket_name(bucket)
    fields: dict[str, object] = {
        "kind": "s3",
        "bucket": bucket,
        "prefix": _normalize_prefix(urllib.parse.unquote(parts.path)),
    }
    if client is not None:
        fields["client"] = client
    fields.update(_parse_query(parts.query))
    if client is not None and fields.get("client") != client:
        raise ConfigError(
            f"store URL selects client {client!r} in its scheme and "
            f"{fields['client']!r} in its query; pick one"
        )
    return fields


def _parse_file_url(url: str) -> dict[str, object]:
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in {"", "localhost"}:
        raise ConfigError(
            f"file URL names host {parts.netloc!r}; a local store is file:///ABSOLUTE/DIR"
        )
    if parts.fragment:
        raise ConfigError("file URL must not have a #fragment")
    # The key layout is the one query a local store takes: readers of the
    # same URL must find what the writer wrote (S3 settings mean nothing here).
    query = _parse_query(parts.query)
    if set(query) - {"layout"}:
        raise ConfigError("a file URL takes no ?query but ?layout=...")
    path = urllib.parse.unquote(parts.path)
    if not path.startswith("/"):
        raise ConfigError("file URL needs an absolute path: file:///ABSOLUTE/DIR")
    return {"kind": "file", "directory": str(Path(path).expanduser().absolute()), **query}


def _parse_query(query: str) -> dict[str, object]:
    if not query:
        return {}
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise ConfigError("malformed store URL query; write ?client=minio&region=...") from None
    out: dict[str, object] = {}
    for raw_name, value in pairs:
        name = _QUERY_ALIASES.get(raw_name, raw_name)
        if name in _SECRET_FIELDS or (
            name not in _NOT_SECRET and ("secret" in name or "token" in name or "key" in name)
        ):
            raise ConfigError(
                "store URL must not carry credentials; set AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY or pass access_key/secret_key"
            )
        if name not in _QUERY_KEYS:
            raise ConfigError(
                f"unknown store URL query key {raw_name!r}; known: {', '.join(_QUERY_KEYS)}"
            )
        if name in out:
            raise ConfigError(f"store URL query key {raw_name!r} is given twice")
        out[name] = _coerce(name, value, f"URL query {raw_name}")
    return out


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class StoreConfig:
    """
    Where and how to reach an object store; validated on construction.

    Build one directly, or with `StoreConfig.resolve` which applies the
    precedence described in the module docstring. `repr` and `str` show
    whether credentials are set, never their values.

    Attributes:
        kind: ``"s3"`` or ``"file"`` (default ``"file"``).
        bucket: Bucket name (S3 rules), required for s3, "" for file.
        prefix: Key prefix without edge slashes (default ""); a leading or
            trailing "/" is stripped.
        directory: Local store directory (absolute after `resolve`), file only.
        client: ``"boto3"`` (default) or ``"minio"``.
        endpoint_url: ``http(s)://host[:port]`` of a non-AWS server, or None
            for AWS.
        region: Region name (default ``"us-east-1"``).
        addressing_style: ``"path"``, ``"virtual"`` or ``"auto"``; None
            (default) becomes ``"path"`` with a custom endpoint (Ceph RGW,
            MinIO need it) and ``"auto"`` otherwise.
        verify_tls: Verify the server's TLS certificate (default True).
        ca_bundle: Path of a PEM CA bundle, or None for the system's.
        access_key: Access key id, or None to let the SDK chain find one.
        secret_key: Secret access key (never shown).
        session_token: Session token for temporary credentials (never shown).
        profile: Shared-config profile name (boto3 and minio), or None.
        create_bucket: Create the bucket once when the store is opened
            (default False; never per write).
        multipart_threshold_bytes: Objects larger than this use a multipart
            upload (default 16 MiB; 1 byte .. 5 GiB, the single-PUT limit).
        part_size_bytes: Multipart part size (default 16 MiB; 5 MiB .. 5 GiB,
            S3 limits; at most 10,000 parts, so objects up to 10,000 parts).
        connect_timeout: Seconds to wait for a connection (default 5.0).
        read_timeout: Seconds to wait for response bytes (default 30.0).
        part_concurrency: Parts of one object uploaded, or ranges
            downloaded, at once (default 4; 1 .. 64). An upload holds at most
            this many parts in memory, the one being read included (64 MiB at
            the default part size); the SDK's connection pool is raised to at
            least this many connections. See the README's results section
            for how the default was chosen.
        max_pool_connections: HTTP connections kept per store (default 10).
        layout: Key layout of the log batches: ``"kfp"``, ``"hive"`` or a
            template (`objlog._layout.Layout`); None (default) leaves it to
            ``OBJLOG_LAYOUT``, else ``kfp`` (`store_layout`). The writer
            and every reader of the store URL use it.
        storage_class: Storage class of every object written, one of
            `STORAGE_CLASSES` (case-insensitive), another upper-case name
            the server defines (Ceph RGW placement classes), or None
            (default: the bucket's, STANDARD).
        sse: Server-side encryption of every object written: ``"AES256"``
            (SSE-S3) or ``"aws:kms"`` (SSE-KMS), or None (default: the
            bucket's default encryption).
        sse_kms_key_id: KMS key id, ARN or alias for ``sse="aws:kms"`` (only
            with it); None (default) uses the default KMS key.
        tags: Object tags of every object written: ``((key, value), ...)``,
            a mapping, or ``"team:ml,env:prod"`` (normalized to pairs); at
            most 10, keys 1-128 and values 0-256 characters (S3 limits).
            Default none.

    Raises:
        ConfigError: Any field is malformed or out of range; the message
            says what to fix and never holds a secret.

    Thread safety: immutable; share freely.
    """

    kind: Kind = "file"
    bucket: str = ""
    prefix: str = ""
    directory: str = ""
    client: Client = "boto3"
    endpoint_url: str | None = None
    region: str = "us-east-1"
    addressing_style: AddressingStyle | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    profile: str | None = None
    create_bucket: bool = False
    multipart_threshold_bytes: int = 16 * _MIB
    part_size_bytes: int = 16 * _MIB
    part_concurrency: int = 4
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_pool_connections: int = 10
    layout: str | None = None
    storage_class: str | None = None
    sse: str | None = None
    sse_kms_key_id: str | None = None
    tags: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.layout is not None:
            _layout.parse_layout(self.layout)  # a bad template fails here, not at the first write
        if self.kind not in _KINDS:
            raise ConfigError(f"kind must be 's3' or 'file', got {self.kind!r}")
        if self.client not in CLIENTS:
            raise ConfigError(f"unknown client {self.client!r}; use one of: {', '.join(CLIENTS)}")
        set_(self, "prefix", _normalize_prefix(self.prefix))
        if self.kind == "s3":
            if not self.bucket:
                raise ConfigError("an s3 store needs a bucket: s3://BUCKET[/PREFIX]")
            validate_bucket_name(self.bucket)
            if self.directory:
                raise ConfigError("an s3 store has no directory; directory is for file stores")
        else:
            if not self.directory:
                raise ConfigError("a file store needs a directory: file:///DIR")
            if self.bucket:
                raise ConfigError("a file store has no bucket; use s3://BUCKET for S3")
        if self.endpoint_url is not None:
            self._check_endpoint(self.endpoint_url)
        if not isinstance(self.region, str) or not re.fullmatch(r"[a-z0-9-]{1,64}", self.region):
            raise ConfigError(f"region {self.region!r} is not a region name like us-east-1")
        style = self.addressing_style
        if style is None:
            style = "path" if self.endpoint_url else "auto"
            set_(self, "addressing_style", style)
        if style not in _STYLES:
            raise ConfigError(
                f"addressing_style must be path, virtual or auto, got {self.addressing_style!r}"
            )
        for name in ("verify_tls", "create_bucket"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False")
        if self.ca_bundle is not None and not Path(self.ca_bundle).is_file():
            raise ConfigError(f"ca_bundle {self.ca_bundle!r} is not a readable file")
        self._check_credentials()
        self._check_sizes()
        for name in ("connect_timeout", "read_timeout"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
        pool = self.max_pool_connections
        if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1:
            raise ConfigError(f"max_pool_connections must be an integer >= 1, got {pool!r}")
        self._check_object_options()

    def _check_object_options(self) -> None:
        set_ = object.__setattr__
        storage = self.storage_class
        if storage is not None:
            name = storage.strip() if isinstance(storage, str) else ""
            if name.upper() in STORAGE_CLASSES:
                set_(self, "storage_class", name.upper())
            elif not _CUSTOM_STORAGE_CLASS.fullmatch(name):
                raise ConfigError(
                    f"storage_class {storage!r} is not an S3 storage class; use one of: "
                    f"{', '.join(STORAGE_CLASSES)}, or a class your server defines "
                    "(upper case, e.g. Ceph RGW's placement storage classes)"
                )
            else:
                set_(self, "storage_class", name)
        sse = self.sse
        if sse is not None:
            canonical = {m.lower(): m for m in SSE_MODES}
            if not isinstance(sse, str) or sse.strip().lower() not in canonical:
                raise ConfigError(f"sse {sse!r} is not AES256 or aws:kms")
            set_(self, "sse", canonical[sse.strip().lower()])
        key_id = self.sse_kms_key_id
        if key_id is not None:
            if not isinstance(key_id, str) or not key_id.strip() or _CONTROL.search(key_id):
                raise ConfigError("sse_kms_key_id must be a KMS key id, ARN or alias")
            if self.sse != "aws:kms":
                raise ConfigError("sse_kms_key_id needs sse=aws:kms (it names the KMS key)")
        tags = self.tags
        if isinstance(tags, str):
            tags = parse_tags(tags)
        elif isinstance(tags, Mapping):
            tags = tuple((k, v) for k, v in tags.items())
        elif isinstance(tags, (tuple, list)) and all(
            isinstance(t, (tuple, list)) and len(t) == 2 for t in tags
        ):
            tags = tuple((t[0], t[1]) for t in tags)
        else:
            raise ConfigError("tags must be 'team:ml,env:prod', a mapping or (key, value) pairs")
        set_(self, "tags", _check_tags(tags, "tags"))

    @property
    def has_object_options(self) -> bool:
        """True when any object option (storage class, encryption, tags) is set."""
        return bool(self.storage_class or self.sse or self.tags)

    @staticmethod
    def _check_endpoint(endpoint: str) -> None:
        try:
            parts = urllib.parse.urlsplit(endpoint)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except (ValueError, AttributeError):
            raise ConfigError("endpoint_url is malformed; write http(s)://HOST[:PORT]") from None
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(
                f"endpoint_url {parts.scheme}://{parts.hostname or ''}... must be "
                "http(s)://HOST[:PORT]"
            )
        if parts.username is not None or parts.password is not None:
            raise ConfigError("endpoint_url must not carry credentials (user:password@)")
        if parts.path not in {"", "/"} or parts.query or parts.fragment:
            raise ConfigError(
                f"endpoint_url must be http(s)://HOST[:PORT] without a path; "
                f"put the bucket in the store URL (got path {parts.path!r})"
            )

    def _check_credentials(self) -> None:
        for name in (*_SECRET_FIELDS, "profile"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"{name} must be a non-empty string or None")
        if self.secret_key is not None and self.access_key is None:
            raise ConfigError(
                "a secret key is set without an access key; set AWS_ACCESS_KEY_ID "
                "(or access_key) too, or neither"
            )
        if self.access_key is not None and self.secret_key is None:
            raise ConfigError(
                "an access key is set without a secret key; set AWS_SECRET_ACCESS_KEY "
                "(or secret_key) too, or neither"
            )
        if self.session_token is not None and self.access_key is None:
            raise ConfigError("a session token needs an access key and a secret key")

    def _check_sizes(self) -> None:
        for name in ("multipart_threshold_bytes", "part_size_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} must be an integer number of bytes, got {value!r}")
        part = self.part_size_bytes
        if not MIN_PART_BYTES <= part <= MAX_PART_BYTES:
            raise ConfigError(
                f"part_size_bytes={part} is outside S3's part limits: "
                f"{MIN_PART_BYTES} (5 MiB) to {MAX_PART_BYTES} (5 GiB)"
            )
        concurrency = self.part_concurrency
        if isinstance(concurrency, bool) or not isinstance(concurrency, int):
            raise ConfigError(f"part_concurrency must be an integer, got {concurrency!r}")
        if not 1 <= concurrency <= MAX_PART_CONCURRENCY:
            raise ConfigError(
                f"part_concurrency must be 1 to {MAX_PART_CONCURRENCY}, got {concurrency}"
            )
        threshold = self.multipart_threshold_bytes
        if not 1 <= threshold <= MAX_SINGLE_PUT_BYTES:
            raise ConfigError(
                f"multipart_threshold_bytes={threshold} must be 1 to {MAX_SINGLE_PUT_BYTES} "
                "(5 GiB, S3's single-PUT limit)"
            )

    # -- presentation ---------------------------------------------------------
    @property
    def url(self) -> str:
        """
        The store URL without credentials: ``s3://BUCKET[/PREFIX]`` or ``file:///DIR``.
        """
        if self.kind == "file":
            return Path(self.directory).absolute().as_uri()
        quoted = urllib.parse.quote(self.prefix, safe="/")
        return f"s3://{self.bucket}/{quoted}" if self.prefix else f"s3://{self.bucket}"

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRET_FIELDS:
                if value is None:
                    continue
                shown.append(f"{f.name}=<set>")
                continue
            if value == f.default:
                continue
            shown.append(f"{f.name}={value!r}")
        return f"StoreConfig({', '.join(shown)})"

    __str__ = __repr__

    def replace(self, **changes: object) -> StoreConfig:
        """
        Return a copy with `changes` applied and validated.

        Raises:
            ConfigError: A changed value is invalid, or an unknown field name.
        """
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown store setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    # -- loading -------------------------------------------------------------
    @classmethod
    def resolve(
        cls,
        url: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        **overrides: object,
    ) -> StoreConfig:
        """
        Build a config from `url`, `overrides`, the environment and defaults.

        Precedence (module docstring): explicit arguments > ``OBJLOG_*`` >
        ``AWS_*`` > the SDK credential chain (credentials left None) >
        defaults. With no URL from the argument or ``OBJLOG_STORE``, the
        store is the local directory `default_store_dir`.

        Args:
            url: A store URL or plain directory path; default None (use
                ``OBJLOG_STORE`` or the embedded default).
            environ: Variables to read instead of `os.environ` (tests).
            **overrides: Field values (see the class attributes) that win
                over everything else; None values are ignored.

        Returns:
            A validated `StoreConfig`.

        Raises:
            ConfigError: A malformed URL or variable, an unknown setting, a
                bad bucket name, half a credential pair, or a size out of
                S3's limits. Variable names are named, secret values never.

        Thread safety: reads the environment only; safe from any thread.
        """
        env = os.environ if environ is None else environ
        names = {f.name for f in dataclasses.fields(cls)}
        _check_setting_names(overrides, names)
        default_bucket = env.get("AWS_DEFAULT_BUCKET") or None
        aws = _aws_layer(env)
        objlog = _objlog_layer(env, names, default_bucket, url_given=url is not None)
        explicit = {k: v for k, v in overrides.items() if v is not None}
        # Layer 1: the url argument is as explicit as the overrides.
        if url is not None:
            explicit = {**parse_store_url(url, default_bucket=default_bucket), **explicit}
        merged, source = _merge_layers(
            (aws, "the AWS_* variables"),
            (objlog, "the OBJLOG_* variables"),
            (explicit, "the explicit arguments"),
        )
        _settle_location(merged, explicit, env)
        if merged["kind"] == "s3":
            _check_credential_pair(merged, source)
        return cls(**merged)  # type: ignore[arg-type]


def _check_setting_names(overrides: Mapping[str, object], names: set[str]) -> None:
    """Refuse keyword overrides that name no `StoreConfig` field."""
    unknown = set(overrides) - names
    if unknown:
        raise ConfigError(
            f"unknown store setting(s): {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(names))}"
        )


def _aws_layer(env: Mapping[str, str]) -> dict[str, object]:
    """Return the fields the standard ``AWS_*`` variables set (precedence layer 3)."""
    aws: dict[str, object] = {}
    endpoint = (
        env.get("AWS_ENDPOINT_URL_S3")
        or env.get("AWS_ENDPOINT_URL")
        or env.get("AWS_ENDPOINT_OVERRIDE")
    )
    if endpoint:
        aws["endpoint_url"] = endpoint
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        aws["region"] = region
    for field_name, var in (
        ("profile", "AWS_PROFILE"),
        ("ca_bundle", "AWS_CA_BUNDLE"),
        ("access_key", "AWS_ACCESS_KEY_ID"),
        ("secret_key", "AWS_SECRET_ACCESS_KEY"),
        ("session_token", "AWS_SESSION_TOKEN"),
    ):
        if env.get(var):
            aws[field_name] = env[var]
    return aws


def _objlog_layer(
    env: Mapping[str, str], names: set[str], default_bucket: str | None, *, url_given: bool
) -> dict[str, object]:
    """
    Return the fields the ``OBJLOG_*`` variables set (precedence layer 2).

    ``OBJLOG_STORE`` counts only when no URL was given explicitly.
    """
    objlog: dict[str, object] = {}
    for name in sorted(names):
        var = f"OBJLOG_{name.upper()}"
        if var in env and env[var] != "":
            objlog[name] = _coerce(name, env[var], var)
    env_url = env.get("OBJLOG_STORE") or None
    if env_url is not None and not url_given:
        try:
            objlog.update(parse_store_url(env_url, default_bucket=default_bucket))
        except ConfigError as exc:
            raise ConfigError(f"OBJLOG_STORE: {exc}") from None
    return objlog


def _merge_layers(
    *layers: tuple[dict[str, object], str],
) -> tuple[dict[str, object], str]:
    """
    Merge `layers` (lowest precedence first); credentials come as one group.

    Returns:
        ``(merged, source)``: `source` labels the layer the credentials came
        from ("" when none set any).
    """
    merged: dict[str, object] = {}
    source = ""
    for layer, label in layers:
        if any(k in layer for k in _SECRET_FIELDS):
            for k in _SECRET_FIELDS:
                merged.pop(k, None)
            source = label
        merged.update(layer)
    return merged, source


def _settle_location(
    merged: dict[str, object], explicit: Mapping[str, object], env: Mapping[str, str]
) -> None:
    """Fill in ``kind`` (and the default directory); drop the fields the kind does not use."""
    # The location (kind, bucket, prefix, directory) comes from one URL only.
    if "kind" not in merged:
        if "bucket" in merged:
            merged["kind"] = "s3"
        else:
            merged["kind"] = "file"
            merged.setdefault("directory", str(default_store_dir(env)))
    if merged["kind"] != "file":
        merged.pop("directory", None)
        return
    merged.pop("bucket", None)
    # S3 settings from the environment do not concern a local store: a stray
    # AWS_CA_BUNDLE or half a key pair must not break the embedded default.
    for name in _S3_ONLY_FIELDS:
        if name not in explicit:
            merged.pop(name, None)
    if isinstance(merged.get("directory"), str):
        directory = Path(cast(str, merged["directory"])).expanduser().absolute()
        merged["directory"] = str(directory)


def _check_credential_pair(merged: Mapping[str, object], source: str) -> None:
    """Refuse an access key without its secret (or the reverse) from the layer `source`."""
    if source and ("access_key" in merged) != ("secret_key" in merged):
        given, missing = (
            ("access_key", "secret_key") if "access_key" in merged else ("secret_key", "access_key")
        )
        raise ConfigError(
            f"{source} set {given} but not {missing}; credentials are taken as a "
            "pair from one place (never one from here and one from there), so set "
            "both there"
        )


def store_layout(
    store: object = None,
    layout: str | _layout.Layout | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> _layout.Layout:
    """
    Return the key layout of a store's log batches.

    Precedence: `layout` given explicitly; else the store's own: a
    `StoreConfig`'s ``layout``, the ``?layout=`` of a store URL, or the
    ``config`` of a store object built from one (the S3 stores); else
    ``OBJLOG_LAYOUT``; else ``kfp`` (`objlog._layout.DEFAULT_LAYOUT`).
    A store object without a config (`LocalStore`, `MemoryStore`) has no
    layout of its own: pass `layout` or set ``OBJLOG_LAYOUT``.

    Args:
        store: A `StoreConfig`, a store URL, None (``OBJLOG_STORE``, else
            the embedded default) or a store object.
        layout: ``"kfp"``, ``"hive"``, a template or a `Layout`; None
            (default) for the store's.
        environ: Variables to read instead of `os.environ` (tests).

    Returns:
        The parsed `objlog._layout.Layout`.

    Raises:
        ConfigError: A malformed layout or store URL, named with where it came from.

    Thread safety: reads the environment only; safe from any thread.
    """
    if layout is not None:
        return _layout.parse_layout(layout)
    env = os.environ if environ is None else environ
    if store is None or isinstance(store, str):
        store = StoreConfig.resolve(store, environ=env)
    config = store if isinstance(store, StoreConfig) else getattr(store, "config", None)
    if isinstance(config, StoreConfig) and config.layout is not None:
        return _layout.parse_layout(config.layout)
    text = env.get("OBJLOG_LAYOUT", "").strip()
    if not text:
        return _layout.parse_layout(None)
    try:
        return _layout.parse_layout(text)
    except ConfigError as exc:
        raise ConfigError(f"OBJLOG_LAYOUT: {exc}") from None
