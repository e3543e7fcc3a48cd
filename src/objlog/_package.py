"""
The distribution objlog ships as: its name on the package index, its version, its extras.

The import package and the console script are ``objlog``; the distribution is
``objlog-s3``, because ``objlog`` on PyPI is an unrelated project. The version
is written once, in ``pyproject.toml``, and read from the installed
distribution's metadata at run time.
"""

from __future__ import annotations

from importlib import metadata

__all__ = ["DISTRIBUTION", "UNKNOWN_VERSION", "install_hint", "installed_version"]

#: The distribution's name on PyPI (``pip install objlog-s3``).
DISTRIBUTION = "objlog-s3"

#: The version reported when objlog runs from a source tree that is not installed.
UNKNOWN_VERSION = "0+unknown"


def installed_version() -> str:
    """
    Return the installed distribution's version, as written in ``pyproject.toml``.

    Returns:
        A PEP 440 version string, or `UNKNOWN_VERSION` when the code runs from a
        source tree without an installed ``objlog-s3`` distribution.

    Thread safety: reads installed metadata only; safe from any thread.
    """
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return UNKNOWN_VERSION


def install_hint(extra: str) -> str:
    """
    Return the command that installs an optional part, e.g. ``pip install 'objlog-s3[s3]'``.

    Args:
        extra: The extra's name in ``pyproject.toml`` (``s3``, ``minio``,
            ``structlog``, ``progress``, ``metrics``, ``otel``, ``all``).

    Returns:
        A shell command, quoted so that zsh does not expand the brackets.

    Thread safety: pure; safe from any thread.
    """
    return f"pip install '{DISTRIBUTION}[{extra}]'"
