"""
Send structlog events to the object store: as a tee processor, or as the final logger.

Run::

    python examples/structlog_sink.py                           # embedded local store
    OBJLOG_STORE=s3://my-bucket/team python examples/structlog_sink.py

Two recipes, each writing one JSON line per event:

1. `ObjectStoreProcessor` tees the event dict to the store and passes it on,
   so the console renderer still prints it (task ``structlog-tee``);
2. `ObjectStoreLoggerFactory` makes objlog the final sink after
   `JSONRenderer`, like structlog's `BytesLoggerFactory` (task
   ``structlog-sink``).

The caller owns the writers: close them (or use ``with``) to store the rest.
"""

from __future__ import annotations

import structlog

from objlog.structlog import ObjectStoreLoggerFactory, ObjectStoreProcessor
from objlog.writer import ObjectStoreWriter


def tee_recipe() -> None:
    """Console output plus a copy of every event in the store."""
    with ObjectStoreWriter(pipelinerun="example-run", task="structlog-tee") as writer:
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
                ObjectStoreProcessor(writer),
                structlog.dev.ConsoleRenderer(colors=False),
            ],
        )
        log = structlog.get_logger().bind(model="digits")
        log.info("training started", epochs=3)
        log.warning("slow epoch", epoch=2, seconds=12.5)


def sink_recipe() -> None:
    """The store as the only output, after JSONRenderer."""
    with ObjectStoreWriter(pipelinerun="example-run", task="structlog-sink") as writer:
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.dict_tracebacks,
                structlog.processors.JSONRenderer(),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(20),  # INFO and up
            logger_factory=ObjectStoreLoggerFactory(writer),
        )
        log = structlog.get_logger()
        log.debug("dropped by the filtering bound logger")
        log.info("model saved", path="model.pkl", size_bytes=52_311)
        try:
            {}["missing"]
        except KeyError:
            log.exception("lookup failed")


def main() -> None:
    """Run both recipes and say how to read them back."""
    tee_recipe()
    sink_recipe()
    structlog.reset_defaults()
    print("read with: objlog cat example-run structlog-tee / structlog-sink")


if __name__ == "__main__":
    main()
