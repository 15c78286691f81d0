#!/usr/bin/env bash
# Check accord's import contracts (.importlinter) with the venv's import-linter.
# The installed namespace maps several folders into `accord` (pyproject's package-dir:
# cli/ -> accord, core/ -> accord.core, ...), which import-linter's graph builder cannot
# follow through the editable install, so this builds a symlinked `accord/` package in a
# temporary folder from that mapping and puts it first on PYTHONPATH.
# Usage: scripts/lint_imports.sh [lint-imports options, e.g. --verbose]
# ACCORD_IMPORTLINTER_CONFIG=path checks another contracts file (tests use it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${ACCORD_VENV:-$ROOT/.venv}
CONFIG=${ACCORD_IMPORTLINTER_CONFIG:-$ROOT/.importlinter}
[ -f "$CONFIG" ] || { echo "lint_imports.sh: contracts file $CONFIG not found; expected .importlinter at the repository root" >&2; exit 2; }
[ -x "$VENV/bin/lint-imports" ] || {
    echo "lint_imports.sh: $VENV/bin/lint-imports not found; install the test extra: $VENV/bin/pip install -e '.[test]'" >&2
    exit 2
}
TREE=$(mktemp -d "${TMPDIR:-/tmp}/accord-imports.XXXXXX")
trap 'rm -rf "$TREE"' EXIT
"$VENV/bin/python" - "$ROOT" "$TREE" <<'PY'
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the backport core depends on there
    import tomli as tomllib
from pathlib import Path

root, tree = Path(sys.argv[1]), Path(sys.argv[2])
dirs = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-dir"]
# parents before children, so accord/ exists before accord/core is linked into it
for name, folder in sorted(dirs.items(), key=lambda kv: kv[0].count(".")):
    target = tree.joinpath(*name.split("."))
    src = root / folder
    if not (src / "__init__.py").is_file():
        sys.exit(f"lint_imports.sh: package-dir maps {name} to {folder}/, which has no __init__.py")
    if "." not in name:  # the root package: a real folder holding links to the files of cli/
        target.mkdir(parents=True)
        for entry in src.iterdir():
            if entry.name != "__pycache__" and not (target / entry.name).exists():
                (target / entry.name).symlink_to(entry)
    else:
        if target.is_symlink() or target.exists():
            target.unlink()  # a same-named entry of the parent folder loses to package-dir
        target.symlink_to(src, target_is_directory=True)
PY
PYTHONPATH="$TREE${PYTHONPATH:+:$PYTHONPATH}" "$VENV/bin/lint-imports" --no-cache --no-logo "$@" "$CONFIG"
