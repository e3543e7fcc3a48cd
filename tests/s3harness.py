"""
Real S3 servers for the tests: the endpoint description and moto in server mode.

A module of its own (not conftest.py) so test files in any folder can import
it by a name no other conftest shadows.
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

__all__ = ["MotoServer", "S3Target", "free_port"]


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

    def boto3_client(self):  # type: ignore[no-untyped-def]
        """Return a plain boto3 client for test set-up and independent checks."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """moto in server mode as a child process on 127.0.0.1."""

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
                    raise RuntimeError(f"moto did not start; see {log_dir / 'moto.log'}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Terminate the server and wait for it."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
