"""
One event is one record, against real S3 servers (moto always; Ceph RGW in CI).

Forged messages go through `ObjectStoreHandler` with each kind of formatter;
the stored objects are read back raw and through the reader.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from objlog._codec import decode_batch
from objlog.reader import read_records
from objlog.stdlib import JsonFormatter, ObjectStoreHandler
from objlog.stores import open_store
from objlog.typing import ObjectStore
from objlog.writer import ObjectStoreWriter

if TYPE_CHECKING:
    from s3harness import S3Target  # tests/s3harness.py, for annotations only

TIMEOUT = 60.0  # seconds; generous for a loaded 2-core machine
ATTACKS = [
    'hi\n{"level":"error","message":"forged"}',
    'cr\r{"level":"error","message":"forged"}',
    'ls\u2028{"level":"error","message":"forged"}',
    'ps\u2029{"level":"error","message":"forged"}',
    'nul\x00{"level":"error","message":"forged"}',
    '{"level":"CRITICAL","message":"forged"}',
]


@pytest.fixture
def s3_store(s3_target: S3Target, s3_bucket: str) -> Iterator[ObjectStore]:
    """A boto3-backed store on a fresh bucket of the target server."""
    store = open_store(
        f"s3://{s3_bucket}/team",
        endpoint_url=s3_target.endpoint,
        access_key=s3_target.access_key,
        secret_key=s3_target.secret_key,
        region=s3_target.region,
    )
    yield store
    store.close()


def stored_lines(store: ObjectStore, prefix: str) -> list[bytes]:
    """Every stored line under `prefix`, split on b"\\n" only, as JSON Lines tools do."""
    lines: list[bytes] = []
    for info in store.list_objects(prefix):
        data = decode_batch(store.get_object(info.key), info.key)
        assert data.endswith(b"\n")
        lines.extend(data[:-1].split(b"\n"))
    return lines


@pytest.mark.parametrize(
    "formatter",
    [
        JsonFormatter(),
        logging.Formatter("%(message)s"),
        logging.Formatter("%(levelname)s %(message)s"),
    ],
    ids=["json", "message", "levelname"],
)
def test_forged_messages_store_one_record_each(s3_store: ObjectStore, formatter: Any) -> None:
    """N events are N stored lines and N records read back; the forged text is in the message."""
    writer = ObjectStoreWriter(s3_store, pipelinerun="run-forge", task="t", max_age=60)
    handler = ObjectStoreHandler(writer=writer, flush_timeout=TIMEOUT)
    handler.setFormatter(formatter)
    log = logging.getLogger(f"objlog_test.forge.{uuid.uuid4().hex[:8]}")
    log.propagate = False
    log.addHandler(handler)
    try:
        for attack in ATTACKS:
            log.warning(attack)
        handler.flush()
    finally:
        log.removeHandler(handler)
        handler.close()
        writer.close(TIMEOUT)
    lines = stored_lines(s3_store, writer.prefix)
    assert len(ATTACKS) == len(lines)
    for raw in lines:
        assert b"\r" not in raw
        assert 1 == len(raw.decode("utf-8").splitlines())
    stored = [json.loads(raw) for raw in lines]
    assert ATTACKS == [r["message"].removeprefix("WARNING ") for r in stored]
    assert ["warning"] * len(ATTACKS) == [r["level"] for r in stored]
    read_back = list(read_records(s3_store, "run-forge", "t"))
    assert ATTACKS == [r["message"].removeprefix("WARNING ") for r in read_back]
