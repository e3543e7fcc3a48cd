"""
Real S3 servers for the tests and the benchmarks: moto in server mode, an S3 client.

A module of its own (not conftest.py) so test files in any folder can import
it by a name no other conftest shadows, and the benchmarks (run from the
repository root) as ``tests.s3harness``: one starter for both.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MotoServer", "S3Target", "boto3_client", "free_port"]


@dataclass(frozen=True)
class S3Target:
    """One S3 endpoint the tests may use, with its credentials."""

    name: str
    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """Return the AWS_* variables that point an SDK (or a child process) here."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
        }

    def boto3_client(self) -> Any:
        """Return a plain boto3 client for test set-up and independent checks."""
        return boto3_client(self.endpoint, self.access_key, self.secret_key, self.region)


def boto3_client(
    endpoint: str, access_key: str, secret_key: str, region: str, **config: Any
) -> Any:
    """
    Return a plain boto3 S3 client for S3-compatible servers (not objlog's store).

    Path-style addressing and checksums only when required, as moto, Ceph RGW
    and MinIO want them; `config` adds botocore ``Config`` options (e.g.
    ``max_pool_connections``, ``retries``).
    """
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            **config,
        ),
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """moto in server mode as a child process on 127.0.0.1 and a free port; log in `log_dir`."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._log = (log_dir / "moto.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MOTO_CALL_RESET_API": "false"},
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                # S310: the URL is our own loopback http endpoint
                with urllib.request.urlopen(self.endpoint + "/", timeout=2):  # noqa: S310
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto did not start; see {log_dir / 'moto.log'}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Terminate the server (if it still runs) and wait for it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
