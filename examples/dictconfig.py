"""
Configure the objlog handler with `logging.config.dictConfig` (plain keyword values).

Run::

    python examples/dictconfig.py                               # embedded local store
    OBJLOG_STORE=s3://my-bucket/team python examples/dictconfig.py

The same dict can live in YAML or JSON. Every key of a handler besides
``class``, ``level``, ``formatter`` and ``filters`` goes to
`objlog.stdlib.ObjectStoreHandler`: ``store`` (a URL; omit it to use
``OBJLOG_STORE`` or the embedded default), ``pipelinerun``, ``task``,
``flush_timeout`` and writer options such as ``max_size_bytes``, ``max_age``,
``compression`` and ``spool_dir``.
"""

from __future__ import annotations

import logging
import logging.config
import os

CONFIG: dict[str, object] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"console": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "console"},
        "bucket": {
            "class": "objlog.stdlib.ObjectStoreHandler",
            "level": "INFO",
            "pipelinerun": "example-run",
            "task": "dictconfig",
            "max_age": 5.0,
            "max_size_bytes": 8 * 1024 * 1024,
            "compression": "gzip",
            "flush_timeout": 10.0,
        },
    },
    "root": {"level": "DEBUG", "handlers": ["console", "bucket"]},
}


def main() -> None:
    """Apply the config, log, and shut logging down (which stores the rest)."""
    store = os.environ.get("OBJLOG_STORE")
    if store:
        CONFIG["handlers"]["bucket"]["store"] = store  # type: ignore[index]
    logging.config.dictConfig(CONFIG)
    log = logging.getLogger("example.dictconfig")
    log.debug("only on the console: the bucket handler is at INFO")
    log.info("configured from a dict", extra={"source": "dictConfig"})
    log.warning("disk almost full", extra={"free_bytes": 1_234_567})
    logging.shutdown()
    print("read with: objlog cat example-run dictconfig")


if __name__ == "__main__":
    main()
