#!/usr/bin/env bash
# Create (once) a separate virtual environment with a Label Studio server for the
# integration tests (tests/test_label_studio_live.py). Idempotent: does nothing when the
# venv already has the wanted version. Prints the path of the label-studio executable.
#
#   ACCORD_LS_VENV     where to put it (default: /opt/accord-ls-venv if writable,
#                      else $HOME/.cache/accord/ls-venv)
#   ACCORD_LS_VERSION  the Label Studio version (default: 1.23.2)
#   PYTHON             the interpreter to build the venv with (default: python3)
#
# The tests find it at those default paths, or via ACCORD_LS_BIN=<venv>/bin/label-studio.
set -euo pipefail

version="${ACCORD_LS_VERSION:-1.23.2}"
python="${PYTHON:-python3}"
if [[ -n "${ACCORD_LS_VENV:-}" ]]; then
    venv="$ACCORD_LS_VENV"
elif [[ -w /opt || -d /opt/accord-ls-venv ]]; then
    venv=/opt/accord-ls-venv
else
    venv="$HOME/.cache/accord/ls-venv"
fi

have="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("label-studio"))' 2>/dev/null || true)"
if [[ "$have" == "$version" && -x "$venv/bin/label-studio" ]]; then
    echo "$venv/bin/label-studio"
    exit 0
fi

mkdir -p "$(dirname "$venv")"
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv" >&2
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet "label-studio==$version" >&2
echo "$venv/bin/label-studio"
