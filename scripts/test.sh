#!/usr/bin/env bash
# Set up and run accord's whole test suite: lint, strict type check on core, then pytest
# (unit, differential, integration against a real Label Studio, packaging), then the
# FiftyOne plugin's tests in FiftyOne's own venv (its starlette pin clashes with fastapi's).
# Integration tests need a Label Studio venv (scripts/install_label_studio.sh; found via
# ACCORD_LS_BIN or its default path) and chromium; locally they skip without them, in CI
# (CI=true) they fail.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy (strict on core)"; .venv/bin/mypy core cli
echo "== import contracts (.importlinter)"; ./scripts/lint_imports.sh
echo "== pytest"; .venv/bin/pytest --ignore=tests/test_fiftyone_plugin.py --ignore=tests/test_fiftyone_consensus.py "$@"
echo "== FiftyOne plugin (own venv, headless App test included)"; ./scripts/install_fiftyone.sh
