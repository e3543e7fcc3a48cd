"""
Key layout: where logs and results live in a bucket. Pure functions.

Layout (``PREFIX`` is the store URL's prefix, omitted when empty)::

    [PREFIX/]logs/<pipelinerun>/<task>/<batch object>      log batches (the writer)
    [PREFIX/]artifacts/<pipelinerun>/<task>/<name>.tgz     results (KFP-on-Tekton contract)

The ``artifacts/<pipelinerun>/<task>/<name>.tgz`` form is the one Kubeflow
Pipelines on Tekton reads (kfp-tekton ``metadata_writer.py``,
``FindObjectStoreArtifactKeyOrEmpty``).
"""

from __future__ import annotations

import re

from objlog.errors import ConfigError

__all__ = [
    "LOGS",
    "ARTIFACTS",
    "artifact_key",
    "artifacts_prefix",
    "join_key",
    "logs_prefix",
    "validate_segment",
]

LOGS = "logs"
ARTIFACTS = "artifacts"

# Control characters (C0, DEL, C1) are refused: they break listings and terminals.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# S3 allows 1024 bytes per key; one segment may use at most a quarter of it.
MAX_SEGMENT_BYTES = 256


def validate_segment(value: str, what: str) -> str:
    """
    Check that `value` can be one segment of a key and return it.

    Args:
        value: A pipelinerun, task or result name.
        what: What it is, for the message (e.g. ``"pipelinerun"``).

    Returns:
        `value` unchanged.

    Raises:
        ConfigError: (a ValueError) empty, ``.`` or ``..``, contains ``/`` or a
            control character, or longer than 256 UTF-8 bytes.
    """
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a string, got {type(value).__name__}")
    if not value:
        raise ConfigError(f"{what} must not be empty")
    if value in {".", ".."}:
        raise ConfigError(f"{what} must not be {value!r}")
    if "/" in value or "\\" in value:
        raise ConfigError(f"{what} {value!r} must not contain '/' or '\\' (it is one key segment)")
    if _CONTROL.search(value):
        raise ConfigError(f"{what} {value!r} must not contain control characters")
    if len(value.encode("utf-8")) > MAX_SEGMENT_BYTES:
        raise ConfigError(f"{what} must be at most {MAX_SEGMENT_BYTES} bytes in UTF-8")
    return value


def join_key(*parts: str) -> str:
    """
    Join key parts with ``/``, collapsing doubled slashes and dropping edge slashes.
    """
    return "/".join(seg for part in parts for seg in part.split("/") if seg)


def _area_prefix(prefix: str, area: str, pipelinerun: str | None, task: str | None) -> str:
    parts = [prefix, area]
    if pipelinerun is not None:
        parts.append(validate_segment(pipelinerun, "pipelinerun"))
        if task is not None:
            parts.append(validate_segment(task, "task"))
    elif task is not None:
        raise ConfigError("a task needs its pipelinerun")
    return join_key(*parts) + "/"


def logs_prefix(prefix: str, pipelinerun: str | None = None, task: str | None = None) -> str:
    """
    Return ``[PREFIX/]logs/[<pipelinerun>/[<task>/]]``, always ending in ``/``.

    Raises:
        ConfigError: A name fails `validate_segment`, or a task without pipelinerun.
    """
    return _area_prefix(prefix, LOGS, pipelinerun, task)


def artifacts_prefix(prefix: str, pipelinerun: str | None = None, task: str | None = None) -> str:
    """
    Return ``[PREFIX/]artifacts/[<pipelinerun>/[<task>/]]``, always ending in ``/``.

    Raises:
        ConfigError: A name fails `validate_segment`, or a task without pipelinerun.
    """
    return _area_prefix(prefix, ARTIFACTS, pipelinerun, task)


def artifact_key(prefix: str, pipelinerun: str, task: str, name: str) -> str:
    """
    Return ``[PREFIX/]artifacts/<pipelinerun>/<task>/<name>.tgz`` (KFP-on-Tekton contract).

    Raises:
        ConfigError: A name fails `validate_segment`.
    """
    validate_segment(name, "result name")
    return artifacts_prefix(prefix, pipelinerun, task) + f"{name}.tgz"
