"""
Every Python block of README.md runs as written against the test S3 server.

Each ```` ```python ```` block is run alone, in a fresh interpreter and an
empty working directory, with the environment the README tells a reader to
set: ``OBJLOG_STORE`` naming a fresh bucket on the S3 server and the
``AWS_*`` variables pointing at it. A block passes when it exits 0 within
`TIMEOUT` seconds and stored at least one object in that bucket (every block
writes logs or results: one that stores nothing has failed quietly).

A block that cannot run here opts out with a marker comment as its FIRST
line, giving the reason, which the test reports as a skip::

    # not run: needs fastapi and a web server

Use it only for what the test machine cannot provide (a service, a package
objlog does not depend on); anything else is a README bug to fix.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import objlog

if TYPE_CHECKING:
    from s3harness import S3Target  # tests/s3harness.py, for annotations only

README = Path(__file__).resolve().parents[1] / "README.md"
# The objlog under test, for the child too (a relative PYTHONPATH breaks in another cwd).
SOURCE = str(Path(objlog.__file__).resolve().parents[1])
TIMEOUT = 120  # seconds for one block, on a loaded 2-core machine
#: The first line of a block the test does not run (with the reason after it).
OPT_OUT = "# not run:"

_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """Return ``(line number, code)`` of every ```python block of `text`."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _BLOCK.finditer(text)]


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_python_blocks() -> None:
    """The extraction finds the README's blocks (so a changed fence cannot skip them all)."""
    assert len(BLOCKS) >= 5
    assert all(code.strip() for _, code in BLOCKS)


def test_extraction_and_opt_out_marker() -> None:
    """Only python fences are taken, whole; a first-line marker is seen as such."""
    text = (
        "```sh\necho no\n```\n```python\n# not run: needs x\nimport x\n```\n```python\na = 1\n```\n"
    )
    assert [(4, "# not run: needs x\nimport x\n"), (8, "a = 1\n")] == python_blocks(text)
    assert python_blocks(text)[0][1].startswith(OPT_OUT)


def _objects(target: S3Target, bucket: str) -> list[str]:
    client = target.boto3_client()  # type: ignore[no-untyped-call]
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


@pytest.mark.process
@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{n}" for n, _ in BLOCKS])
def test_readme_block_runs_as_written(
    line: int, code: str, s3_target: S3Target, s3_bucket: str, tmp_path: Path
) -> None:
    """The block exits 0 with OBJLOG_STORE on a fresh bucket, and stores something there."""
    first = code.lstrip().splitlines()[0]
    if first.startswith(OPT_OUT):
        pytest.skip(f"README.md:{line}: {first[len(OPT_OUT) :].strip()}")
    script = tmp_path / f"readme_{line}.py"
    script.write_text(code, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    env = {
        **os.environ,
        **s3_target.env(),
        "OBJLOG_STORE": f"s3://{s3_bucket}/team",
        "OBJLOG_HOME": str(tmp_path / "home"),
        "HOME": str(tmp_path / "home"),
        "PYTHONPATH": os.pathsep.join([SOURCE, *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert 0 == done.returncode, f"README.md:{line} failed:\n{done.stderr}"
    assert _objects(s3_target, s3_bucket), f"README.md:{line} stored nothing:\n{done.stderr}"
