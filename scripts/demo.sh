#!/usr/bin/env bash
# The main job on the embedded default store: set up .venv (if needed) with
# objlog and scikit-learn, then run examples/pipeline_step.py through
# `objlog run`, read its logs back with `objlog cat` and fetch a result with
# `objlog result get`. Set OBJLOG_STORE=s3://bucket to use S3 instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q -e '.[demo]' >.venv/pip-demo.log 2>&1 \
  || { tail -20 .venv/pip-demo.log >&2; exit 1; }
exec .venv/bin/python examples/main_job.py "$@"
