#!/usr/bin/env bash
# Set up .venv (if needed) with objlog and its test dependencies, then run the
# test suite. The S3 server the tests talk to (moto in server mode, on
# 127.0.0.1 and a free port) is started by the pytest session fixture itself.
# Extra arguments go to pytest, e.g. scripts/test.sh -k writer -x
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
# The distribution was called objlog before it became objlog-s3 (the name
# objlog is taken on PyPI): a .venv made before then holds both, with one
# package directory, so the old one goes first.
if .venv/bin/python -m pip show -q objlog >/dev/null 2>&1; then
  .venv/bin/python -m pip uninstall -q -y objlog >/dev/null
fi
# pip is quiet when everything is already installed; warnings go to a log.
.venv/bin/python -m pip install -q -e '.[test]' >.venv/pip-test.log 2>&1 \
  || { tail -20 .venv/pip-test.log >&2; exit 1; }
exec .venv/bin/python -m pytest "$@"
