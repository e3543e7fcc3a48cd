"""
Ship stdlib `logging` records to the object store as JSON Lines.

Run::

    python examples/logging_handler.py                          # embedded local store
    OBJLOG_STORE=s3://my-bucket/team python examples/logging_handler.py

then read the records back in order::

    objlog cat example-run logging-handler          # add --store URL if not the default

The handler never blocks the program on the network: records are batched
and uploaded by objlog's own thread; `logging.shutdown()` (run at exit)
stores what is left, waiting at most `flush_timeout` seconds.
"""

from __future__ import annotations

import logging

from objlog.stdlib import ObjectStoreHandler


def main() -> None:
    """Log a few records, one with extras and one with a traceback."""
    handler = ObjectStoreHandler(
        pipelinerun="example-run",
        task="logging-handler",
        max_age=2.0,  # seal a batch at least every 2 s
        flush_timeout=10.0,
    )
    logging.basicConfig(level=logging.INFO, handlers=[logging.StreamHandler(), handler])
    log = logging.getLogger("example")

    log.info("training started", extra={"epochs": 3, "learning_rate": 0.01})
    for epoch in range(3):
        log.info("epoch %d done", epoch, extra={"epoch": epoch, "loss": 1.0 / (epoch + 1)})
    try:
        1 / 0  # noqa: B018 - an error to log
    except ZeroDivisionError:
        log.exception("evaluation failed")

    logging.shutdown()  # also runs at exit; explicit here to print where records went
    print(
        f"stored under {handler.writer.prefix!r}; read with: objlog cat example-run logging-handler"
    )


if __name__ == "__main__":
    main()
