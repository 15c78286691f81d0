#!/usr/bin/env bash
# Set up (venv + install with test extras) and run accord's whole test suite:
# lint, type check, then pytest (unit, differential, integration, packaging).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy (strict on core)"; .venv/bin/mypy core cli
echo "== pytest"; .venv/bin/pytest "$@"
