"""
One event is one record through the structlog sinks, against real S3 servers
(moto always; Ceph RGW in CI), whatever renderer or serializer is configured.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest
import structlog

from objlog._codec import decode_batch
from objlog.reader import read_records
from objlog.stores import open_store
from objlog.structlog import ObjectStoreLoggerFactory, ObjectStoreProcessor
from objlog.typing import ObjectStore
from objlog.writer import ObjectStoreWriter

if TYPE_CHECKING:
    from s3harness import S3Target  # tests/s3harness.py, for annotations only

TIMEOUT = 60.0  # seconds; generous for a loaded 2-core machine
ATTACKS = [
    'hi\n{"level":"error","event":"forged"}',
    'cr\r{"level":"error","event":"forged"}',
    'ls\u2028{"level":"error","event":"forged"}',
    'ps\u2029{"level":"error","event":"forged"}',
    'nul\x00{"level":"error","event":"forged"}',
]


@pytest.fixture(autouse=True)
def reset_structlog() -> Iterator[None]:
    """Give every test structlog's default configuration back."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def s3_store(s3_target: S3Target, s3_bucket: str) -> Iterator[ObjectStore]:
    """A boto3-backed store on a fresh bucket of the target server."""
    store = open_store(
        f"s3://{s3_bucket}",
        endpoint_url=s3_target.endpoint,
        access_key=s3_target.access_key,
        secret_key=s3_target.secret_key,
        region=s3_target.region,
    )
    yield store
    store.close()


@pytest.fixture
def writer(s3_store: ObjectStore) -> Iterator[ObjectStoreWriter]:
    """A writer on the S3 store; closed after the test."""
    made = ObjectStoreWriter(s3_store, pipelinerun="run-forge", task="t", max_age=60)
    yield made
    made.close(TIMEOUT)


def stored_records(store: ObjectStore, writer: ObjectStoreWriter) -> list[dict[str, Any]]:
    """Sync `writer`; every stored line under its prefix (split on b"\\n" only), decoded."""
    writer.sync(TIMEOUT)
    lines: list[bytes] = []
    for info in store.list_objects(writer.prefix):
        data = decode_batch(store.get_object(info.key), info.key)
        assert data.endswith(b"\n")
        lines.extend(data[:-1].split(b"\n"))
    for raw in lines:
        assert b"\r" not in raw
        assert 1 == len(raw.decode("utf-8").splitlines())
    return [json.loads(raw) for raw in lines]


def _log_attacks() -> None:
    log = structlog.get_logger()
    for attack in ATTACKS:
        log.warning(attack, detail=attack)


RENDERERS: dict[str, Callable[[], Any]] = {
    "json": lambda: structlog.processors.JSONRenderer(),
    "json-raw-unicode": lambda: structlog.processors.JSONRenderer(ensure_ascii=False),
    "console": lambda: structlog.dev.ConsoleRenderer(colors=False),
    "keyvalue": lambda: structlog.processors.KeyValueRenderer(key_order=["event"]),
}


@pytest.mark.parametrize("renderer", list(RENDERERS))
def test_logger_factory_stores_one_record_per_event(
    s3_store: ObjectStore, writer: ObjectStoreWriter, renderer: str
) -> None:
    """Through ObjectStoreLoggerFactory: N events, N lines, the forged text inside each."""
    structlog.configure(
        processors=[structlog.processors.add_log_level, RENDERERS[renderer]()],
        logger_factory=ObjectStoreLoggerFactory(writer),
    )
    _log_attacks()
    records = stored_records(s3_store, writer)
    assert len(ATTACKS) == len(records)
    for attack, record in zip(ATTACKS, records, strict=True):
        text = record.get("event", record.get("message"))
        assert isinstance(text, str)
        assert attack in text or repr(attack)[1:-1] in text  # key=value renders repr()
        assert "warning" == record["level"]
    assert len(ATTACKS) == len(list(read_records(s3_store, "run-forge", "t")))


def _text_serializer(fields: Mapping[str, object]) -> str:
    return " ".join(f"{k}={v}" for k, v in fields.items())


@pytest.mark.parametrize("serializer", [None, _text_serializer], ids=["default", "text"])
def test_processor_stores_one_record_per_event(
    s3_store: ObjectStore, writer: ObjectStoreWriter, serializer: Any
) -> None:
    """Through ObjectStoreProcessor (default or text serializer): N events, N records."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            ObjectStoreProcessor(writer, serializer=serializer),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.ReturnLoggerFactory(),
    )
    _log_attacks()
    records = stored_records(s3_store, writer)
    assert len(ATTACKS) == len(records)
    for attack, record in zip(ATTACKS, records, strict=True):
        if serializer is None:
            assert (attack, attack) == (record["event"], record["detail"])
        else:
            assert f"event={attack}" in record["message"]
        assert "warning" == record["level"]
